#!/usr/bin/env bash
# The demo on embedded defaults: SQLite, kombu's filesystem broker, one Celery
# worker process beside the development server. Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh ""
export DATA_DIR="${DATA_DIR:-$PWD/var}"
PORT="${PORT:-8000}"
mkdir -p "$DATA_DIR"
.venv/bin/python manage.py migrate --noinput -v0
.venv/bin/python manage.py seed_demo
.venv/bin/celery -A synthreview worker --pool=solo --loglevel=INFO >"$DATA_DIR/worker.log" 2>&1 &
WORKER_PID=$!
trap 'kill $WORKER_PID 2>/dev/null || true' EXIT INT TERM
cat <<MSG

  synthreview demo: http://127.0.0.1:$PORT/p/demo/
  expert login: demo-expert / demo-expert-pass
  lead login:   demo-lead / demo-lead-pass
  admin login:  demo-admin / demo-admin-pass
  worker log:   $DATA_DIR/worker.log

MSG
.venv/bin/python manage.py runserver "127.0.0.1:$PORT"
