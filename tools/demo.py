"""Top-5 classes of a video file.

    python tools/demo.py VIDEO CONFIG CHECKPOINT [--label-map FILE]

The video is decoded with decord; frame-folder configs (SthV1) get a decord
version of their test pipeline. Work: :func:`recognize_video`.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import cakes_mmaction  # noqa: E402,F401  (stack repairs before mmaction)
from cakes_mmaction.apis.inference import (format_top_k,  # noqa: E402
                                           recognize_video)


def parse_args(argv=None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('video', help='video file')
    parser.add_argument('config', help='recognizer config')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--label-map', help='class names, one per line')
    parser.add_argument('--top-k', type=int, default=5)
    parser.add_argument('--device', default='cpu', help="e.g. 'cuda:0'")
    return parser.parse_args(argv)


def main(argv=None) -> None:
    """Print the top-k classes with their scores."""
    args = parse_args(argv)
    print(format_top_k(recognize_video(
        args.video, args.config, args.checkpoint, label_map=args.label_map,
        top_k=args.top_k, device=args.device)))


if __name__ == '__main__':
    main()
