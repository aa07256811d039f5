#!/usr/bin/env bash
# Make .venv if there is none and install the project into it.
# torch goes first, pinned to the CPU build: installed later, as a dependency,
# pip would fetch gigabytes of CUDA packages.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null || PYTHON=python3
if [ ! -x .venv/bin/python ]; then
  echo "==> creating .venv with $PYTHON"
  "$PYTHON" -m venv .venv
fi
echo "==> installing torch==2.13.0 (CPU) and synthreview${1:-}"
.venv/bin/python -m pip install --quiet --disable-pip-version-check "torch==2.13.0"
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".${1:-}"
