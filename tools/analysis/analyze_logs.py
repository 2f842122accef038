"""Plot training curves and time iterations, as mmaction2's analyze_logs.

Examples::

    python tools/analysis/analyze_logs.py plot_curve work_dirs/a work_dirs/b \
        --keys loss acc/top1 lr --legend a b --out curves.png
    python tools/analysis/analyze_logs.py cal_train_time work_dirs/a

Each LOG is a work dir of ``tools/train.py`` (all its runs, a resumed run
continuing the curve) or one of mmengine's JSON logs
(``<work_dir>/<timestamp>/vis_data/<timestamp>.json``). Work:
:mod:`cakes_mmaction.analysis.train_logs`.
"""
import argparse
import os
import sys
from typing import List, Optional

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))

from cakes_mmaction.analysis.train_logs import (load_train_log, plot_curves,
                                                train_time_stats)


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Parse the command line (mmaction2's subcommands)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest='task', required=True)
    plot = sub.add_parser('plot_curve', help='plot keys over iterations')
    plot.add_argument('logs', nargs='+', metavar='LOG',
                      help='work dirs or JSON logs')
    plot.add_argument('--keys', nargs='+', default=['loss'],
                      help="logged keys, e.g. loss lr acc/top1 top1_acc")
    plot.add_argument('--legend', nargs='+', help='names of the runs')
    plot.add_argument('--title', help='figure title')
    plot.add_argument('--out', required=True,
                      help='image to write (.png, .pdf, .svg)')
    timing = sub.add_parser('cal_train_time',
                            help='time per iteration and per epoch')
    timing.add_argument('logs', nargs='+', metavar='LOG',
                        help='work dirs or JSON logs')
    timing.add_argument('--include-outliers', action='store_true',
                        help="keep each epoch's first logged line")
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> None:
    """Run the subcommand."""
    args = parse_args(argv)
    try:
        logs = [load_train_log(path) for path in args.logs]
        if args.task == 'plot_curve':
            fig = plot_curves(logs, args.keys, args.legend, args.title)
            directory = os.path.dirname(os.path.abspath(args.out))
            os.makedirs(directory, exist_ok=True)
            fig.savefig(args.out, dpi=120)
            print(f'wrote {args.out}')
            return
        for log in logs:
            stats = train_time_stats(log, args.include_outliers)
            print(f'{log.source}: {stats["epochs"]} epoch(s)\n'
                  f'  slowest epoch {stats["slowest_epoch"]}: '
                  f'{stats["slowest_epoch_s"]:.4f} s/iter\n'
                  f'  fastest epoch {stats["fastest_epoch"]}: '
                  f'{stats["fastest_epoch_s"]:.4f} s/iter\n'
                  f'  std over epochs: {stats["std_epoch_s"]:.4f} s/iter\n'
                  f'  average: {stats["mean_iter_s"]:.4f} s/iter')
    except (OSError, ValueError, KeyError) as err:
        sys.exit(f'analyze_logs: {err.args[0] if err.args else err}')


if __name__ == '__main__':
    main()
