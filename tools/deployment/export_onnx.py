"""Export a recognizer to ONNX and verify it with onnxruntime.

Example::

    python tools/deployment/export_onnx.py \\
        configs/_base_/models/cakes_r50.py work_dirs/cakes123d_p_8f.pth \\
        --shape 1 3 8 224 224 --out work_dirs/cakes123d_p_8f.onnx --softmax \\
        --cfg-options model.backbone.assignment=cakes123d_p \\
        model.cls_head.num_classes=174

The graph is backbone + head (+ softmax) with a dynamic batch axis; the
input is a clip already normalised with the config's mean/std (stored in
the model's metadata). Exits with status 1 when ONNX and PyTorch differ.
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

from cakes_mmaction.deployment import (OnnxVerificationError,
                                       export_recognizer_onnx)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Export backbone + head of a recognizer to ONNX and '
        'check it against PyTorch with onnxruntime.')
    parser.add_argument('config', help='model config file')
    parser.add_argument('checkpoint', help='checkpoint (mmengine format)')
    parser.add_argument(
        '--shape',
        type=int,
        nargs=5,
        required=True,
        metavar=('N', 'C', 'T', 'H', 'W'),
        help='example input shape; N becomes a dynamic axis')
    parser.add_argument('--out', required=True, help='output .onnx file')
    parser.add_argument(
        '--softmax', action='store_true',
        help='output class probabilities instead of logits')
    parser.add_argument(
        '--opset', type=int, default=17, help='ONNX opset (default 17)')
    parser.add_argument(
        '--atol', type=float, default=1e-4,
        help='absolute tolerance of the check (default 1e-4)')
    parser.add_argument(
        '--rtol', type=float, default=1e-4,
        help='tolerance relative to the largest output (default 1e-4)')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override config settings, key=value')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    try:
        result = export_recognizer_onnx(
            args.config,
            args.checkpoint,
            args.shape,
            args.out,
            softmax=args.softmax,
            opset=args.opset,
            cfg_options=args.cfg_options,
            atol=args.atol,
            rtol=args.rtol)
    except (OnnxVerificationError, ValueError, RuntimeError,
            FileNotFoundError) as err:
        print(f'error: {err}', file=sys.stderr)
        return 1
    print(result.summary())
    return 0


if __name__ == '__main__':
    sys.exit(main())
