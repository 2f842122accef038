#!/usr/bin/env bash
# Training on a Slurm cluster: srun starts one task per GPU.
#
#   [GPUS=16 GPUS_PER_NODE=8] bash tools/slurm_train.sh PARTITION JOB CONFIG \
#       [tools/train.py options]
#
# GPUS: tasks in all (default 8); GPUS_PER_NODE: tasks per node (default
# 8); CPUS_PER_TASK (default 5); GRES (default gpu:$GPUS_PER_NODE; set
# GRES= for CPU-only nodes, which then train with gloo); SRUN_ARGS: more
# srun options; PYTHON: the interpreter (default python).
set -euo pipefail
if [ $# -lt 3 ]; then
  echo "usage: $0 PARTITION JOB_NAME CONFIG [tools/train.py options]" >&2
  exit 2
fi
PARTITION=$1
JOB_NAME=$2
CONFIG=$3
shift 3
GPUS=${GPUS:-8}
GPUS_PER_NODE=${GPUS_PER_NODE:-8}
GRES=${GRES-gpu:$GPUS_PER_NODE}
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
export MASTER_PORT=${MASTER_PORT:-$((20000 + RANDOM % 10000))}
# shellcheck disable=SC2086  # SRUN_ARGS is a list of options
PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" srun -p "$PARTITION" \
  --job-name="$JOB_NAME" ${GRES:+--gres=$GRES} \
  --ntasks="$GPUS" --ntasks-per-node="$GPUS_PER_NODE" \
  --cpus-per-task="${CPUS_PER_TASK:-5}" --kill-on-bad-exit=1 \
  ${SRUN_ARGS:-} \
  "${PYTHON:-python}" -u "$ROOT/tools/train.py" "$CONFIG" \
  --launcher=slurm "$@"
