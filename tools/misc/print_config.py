"""Print a config as the tools run it: bases merged, options applied.

    python tools/misc/print_config.py CONFIG [--cfg-options k=v ...]

mmaction2's ``tools/misc/print_config.py``. Work:
:func:`cakes_mmaction.harness.apis.config_text.config_text`.
"""
import argparse
import os
import sys
from typing import List, Optional

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))

from mmengine.config import DictAction

import cakes_mmaction  # noqa: F401  (repairs the stack first)
from cakes_mmaction.harness.apis.config_text import config_text


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config', help='config file')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override config keys, e.g. model.cls_head.num_classes=12')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> None:
    """Print the merged config."""
    args = parse_args(argv)
    try:
        text = config_text(args.config, args.cfg_options)
    except FileNotFoundError as err:
        sys.exit(f'print_config: {err}')
    print(f'Config:\n{text}')


if __name__ == '__main__':
    main()
