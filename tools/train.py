"""Train a recognizer: ``python tools/train.py CONFIG [options]``.

mmaction2's command line; the work is done by
:func:`cakes_mmaction.harness.apis.train`. Distributed:
``tools/dist_train.sh``.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import cakes_mmaction  # noqa: F401  (stack repairs before mmaction)

# isort: split
from mmengine.config import DictAction

from cakes_mmaction.harness.apis import build_train_cfg, train


def parse_args(argv=None) -> argparse.Namespace:
    """Parse the command line (mmaction2's ``tools/train.py`` options)."""
    parser = argparse.ArgumentParser(description='Train a recognizer')
    parser.add_argument('config', help='config file')
    parser.add_argument('--work-dir', help='where logs and checkpoints go')
    parser.add_argument(
        '--resume', nargs='?', const='auto', default=None,
        help="resume from this checkpoint, or (no value / 'auto') from the "
        'latest checkpoint of the work dir')
    parser.add_argument('--amp', action='store_true',
                        help='automatic mixed precision (GPU/NPU/MLU only)')
    parser.add_argument('--no-validate', action='store_true',
                        help='do not validate during training')
    parser.add_argument(
        '--auto-scale-lr', action='store_true',
        help='scale the lr by the actual total batch over '
        'auto_scale_lr.base_batch_size')
    parser.add_argument('--seed', type=int, default=None, help='random seed')
    parser.add_argument('--diff-rank-seed', action='store_true',
                        help='a different seed on each rank')
    parser.add_argument('--deterministic', action='store_true',
                        help='deterministic algorithms (reproducible runs)')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override config keys, e.g. model.backbone.assignment='
        'cakes23d_p train_dataloader.batch_size=4')
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
    """Train as the command line says."""
    args = parse_args(argv)
    train(
        build_train_cfg(
            args.config,
            work_dir=args.work_dir,
            resume=args.resume,
            amp=args.amp,
            no_validate=args.no_validate,
            auto_scale_lr=args.auto_scale_lr,
            seed=args.seed,
            diff_rank_seed=args.diff_rank_seed,
            deterministic=args.deterministic,
            cfg_options=args.cfg_options,
            launcher=args.launcher,
            gpu_fit=args.gpu_fit))


if __name__ == '__main__':
    main()
