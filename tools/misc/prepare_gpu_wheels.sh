#!/usr/bin/env bash
# Download the wheels of the mm stack for a GPU machine whose Python has
# torch but not mmengine / mmcv-lite / mmaction2 / decord, and no network:
#
#   bash tools/misc/prepare_gpu_wheels.sh [DIR] # default .whl, Python 3.12
#   PY_VERSION=3.11 bash tools/misc/prepare_gpu_wheels.sh
#
# There: python tools/misc/gpu_check.py --wheels DIR (installs them with
# --no-index --no-deps into OUT/site), or by hand:
#   pip install --no-index --no-deps --target /tmp/site DIR/*.whl
#   PYTHONPATH=/tmp/site:$PWD python ...
# importlib_metadata stays at 8.7.0: 10.x needs a package such machines
# may lack.
set -euo pipefail
cd "$(dirname "$0")/../.."
DIR=${1:-.whl}
PY=${PYTHON:-python3}
"$PY" -m pip download -q --no-deps --only-binary=:all: \
  --python-version "${PY_VERSION:-3.12}" --implementation cp \
  --platform manylinux2014_x86_64 --platform manylinux2010_x86_64 \
  -d "$DIR" mmengine==0.10.7 mmcv-lite==2.1.0 mmaction2==1.2.0 \
  decord==0.6.0 addict yapf termcolor platformdirs importlib_metadata==8.7.0
ls "$DIR"
