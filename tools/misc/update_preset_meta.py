"""Recompute the params/FLOPs stored in the presets' metadata.

Example::

    python tools/misc/update_preset_meta.py            # rewrite all six
    python tools/misc/update_preset_meta.py --check    # exit 1 if stale

The figures are for the paper's network (configs/_base_/models/cakes_r50.py
with a 174-class head) and one 1x3x8x224x224 clip; see
``cakes_mmaction/analysis/preset_meta.py``.
"""
import argparse
import os
import sys
from typing import List, Optional

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
sys.path.insert(0, ROOT)

import cakes_mmaction  # noqa: F401  (repairs the stack first)
from cakes_mmaction.analysis.preset_meta import (PRESET_INPUT_SHAPE,
                                                 update_preset_files)


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Parse the command line.

    Args:
        argv (list[str], optional): Arguments; ``sys.argv[1:]`` when None.

    Returns:
        argparse.Namespace: ``config``, ``presets``, ``shape``, ``check``.
    """
    parser = argparse.ArgumentParser(
        description='Write params/FLOPs into the preset files')
    parser.add_argument(
        '--config',
        default=os.path.join(ROOT, 'configs', '_base_', 'models',
                             'cakes_r50.py'),
        help='model config (default: the paper network)')
    parser.add_argument(
        '--presets', nargs='+', help='preset names (default: all)')
    parser.add_argument(
        '--shape',
        type=int,
        nargs=5,
        default=list(PRESET_INPUT_SHAPE),
        metavar=('N', 'C', 'T', 'H', 'W'),
        help='input clip shape (default: 1 3 8 224 224, the shipped one)')
    parser.add_argument(
        '--check',
        action='store_true',
        help='write nothing; exit 1 if a preset file is out of date')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    """Update (or check) the preset files; returns the exit status."""
    args = parse_args(argv)
    changed = update_preset_files(
        args.config, args.presets, args.shape, write=not args.check)
    verb = 'out of date' if args.check else 'updated'
    print(f'{verb}: {", ".join(changed) if changed else "none"}')
    return 1 if args.check and changed else 0


if __name__ == '__main__':
    sys.exit(main())
