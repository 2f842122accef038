#!/usr/bin/env bash
# Create a virtual environment (if missing) and install the stack and this
# package. Idempotent: a second run only checks that everything is there.
#
#   bash tools/setup_env.sh                  # .venv, fresh CPU machine
#   CAKES_SYSTEM_SITE_PACKAGES=1 bash tools/setup_env.sh
#                                            # .venv that sees the machine's
#                                            # own (CUDA) torch
#   CAKES_VENV=/path/to/env bash tools/setup_env.sh
#                                            # an existing env (venv, conda)
#
# torch: a torch that already imports in the environment is kept, whatever
# its build and version; only when there is none, the pinned CPU build of
# requirements/torch-cpu.txt is installed (never a CUDA download). Every
# later pip call is constrained to the torch found, so nothing replaces it.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
VENV=${CAKES_VENV:-.venv}
if [ ! -x "$VENV/bin/python" ]; then
  if [ "${CAKES_SYSTEM_SITE_PACKAGES:-0}" = 1 ]; then
    "$PY" -m venv --system-site-packages "$VENV"
  else
    "$PY" -m venv "$VENV"
  fi
fi
VPY="$VENV/bin/python"
pip_install() { "$VPY" -m pip install -q "$@"; }

# pip's view of the installed torch (its metadata), when torch imports.
torch_version() {
  "$VPY" -c 'import importlib.metadata as m, torch; print(m.version("torch"))' \
    2>/dev/null
}
if TORCH=$(torch_version); then
  echo "setup_env: keeping the installed torch $TORCH"
else
  echo "setup_env: no working torch; installing requirements/torch-cpu.txt"
  pip_install -r requirements/torch-cpu.txt
  TORCH=$(torch_version)
fi
CONSTRAINT="$VENV/cakes-torch-constraint.txt"
echo "torch==$TORCH" > "$CONSTRAINT"

# The tests pin triton 3.6.0 and numpy < 2.4 for triton's CPU interpreter.
# A triton that already imports belongs to the installed torch (CUDA
# builds depend on their own): keep it, and leave numpy as it is.
TESTS_REQ=requirements/tests.txt
if TRITON=$("$VPY" -c 'import importlib.metadata as m, triton
print(m.version("triton"))' 2>/dev/null); then
  echo "setup_env: keeping the installed triton $TRITON"
  TESTS_REQ="$VENV/cakes-tests-requirements.txt"
  grep -v -E '^(triton|numpy)[<>=]' requirements/tests.txt > "$TESTS_REQ"
fi

pip_install -c "$CONSTRAINT" -r requirements/runtime.txt -r "$TESTS_REQ"
pip_install -c "$CONSTRAINT" --no-deps -r requirements/openmmlab.txt

# One OpenCV: remove other cv2 distributions inside this environment (an
# earlier setup installed three), then restore the headless one's files
# that the removal took from the shared cv2/ folder.
OTHERS=$("$VPY" - <<'EOF'
import importlib.metadata as m
import os
import sys
for name in ('opencv-python', 'opencv-contrib-python'):
    try:
        path = str(m.distribution(name).locate_file(''))
    except m.PackageNotFoundError:
        continue
    if os.path.realpath(path).startswith(os.path.realpath(sys.prefix)):
        print(name)
EOF
)
if [ -n "$OTHERS" ]; then
  echo "setup_env: removing" $OTHERS "(one OpenCV distribution is kept)"
  "$VPY" -m pip uninstall -q -y $OTHERS
  pip_install --force-reinstall --no-deps \
    "$(grep '^opencv-python-headless==' requirements/runtime.txt)"
fi

pip_install --no-deps --no-build-isolation -e .
"$VPY" -c 'import torch; print("setup_env: torch", torch.__version__,
"| CUDA available:", torch.cuda.is_available())'
