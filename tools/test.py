"""Test a checkpoint: ``python tools/test.py CONFIG CHECKPOINT [options]``.

mmaction2's command line; the work is done by
:func:`cakes_mmaction.harness.apis.test`. Distributed: ``tools/dist_test.sh``.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import cakes_mmaction  # noqa: F401  (stack repairs before mmaction)

# isort: split
from mmengine.config import DictAction

from cakes_mmaction.harness.apis import build_test_cfg, test


def parse_args(argv=None) -> argparse.Namespace:
    """Parse the command line (mmaction2's ``tools/test.py`` options)."""
    parser = argparse.ArgumentParser(description='Test a recognizer')
    parser.add_argument('config', help='config file')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='where logs and metrics go')
    parser.add_argument('--dump', help='write all predictions to this .pkl')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override config keys, e.g. test_dataloader.batch_size=4')
    parser.add_argument(
        '--gpu-fit', choices=['auto', 'on', 'off'], default=None,
        help='mixed precision (bf16, else fp16), channels-last and cuDNN '
        "autotuning; default: the config's gpu_fit ('auto': on with CUDA)")
    parser.add_argument('--launcher', default='none',
                        choices=['none', 'pytorch', 'slurm', 'mpi'],
                        help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0,
                        help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def main(argv=None) -> None:
    """Test as the command line says; mmengine logs the metrics."""
    args = parse_args(argv)
    test(
        build_test_cfg(
            args.config,
            args.checkpoint,
            work_dir=args.work_dir,
            dump=args.dump,
            cfg_options=args.cfg_options,
            launcher=args.launcher,
            gpu_fit=args.gpu_fit))


if __name__ == '__main__':
    main()
