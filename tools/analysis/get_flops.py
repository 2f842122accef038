"""Parameters and FLOPs of a CAKES model config.

Example::

    python tools/analysis/get_flops.py configs/_base_/models/cakes_r50.py \
        --shape 1 3 8 224 224 \
        --cfg-options model.backbone.assignment=cakes23d_p

Prints mmengine's totals (FLOPs = multiply-adds), a table of the CAKES
layers split by kernel shape, and the ratio to the all-3x3x3 network of the
same skeleton. ``--json FILE`` also writes the exact integer counts.
"""
import argparse
import json
import os
import sys
from typing import List, Optional

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))

import cakes_mmaction  # noqa: F401  (repairs the stack first)
from cakes_mmaction.analysis import config_complexity, format_report


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Parse the command line.

    Args:
        argv (list[str], optional): Arguments; ``sys.argv[1:]`` when None.

    Returns:
        argparse.Namespace: ``config``, ``shape``, ``cfg_options``,
        ``json``.
    """
    from mmengine.config import DictAction
    parser = argparse.ArgumentParser(
        description='Params and FLOPs (multiply-adds) of a CAKES model')
    parser.add_argument('config', help='model config file')
    parser.add_argument(
        '--shape',
        type=int,
        nargs=5,
        default=[1, 3, 8, 224, 224],
        metavar=('N', 'C', 'T', 'H', 'W'),
        help='input clip shape (default: 1 3 8 224 224)')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config entries, e.g. '
        'model.backbone.assignment=cakes23d_p')
    parser.add_argument(
        '--json',
        metavar='FILE',
        help='also write the exact counts (integers) to this JSON file')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> None:
    """Print the complexity report of ``args.config``."""
    args = parse_args(argv)
    report = config_complexity(args.config, args.shape, args.cfg_options)
    print(format_report(report), end='')
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(report.to_dict(), f, indent=1)


if __name__ == '__main__':
    main()
