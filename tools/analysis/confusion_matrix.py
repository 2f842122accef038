"""Confusion matrix of a test run's predictions.

Example::

    python tools/test.py CONFIG CKPT --dump preds.pkl
    python tools/analysis/confusion_matrix.py preds.pkl \
        --class-file data/mydata/classes.txt --out confusion.png

Prints the accuracy, the recall of every class and the most frequent
confusions; ``--out`` also draws the matrix (rows: true class, columns:
predicted, each row as shares of its class unless ``--counts``). The
predictions file is read without running code from it. Work:
:mod:`cakes_mmaction.analysis.confusion`.
"""
import argparse
import os
import pickle
import sys
from typing import List, Optional

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))

import cakes_mmaction  # noqa: F401  (repairs the stack first)
from cakes_mmaction.analysis.confusion import (confusion_matrix,
                                               confusion_summary,
                                               load_predictions,
                                               plot_confusion_matrix)
from cakes_mmaction.harness.datasets.transforms import read_class_names


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('predictions', help='file of tools/test.py --dump')
    parser.add_argument('--class-file', help='class names, one per line')
    parser.add_argument('--out', help='image to write (.png, .pdf, .svg)')
    parser.add_argument('--counts', action='store_true',
                        help='draw counts instead of shares of each class')
    parser.add_argument('--top', type=int, default=5,
                        help='how many confusions to list')
    parser.add_argument('--title', help='figure title')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> None:
    """Print the summary and draw the matrix."""
    args = parse_args(argv)
    try:
        labels, preds, num_classes = load_predictions(args.predictions)
        names = None
        if args.class_file:
            names = read_class_names(args.class_file)
            if len(names) != num_classes:
                raise ValueError(
                    f'{args.class_file}: {len(names)} class names, but '
                    f'{args.predictions} scores {num_classes} classes')
    except (OSError, ValueError, pickle.UnpicklingError) as err:
        sys.exit(f'confusion_matrix: {err}')
    matrix = confusion_matrix(labels, preds, num_classes)
    print(confusion_summary(matrix, names, args.top))
    if args.out:
        fig = plot_confusion_matrix(matrix, names, not args.counts,
                                    args.title)
        os.makedirs(os.path.dirname(os.path.abspath(args.out)),
                    exist_ok=True)
        fig.savefig(args.out, dpi=120)
        print(f'wrote {args.out}')


if __name__ == '__main__':
    main()
