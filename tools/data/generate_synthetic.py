"""Write the synthetic temporal-reasoning dataset.

    python tools/data/generate_synthetic.py data/synthetic \
        [--train-per-class 40] [--val-per-class 20] [--size 32] \
        [--frames 8] [--seed 0] [--formats rawframes videos] \
        [--benchmark hard] [--max-frames 12] \
        [--difficulty easy|medium|hard] [--distractors 0 2] [--noise 2 6] \
        [--camera 0.4] [--coverage 0.6] [--blur 0.6] [--texture 10 25]

SthV1 rawframes layout + Kinetics-style mp4 list + classes.txt; see
:func:`cakes_mmaction.harness.datasets.generate_synthetic_dataset`.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))

import cakes_mmaction  # noqa: F401  (stack repairs before mmaction)

# isort: split
from cakes_mmaction.harness.synthetic import generate_synthetic_dataset
from cakes_mmaction.harness.synthetic.hard import (HardDifficulty,
                                                   resolve_difficulty)


def parse_args(argv=None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('out_dir', help='output directory')
    parser.add_argument('--train-per-class', type=int, default=40)
    parser.add_argument('--val-per-class', type=int, default=20)
    parser.add_argument('--test-per-class', type=int, default=0,
                        help='a separate test split (0: none)')
    parser.add_argument('--size', type=int, nargs='+', default=[32],
                        help='frame size: S or H W')
    parser.add_argument('--frames', type=int, default=8)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--pairs', type=int, default=None,
                        help='number of class pairs (default: all; 5 for '
                        'the demo, 6 for the hard benchmark)')
    parser.add_argument(
        '--benchmark', choices=['demo', 'hard'], default='demo',
        help='demo: the demo clips; hard: cluttered scene, camera motion, '
        'distractors, random timing, blur, variable length (see '
        'cakes_mmaction/harness/synthetic/hard.py)')
    parser.add_argument(
        '--max-frames', type=int, default=None,
        help='hard only: clips have --frames to --max-frames frames '
        '(default: 1.5 x --frames)')
    hard = parser.add_argument_group(
        'hard benchmark clutter',
        'a preset (hard: the first release) and knobs that override it; '
        'see HardDifficulty in cakes_mmaction/harness/synthetic/hard.py')
    hard.add_argument('--difficulty', choices=['easy', 'medium', 'hard'],
                      default=None, help='preset (default: hard)')
    hard.add_argument('--distractors', type=int, nargs=2,
                      metavar=('MIN', 'MAX'), help='distractors per clip')
    hard.add_argument('--noise', type=float, nargs=2, metavar=('MIN', 'MAX'),
                      help='pixel noise sigma range')
    hard.add_argument('--camera', type=float,
                      help='camera pan amplitude, fraction (0-1) of the '
                      'margin')
    hard.add_argument('--coverage', type=float,
                      help='shortest action, fraction (0-1] of the clip')
    hard.add_argument('--blur', type=float, help='largest blur sigma (px)')
    hard.add_argument('--texture', type=float, nargs=2,
                      metavar=('MIN', 'MAX'),
                      help='background texture amplitude range')
    parser.add_argument('--formats', nargs='+',
                        default=['rawframes', 'videos'],
                        choices=['rawframes', 'videos'])
    return parser.parse_args(argv)


def main(argv=None) -> None:
    """Generate the dataset as the command line says."""
    args = parse_args(argv)
    counts = dict(train=args.train_per_class, val=args.val_per_class)
    if args.test_per_class:
        counts['test'] = args.test_per_class
    size = args.size[0] if len(args.size) == 1 else tuple(args.size[:2])
    knobs = {
        name: getattr(args, name)
        for name in HardDifficulty._fields
        if getattr(args, name) is not None
    }
    difficulty = None
    if args.difficulty is not None or knobs:
        difficulty = resolve_difficulty(args.difficulty, knobs)
    generate_synthetic_dataset(
        args.out_dir, num_per_class=counts, num_frames=args.frames,
        size=size, seed=args.seed, formats=args.formats,
        num_pairs=args.pairs, progress=print, benchmark=args.benchmark,
        max_frames=args.max_frames, difficulty=difficulty)


if __name__ == '__main__':
    main()
