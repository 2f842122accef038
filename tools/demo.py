"""Top-5 classes of a video file, as mmaction2's demo/demo.py.

    python tools/demo.py CONFIG CHECKPOINT VIDEO [LABEL] [--cfg-options ...]

LABEL is the class-name file (one name per line). The older order
``VIDEO CONFIG CHECKPOINT [--label-map FILE]`` is still understood. The
video is decoded with decord; frame-folder configs (SthV1) get a decord
version of their test pipeline. A video whose frames are far from the
training size gets a warning first. Work: :func:`recognize_video`.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import cakes_mmaction  # noqa: F401  (stack repairs before mmaction)

# isort: split
from mmengine.config import DictAction

from cakes_mmaction.harness.apis.config_text import load_config
from cakes_mmaction.harness.apis.inference import format_top_k, recognize_video
from cakes_mmaction.harness.apis.input_size import (input_size_warning,
                                                    video_frame_size)

_CONFIG_SUFFIXES = ('.py', '.json', '.yaml', '.yml')


def parse_args(argv=None) -> argparse.Namespace:
    """Parse the command line (either argument order)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        'args', nargs='+', metavar='CONFIG CHECKPOINT VIDEO [LABEL]',
        help='recognizer config, checkpoint, video file and (optional) '
        'class-name file')
    parser.add_argument('--label-map', help='class names, one per line')
    parser.add_argument('--top-k', type=int, default=5)
    parser.add_argument('--device', default='cpu', help="e.g. 'cuda:0'")
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override config keys, e.g. '
        'test_dataloader.dataset.pipeline.1.clip_len=16')
    args = parser.parse_args(argv)
    positional = args.args
    if len(positional) not in (3, 4):
        parser.error('expected CONFIG CHECKPOINT VIDEO [LABEL]')
    if positional[0].endswith(_CONFIG_SUFFIXES):
        args.config, args.checkpoint, args.video = positional[:3]
        label = positional[3] if len(positional) == 4 else None
    elif positional[1].endswith(_CONFIG_SUFFIXES) and len(positional) == 3:
        # the older order: VIDEO CONFIG CHECKPOINT
        args.video, args.config, args.checkpoint = positional
        label = None
    else:
        parser.error('expected CONFIG CHECKPOINT VIDEO [LABEL] (the config '
                     f'ends with .py), got {positional}')
    if label and args.label_map and label != args.label_map:
        parser.error(f'two label files: {label} and --label-map '
                     f'{args.label_map}')
    args.label_map = label or args.label_map
    return args


def _checkpoint_meta(checkpoint: str) -> dict:
    from cakes_mmaction.checkpoints.safe_load import safe_torch_load
    try:
        loaded = safe_torch_load(checkpoint, map_location='cpu')
    except Exception:  # recognize_video reports a bad checkpoint
        return {}
    meta = loaded.get('meta') if isinstance(loaded, dict) else None
    return meta if isinstance(meta, dict) else {}


def main(argv=None) -> None:
    """Print the top-k classes with their scores."""
    args = parse_args(argv)
    cfg = load_config(args.config, args.cfg_options)
    if os.path.isfile(args.video) and os.path.isfile(args.checkpoint):
        size = video_frame_size(args.video)
        message = size and input_size_warning(
            cfg, size, _checkpoint_meta(args.checkpoint))
        if message:
            print(f'WARNING: {args.video}: {message}', file=sys.stderr)
    print(format_top_k(recognize_video(
        args.video, cfg, args.checkpoint, label_map=args.label_map,
        top_k=args.top_k, device=args.device)))


if __name__ == '__main__':
    main()
