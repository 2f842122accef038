"""Check the annotation lists and media of a config's datasets.

Example::

    python tools/data/check_dataset.py configs/cakes_r50_sthv1.py \
        --split train val --workers 8 --json work_dirs/data_report.json

Prints one line per problem (list file and line, media file, what is
wrong) and exits with status 1 when any problem is found.
"""
import argparse
import json
import os
import os.path as osp
import sys

sys.path.insert(0,
                osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

import cakes_mmaction  # noqa: F401  (stack repairs first)

# isort: split
from mmengine.config import Config, DictAction

from cakes_mmaction.harness.dataset_check import check_dataset


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Find missing, truncated or corrupt media, wrong frame '
        'counts, bad labels and duplicates in the datasets of a config')
    parser.add_argument('config', help='config file')
    parser.add_argument(
        '--split',
        nargs='+',
        default=['train', 'val', 'test'],
        choices=['train', 'val', 'test'],
        help='dataloaders to check')
    parser.add_argument(
        '--workers', type=int, default=1, help='parallel processes')
    parser.add_argument(
        '--num-classes',
        type=int,
        default=None,
        help='label range (default: model.cls_head.num_classes)')
    parser.add_argument(
        '--quick',
        action='store_true',
        help='byte-level checks only; no full decode of every frame')
    parser.add_argument('--json', help='also write the report here')
    parser.add_argument(
        '--no-progress', action='store_true', help='hide the progress bar')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config settings, as in tools/train.py')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    report = check_dataset(
        cfg,
        splits=args.split,
        workers=args.workers,
        num_classes=args.num_classes,
        full_decode=not args.quick,
        progress=not args.no_progress)
    print(report.summary())
    if args.json:
        os.makedirs(osp.dirname(osp.abspath(args.json)), exist_ok=True)
        with open(args.json, 'w') as f:
            json.dump(report.to_dict(), f, indent=1)
    return 0 if report.ok else 1


if __name__ == '__main__':
    sys.exit(main())
