#!/usr/bin/env bash
# The whole test suite on PostgreSQL and Redis. It refuses to run without them:
# there is no fallback to SQLite or an in-memory broker here.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh "[test]"

export DATABASE_URL="${TEST_DATABASE_URL:-postgresql://postgres@127.0.0.1:5432/synthreview}"
export CELERY_BROKER_URL="${TEST_CELERY_BROKER_URL:-redis://127.0.0.1:6379/14}"
export CACHE_URL="${TEST_CACHE_URL:-redis://127.0.0.1:6379/15}"
export DATA_DIR="${DATA_DIR:-$(mktemp -d)}"

.venv/bin/python scripts/require_services.py
.venv/bin/python -m pytest "$@"
