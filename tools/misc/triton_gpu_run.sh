#!/usr/bin/env bash
# Everything the fused triton conv needs measured on a CUDA machine, in one
# command (see docs/triton.md): the GPU check tool (equivalence, per-layer
# and network tables) first, then the triton tests on the compiled kernels.
#
#   bash tools/misc/triton_gpu_run.sh OUT_DIR
#
# Where mmengine/mmaction2 are missing (a bare GPU image), wheels placed in
# .whl/ are installed into a private folder first, without network.
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=${1:?usage: triton_gpu_run.sh OUT_DIR}
mkdir -p "$OUT"
PY=${PYTHON:-python}
if ! "$PY" -c 'import mmengine, mmaction, decord' 2>/dev/null; then
  if ls .whl/*.whl >/dev/null 2>&1; then
    SITE=${CAKES_SITE:-/tmp/cakes_site}
    "$PY" -m pip install -q --no-index --no-deps --target "$SITE" \
      .whl/*.whl >"$OUT/pip.log" 2>&1
    export PYTHONPATH="$SITE:$PWD${PYTHONPATH:+:$PYTHONPATH}"
  fi
fi
"$PY" tools/misc/triton_gpu_check.py --out "$OUT" "${@:2}" \
  2>&1 | tee "$OUT/check.log"
check=${PIPESTATUS[0]}
"$PY" -m pytest -q -p no:cacheprovider tests/layers/triton_conv \
  2>&1 | tail -40 | tee "$OUT/pytest.log"
tests=${PIPESTATUS[0]}
echo "triton_gpu_check exit $check, triton tests exit $tests"
[ "$check" = 0 ] && [ "$tests" = 0 ]
