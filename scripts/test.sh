#!/usr/bin/env bash
# The test suite in two lanes, side by side (TEST_LANES picks them, default
# "postgres sqlite"; pytest arguments go to each lane):
#  - postgres: the whole suite on PostgreSQL and Redis. It refuses to run without
#    them: there is no fallback to SQLite or an in-memory broker in this lane.
#  - sqlite: the demo's own setup (a fresh SQLite file, kombu's filesystem broker,
#    the file cache), so a query that only PostgreSQL accepts fails here before a
#    demo user meets it. It leaves out the tests marked `postgres` (triggers, COPY,
#    pg-only SQL) and `integration` (a real worker on Redis), and also `browser`:
#    the browser tests click through pages that the client tests already request
#    on SQLite, and Chromium would add several minutes to a CI run that the
#    postgres lane already makes about ten minutes long.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh "[test]"
# The layers, the linters and the types hold before any test runs.
bash scripts/lint.sh
lanes="${TEST_LANES:-postgres sqlite}"

sqlite_lane() {
  local data_dir
  data_dir="$(mktemp -d)"
  echo "==> sqlite lane: $data_dir/test.sqlite3, filesystem broker, file cache"
  # A subshell, so the postgres lane's variables do not leak into this one.
  (
    unset CACHE_URL
    export DATABASE_URL="sqlite:///$data_dir/test.sqlite3"
    export CELERY_BROKER_URL="filesystem://"
    export DATA_DIR="$data_dir"
    .venv/bin/python -m pytest -m "not postgres and not integration and not browser" "$@"
  )
}

if [[ " $lanes " != *" postgres "* ]]; then
  sqlite_lane "$@"
  exit 0
fi

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
# The sqlite lane runs beside the postgres lane (its own database file, broker folder and
# cache, nothing shared): each waits on its database and its workers much of the time, so
# together they take little more than the postgres lane alone. Its output follows at the end.
failed=0
sqlite_pid=""
if [[ " $lanes " == *" sqlite "* ]]; then
  sqlite_log="$(mktemp)"
  echo "==> sqlite lane started beside the postgres lane (its output follows the postgres lane's)"
  sqlite_lane "$@" >"$sqlite_log" 2>&1 &
  sqlite_pid=$!
fi
echo "==> postgres lane: $DATABASE_URL"
# A failing lane does not stop the other, so one CI run reports both.
.venv/bin/python -m pytest "$@" || failed=1
if [[ -n "$sqlite_pid" ]]; then
  wait "$sqlite_pid" || failed=1
  cat "$sqlite_log"
  rm -f "$sqlite_log"
fi
exit "$failed"
