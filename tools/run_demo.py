"""The synthetic demo in one command: generate data, train, test, compare.

    python tools/run_demo.py [--work-dir work_dirs/synthetic_demo]

Trains the small CAKES ResNet (configs/demo/cakes_tiny_synthetic.py) and its
all-1x3x3 twin (c2d_tiny_synthetic.py) on CPU and prints their top-1 next
to the frame-order-blind ceiling. Work: :func:`run_synthetic_demo`.
"""
import argparse
import os
import sys
import warnings

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# mmcv-lite says at import that it lacks compiled ops the demo never uses.
warnings.filterwarnings('ignore', category=UserWarning, module='mmcv')

import cakes_mmaction  # noqa: F401  (stack repairs before mmaction)

# isort: split
from mmengine.config import DictAction

from cakes_mmaction.harness.apis.synthetic_demo import (DEMO_CONFIGS,
                                                        run_synthetic_demo)


def parse_args(argv=None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--work-dir', default='work_dirs/synthetic_demo',
                        help='data and runs go here (replaced)')
    parser.add_argument('--configs', nargs='+', default=list(DEMO_CONFIGS),
                        help='configs to train and compare')
    parser.add_argument('--train-per-class', type=int, default=40,
                        help='training videos per class')
    parser.add_argument('--test-per-class', type=int, default=20,
                        help='test videos per class')
    parser.add_argument('--size', type=int, default=32, help='frame size')
    parser.add_argument('--pairs', type=int, default=None,
                        help='class pairs (default: all 5)')
    parser.add_argument('--seed', type=int, default=0, help='data seed')
    parser.add_argument('--sequential', action='store_true',
                        help='train the models one after the other')
    parser.add_argument('--verbose', action='store_true',
                        help="show mmengine's training logs")
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='overrides for every config')
    return parser.parse_args(argv)


def main(argv=None) -> None:
    """Run the demo as the command line says."""
    args = parse_args(argv)
    if not args.verbose:  # the pinned stack's deprecation chatter
        warnings.filterwarnings('ignore')
    run_synthetic_demo(
        work_dir=args.work_dir,
        configs=args.configs,
        num_per_class=dict(train=args.train_per_class,
                           val=args.test_per_class),
        size=args.size,
        num_pairs=args.pairs,
        seed=args.seed,
        cfg_options=args.cfg_options,
        parallel=not args.sequential,
        verbose=args.verbose)


if __name__ == '__main__':
    main()
