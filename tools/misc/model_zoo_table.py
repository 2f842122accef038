"""Print the model zoo table (docs/model_zoo.md) from measurements.

Example::

    python tools/misc/model_zoo_table.py                  # 6 presets x 8/16f
    python tools/misc/model_zoo_table.py --assignments cakes23d_p \\
        --frames 8 --size 112

Params and FLOPs (multiply-adds) come from mmengine.analysis on the
recognizer built from CONFIG; the CAKES layers from cakes_mmaction.cost,
checked layer by layer against mmengine.
"""
import argparse
import os
import sys

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
sys.path.insert(0, REPO)

import cakes_mmaction  # noqa: F401  (stack repairs come first)

# isort: split
from cakes_mmaction.model_zoo import (PUBLISHED_PROTOCOL, model_zoo_entries,
                                      model_zoo_markdown)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Measure params/FLOPs of the shipped assignments and '
        'print the model zoo table (markdown).')
    parser.add_argument(
        '--config',
        default=os.path.join(REPO, 'configs/_base_/models/cakes_r50.py'),
        help='model config (default: the paper\'s CAKES ResNet-50)')
    parser.add_argument(
        '--assignments', nargs='+',
        help='presets or assignment files (default: every preset)')
    parser.add_argument(
        '--frames', type=int, nargs='+', default=[8, 16],
        help='clip lengths (default: 8 16)')
    parser.add_argument(
        '--size', type=int, default=224, help='spatial size (default 224)')
    parser.add_argument(
        '--num-classes', type=int, default=174,
        help='classifier width (default 174, Something-Something V1)')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    entries = model_zoo_entries(
        args.config, args.assignments, args.frames, args.size,
        args.num_classes)
    print(model_zoo_markdown(entries))
    print(f'\nParams and FLOPs (multiply-adds) of backbone + head for one '
          f'clip, {args.num_classes} classes; published top-1: '
          f'{PUBLISHED_PROTOCOL}.')
    return 0


if __name__ == '__main__':
    sys.exit(main())
