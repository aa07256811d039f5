#!/usr/bin/env bash
# The checks that hold the structure, before any test runs (scripts/test.sh calls this):
#  - lint-imports: the layers and no cycles inside an app (pyproject.toml [tool.importlinter]);
#  - ruff: the rule set and the formatting (pyproject.toml [tool.ruff]);
#  - mypy with django-stubs on the apps (pyproject.toml [tool.mypy]);
#  - every `type: ignore` names its code and says why (scripts/check_type_ignores.py).
set -euo pipefail
cd "$(dirname "$0")/.."
echo "==> lint-imports"
.venv/bin/lint-imports --no-cache
echo "==> ruff check"
.venv/bin/ruff check .
echo "==> ruff format --check"
.venv/bin/ruff format --check .
echo "==> type: ignore reasons"
.venv/bin/python scripts/check_type_ignores.py
echo "==> mypy"
# django-stubs reads the settings, which need a database URL; no database is opened.
DATABASE_URL="${DATABASE_URL:-sqlite:///$(mktemp -d)/mypy.sqlite3}" .venv/bin/mypy
