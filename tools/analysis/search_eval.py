"""Does the search pay? Search, export at matched MACs, retrain, compare.

Example (the hard synthetic benchmark, 5 seeds; see docs/search.md)::

    python tools/data/generate_synthetic.py data/synthetic_hard \
        --benchmark hard --train-per-class 40 --val-per-class 20 \
        --test-per-class 20 --formats rawframes
    python tools/analysis/search_eval.py --data data/synthetic_hard \
        --work-dir work_dirs/search_eval_hard --seeds 0 1 2 3 4 \
        --workers 2 --readme README.md

Runs the C and P searches, exports each at the MACs of the uniform split
(capped at 0.75 of the all-3x3x3 network's), trains and tests the
searched, uniform, all-3x3x3 and all-1x3x3 networks with the same recipe
over the seeds (parallel processes), and writes ``search_eval.json`` and
``search_eval.md`` in the work dir. A rerun skips every finished step.
``--readme FILE`` replaces the part of FILE between
``<!-- search-eval:begin -->`` and ``<!-- search-eval:end -->`` with the
table.
"""
import argparse
import os
import sys

sys.path.insert(
    0, os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__)))))

import cakes_mmaction  # noqa: F401  (repairs the stack first)
from cakes_mmaction.analysis.search_evaluation import (NETWORKS,
                                                       SearchEvalSettings,
                                                       data_options,
                                                       format_table,
                                                       replace_marked_section,
                                                       run_search_eval)
from cakes_mmaction.search.export import SCORES

HARD = 'configs/search/hard'


def parse_args(argv=None) -> argparse.Namespace:
    from mmengine.config import DictAction
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--search-c', default=f'{HARD}/cakes_search_c_hard.py',
                        help='C-scheme search config ("" to skip)')
    parser.add_argument('--search-p', default=f'{HARD}/cakes_search_p_hard.py',
                        help='P-scheme search config ("" to skip)')
    parser.add_argument('--train', default=f'{HARD}/cakes_hard_train.py',
                        help='config of the trained networks')
    parser.add_argument('--work-dir', required=True)
    parser.add_argument('--data', help='a generated synthetic dataset '
                        '(tools/data/generate_synthetic.py, rawframes, with '
                        'a test split): points every config at it')
    parser.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    parser.add_argument('--search-seed', type=int, default=0)
    parser.add_argument('--networks', nargs='+', default=None,
                        choices=list(NETWORKS))
    parser.add_argument('--workers', type=int, default=2,
                        help='parallel training processes')
    parser.add_argument('--threads', type=int, default=1,
                        help='torch threads per process')
    parser.add_argument('--input-shape', type=int, nargs=3,
                        default=[8, 32, 32], metavar=('T', 'H', 'W'),
                        help='test clip, for MACs and time per clip')
    parser.add_argument('--budget', default='matched',
                        help="export FLOP budget of the CAKES layers: "
                        "'matched' (the uniform split's, capped at 0.75 of "
                        "the all-3x3x3 network) or 3.2M, 40%%")
    parser.add_argument('--align', type=int, default=1)
    parser.add_argument('--score', choices=list(SCORES), default='gamma',
                        help="candidate importance of the export ('taylor':"
                        ' measured on the validation split)')
    parser.add_argument('--cost-table', default=None,
                        help='measured per-shape cost table for the export')
    parser.add_argument('--no-pairs', action='store_true',
                        help='classes are not time-reversed pairs')
    parser.add_argument(
        '--extra', nargs='+', action=DictAction, default={},
        metavar='NAME=FILE',
        help='hand-picked networks to train and test beside the others '
        '(assignment files), e.g. a split to compare the search with')
    parser.add_argument('--readme', default=None,
                        help='regenerate the marked search-eval section')
    for name in ('cfg-options', 'search-cfg-options', 'train-cfg-options'):
        parser.add_argument(
            f'--{name}', nargs='+', action=DictAction, default={},
            help='config overrides for '
            + {'cfg-options': 'every run', 'search-cfg-options':
               'the searches', 'train-cfg-options': 'the trainings'}[name])
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    searches = {k: v for k, v in (('C', args.search_c),
                                  ('P', args.search_p)) if v}
    options = {}
    if args.data:
        options.update(data_options(args.train, args.data))
    options.update(args.cfg_options)
    networks = args.networks or [
        n for n in NETWORKS
        if not n.startswith('searched_') or n[-1].upper() in searches
    ]
    settings = SearchEvalSettings(
        search_configs=searches,
        train_config=args.train,
        work_dir=args.work_dir,
        seeds=args.seeds,
        cfg_options=options,
        search_cfg_options=args.search_cfg_options,
        train_cfg_options=args.train_cfg_options,
        search_seed=args.search_seed,
        input_shape=(1, 3) + tuple(args.input_shape),
        budget=args.budget,
        align=args.align,
        cost_table=args.cost_table,
        networks=networks,
        workers=args.workers,
        threads=args.threads,
        pairs=not args.no_pairs,
        score=args.score,
        extra_networks={str(k): str(v)
                        for k, v in args.extra.items()})
    result = run_search_eval(settings)
    table = format_table(result)
    print(table)
    if args.readme:
        replace_marked_section(args.readme, table)
        print(f'updated {args.readme}')


if __name__ == '__main__':
    main()
