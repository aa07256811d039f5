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
# The browser tests drive Debian's Chromium (Playwright cannot download browsers here).
if [ ! -x "${CHROMIUM_PATH:-/usr/bin/chromium}" ]; then
  echo "==> installing Debian's chromium for the browser tests"
  SUDO=""
  if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null || { echo "FATAL: chromium is missing and apt-get needs root: apt-get install chromium" >&2; exit 1; }
    SUDO=sudo
  fi
  $SUDO apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q chromium >/dev/null
fi
.venv/bin/python -m pytest "$@"
