"""Convert a checkpoint of the official CAKES code to an mmaction2 one.

Example::

    python tools/convert/official_to_mmaction.py \\
        CAKES123D_P_8f.pth.tar work_dirs/cakes123d_p_8f.pth \\
        --assignment cakes123d_p

The source is loaded with the safe (weights-only) loader. Without
``--assignment`` the channel counts are read off the branch tensors.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__),
                                                '..', '..')))

import cakes_mmaction  # noqa: F401  (stack repairs come first)

# isort: split

# isort: split
from mmengine.config import DictAction

from cakes_mmaction.assignment import AssignmentError
from cakes_mmaction.checkpoints import CheckpointMismatchError
from cakes_mmaction.checkpoints.safe_load import UnsafeCheckpointError
from cakes_mmaction.convert import ConversionError, convert_official_checkpoint


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Convert an official CAKES checkpoint (module.base_model'
        '.*, module.new_fc.*) to an mmaction2 checkpoint of ResNet3dCAKES '
        '+ I3DHead.')
    parser.add_argument('src', help='official checkpoint (.pth / .pth.tar)')
    parser.add_argument('dst', help='output mmaction2 checkpoint (.pth)')
    parser.add_argument(
        '--assignment',
        help='preset name (e.g. cakes123d_p) or assignment file; default: '
        'inferred from the branch tensors')
    parser.add_argument(
        '--backbone-cfg',
        nargs='+',
        action=DictAction,
        help='ResNet3dCAKES arguments of the target model, key=value '
        '(default: depth 50 with the blocks and stem width found in the '
        'checkpoint)')
    parser.add_argument(
        '--assignment-out',
        help='where to write the assignment file (default: DST with '
        '.assignment.json)')
    parser.add_argument(
        '--config',
        help='check the result against this config (architecture, '
        'assignment, class count) before writing it')
    parser.add_argument(
        '--verbose', action='store_true', help='list every mapped tensor')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    try:
        report = convert_official_checkpoint(
            args.src,
            args.dst,
            assignment=args.assignment,
            backbone_cfg=args.backbone_cfg,
            assignment_out=args.assignment_out,
            config=args.config)
    except (ConversionError, AssignmentError, UnsafeCheckpointError,
            CheckpointMismatchError, FileNotFoundError) as err:
        print(f'error: {err}', file=sys.stderr)
        return 1
    print(report.summary(verbose=args.verbose))
    print(f'saved {args.dst}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
