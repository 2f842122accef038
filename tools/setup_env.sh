#!/usr/bin/env bash
# Create .venv (if missing) and install the pinned stack + this package.
# Idempotent: a second run only checks that everything is installed.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
# torch is pinned in requirements.txt (2.13.0, the CPU wheel on CPU
# machines); never let an unpinned torch pull a CUDA build.
.venv/bin/python -m pip install -q -r requirements.txt
.venv/bin/python -m pip install -q --no-deps --no-build-isolation -e .
