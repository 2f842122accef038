"""Plot and tabulate channel assignments, several side by side.

Example::

    python tools/plot_assignment.py work_dirs/search_c/assignment.json \
        cakes123d_c --out work_dirs/search_c/assignment.png

Each FILE is an assignment file or a preset name. The figure shows, per
layer, the share of each kernel shape; the table is printed.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import cakes_mmaction  # noqa: E402,F401  (repairs the stack first)
from cakes_mmaction.visualization import render_assignments  # noqa: E402


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
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    print(render_assignments(args.files, args.out, args.labels, args.title))
    if args.out:
        print(f'wrote {args.out}')


if __name__ == '__main__':
    main()
