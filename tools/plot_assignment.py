"""Plot and tabulate channel assignments, several side by side.

Example::

    python tools/plot_assignment.py work_dirs/search_c/assignment.json \
        cakes123d_c --out work_dirs/search_c/assignment.png

Each FILE is an assignment file or a preset name. The figure shows, per
layer in network order, the share of each kernel shape; the table is
printed, with the costs each file records, each named by its scope (CAKES
layers only, or the whole network). Every file is checked first, against
the network it records or structurally; a bad file is an error naming the
file and the layer, and no figure is written. Assignments of different
networks are refused unless --allow-mixed.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import cakes_mmaction  # noqa: F401  (repairs the stack first)
from cakes_mmaction.assignment import AssignmentError
from cakes_mmaction.visualization import render_assignments


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Per-layer stacked bars of the kernel-shape shares of '
        'one or more assignments, and the same as a text table.')
    parser.add_argument(
        'files', nargs='+', metavar='FILE',
        help='assignment files (.json/.yaml) or preset names')
    parser.add_argument(
        '--out', help='figure to write (.png, .pdf, .svg); none if omitted')
    parser.add_argument(
        '--labels', nargs='+', help='names of the assignments (default: '
        'file names)')
    parser.add_argument('--title', help='figure title')
    parser.add_argument(
        '--allow-mixed', action='store_true',
        help='plot assignments of different networks together')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    try:
        table = render_assignments(
            args.files, args.out, args.labels, args.title,
            allow_mixed=args.allow_mixed)
    except AssignmentError as err:
        sys.exit(f'plot_assignment: {err}')
    print(table)
    if args.out:
        print(f'wrote {args.out}')


if __name__ == '__main__':
    main()
