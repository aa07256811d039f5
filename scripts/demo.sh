#!/usr/bin/env bash
# The demo on embedded defaults: SQLite, kombu's filesystem broker, one Celery
# worker process (with beat embedded) beside the development server. Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh ""
export DATA_DIR="${DATA_DIR:-$PWD/var}"
PORT="${PORT:-8000}"
mkdir -p "$DATA_DIR"
# The OpenAI-compatible test server (deterministic, offline) stands in for a model
# server, so LLM runs can be defined and launched in the demo. It listens on
# loopback, which generator URLs may only reach with OUTBOUND_ALLOW_PRIVATE_HOSTS.
LLM_PORT="${LLM_PORT:-$((PORT + 99))}"
export DEMO_LLM_BASE_URL="http://127.0.0.1:$LLM_PORT/v1"
export OUTBOUND_ALLOW_PRIVATE_HOSTS=true
.venv/bin/python -m tests.llm_server --port "$LLM_PORT" --latency-ms 150 >"$DATA_DIR/llm-server.log" 2>&1 &
LLM_PID=$!
.venv/bin/python manage.py migrate --noinput -v0
.venv/bin/python manage.py seed_demo
# -B embeds Celery beat in the worker, so scheduled quality checks run with no extra
# server; its schedule file lives with the rest of the demo's state.
.venv/bin/celery -A synthreview worker -B -s "$DATA_DIR/celerybeat-schedule" --pool=solo --loglevel=INFO \
  >"$DATA_DIR/worker.log" 2>&1 &
WORKER_PID=$!
trap 'kill $WORKER_PID $LLM_PID 2>/dev/null || true' EXIT INT TERM
cat <<MSG

  synthreview demo: http://127.0.0.1:$PORT/p/demo/
  expert login: demo-expert / demo-expert-pass
  lead login:   demo-lead / demo-lead-pass
  admin login:  demo-admin / demo-admin-pass
  worker log:   $DATA_DIR/worker.log
  test LLM:     $DEMO_LLM_BASE_URL (generator "stub-llm"; try a run with generation/demo_data/topics.csv)
  exports:      as demo-lead, a training export is refused (arith-sloppy fails its audit);
                leave out arith-sloppy and it passes every gate (README: the demo)

MSG
.venv/bin/python manage.py runserver "127.0.0.1:$PORT"
