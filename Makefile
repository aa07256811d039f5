.PHONY: demo test lint
# Sets up .venv and runs the demo on SQLite with a filesystem broker and a worker.
demo:
	bash scripts/demo.sh
# Sets up .venv and runs the test suite on PostgreSQL and Redis, then on SQLite (scripts/test.sh).
test:
	bash scripts/test.sh
# The structure's checks alone: import layers, ruff, mypy (scripts/lint.sh; make test runs them first).
lint:
	bash scripts/lint.sh
