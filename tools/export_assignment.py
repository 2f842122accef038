"""Export the channel assignment searched by a CAKES supernet.

Example::

    python tools/export_assignment.py \
        configs/search/cakes_r50_search_c_sthv1.py \
        work_dirs/cakes_r50_search_c_sthv1/epoch_70.pth \
        --out work_dirs/cakes_r50_search_c_sthv1/assignment.json

    # beyond the paper: meet a FLOP budget (of the CAKES layers)
    python tools/export_assignment.py CONFIG CKPT --out a.json \
        --flops-budget 40%

    # a latency budget on this device's measured per-shape costs, counts
    # in multiples of 16, on another dataset's search
    python tools/analysis/measure_shape_cost.py CONFIG --out cost.json
    python tools/export_assignment.py CONFIG CKPT --out a.json \
        --cost-table cost.json --latency-budget 50% --align 16 \
        --cfg-options model.cls_head.num_classes=12

The file plugs into the backbone: ``model.backbone.assignment=a.json``.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import cakes_mmaction  # noqa: F401  (repairs the stack first)
from cakes_mmaction.search import export_assignment
from cakes_mmaction.search.export import SCORE_SPLITS, SCORES


def parse_args(argv=None):
    from mmengine.config import DictAction
    parser = argparse.ArgumentParser(
        description='Export the assignment of a CAKES search checkpoint: '
        'per layer the top-C candidates by |gamma| (the paper), or a '
        'global parameter/FLOP budget.')
    parser.add_argument('config', help='search config file')
    parser.add_argument('checkpoint', help='search checkpoint')
    parser.add_argument(
        '--out', required=True, help='assignment file (.json or .yaml)')
    budget = parser.add_mutually_exclusive_group()
    budget.add_argument(
        '--flops-budget',
        help='budget on the multiply-adds of the CAKES layers: a number '
        '(3.2e9, 3.2G) or a percentage of the all-3x3x3 network (40%%)')
    budget.add_argument(
        '--params-budget',
        help='the same on the parameters of the CAKES layers')
    budget.add_argument(
        '--latency-budget',
        help='budget on the latency of the CAKES layers modelled from '
        '--cost-table: seconds (0.004, 4ms, 800us) or a percentage of the '
        'all-3x3x3 network (50%%)')
    parser.add_argument(
        '--cost-table',
        help='measured per-shape cost table (JSON, from tools/analysis/'
        'measure_shape_cost.py); needed by --latency-budget, and adds the '
        'modelled latency to the file')
    parser.add_argument(
        '--align',
        type=int,
        default=1,
        metavar='N',
        help='round every count to a multiple of N (e.g. 16 for '
        'tensor-core tiles); every width must be a multiple of N')
    parser.add_argument(
        '--score',
        choices=list(SCORES),
        default='gamma',
        help="candidate importance: |gamma| (the paper), 'contribution' "
        "(|gamma| x the norm of its conv3 column) or 'taylor' (the loss "
        'change removing the candidate would cause, to first order, '
        'measured on --score-split)')
    parser.add_argument(
        '--score-split',
        choices=list(SCORE_SPLITS),
        default='val',
        help="data loader of the config the 'taylor' score reads "
        '(default: val, held out from the search)')
    parser.add_argument(
        '--score-batches',
        type=int,
        default=None,
        metavar='N',
        help="at most N batches for the 'taylor' score (default: all)")
    parser.add_argument(
        '--match',
        action='store_true',
        help='also spend an unused budget (move channels to costlier '
        'shapes while it allows), to compare networks at equal cost')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override entries of the search config, as in '
        'tools/train.py (e.g. model.cls_head.num_classes=12)')
    parser.add_argument(
        '--input-shape',
        type=int,
        nargs=3,
        default=[8, 224, 224],
        metavar=('T', 'H', 'W'),
        help='clip the costs refer to (default: 8 224 224)')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    assignment = export_assignment(
        args.config,
        args.checkpoint,
        flops_budget=args.flops_budget,
        params_budget=args.params_budget,
        latency_budget=args.latency_budget,
        cost_table=args.cost_table,
        align=args.align,
        match=args.match,
        score=args.score,
        score_split=args.score_split,
        score_batches=args.score_batches,
        input_shape=(1, 3) + tuple(args.input_shape),
        cfg_options=args.cfg_options)
    assignment.save(args.out)
    meta = assignment.meta
    print(f'wrote {args.out}: {len(assignment)} layers, scheme '
          f'{meta["scheme"]}, shape totals {assignment.totals()}')
    print(f'CAKES layers: {meta["flops"]:,} multiply-adds, {meta["params"]:,}'
          f' params; all-3x3x3: {meta["reference"]["flops"]:,} and '
          f'{meta["reference"]["params"]:,}')
    if 'latency' in meta:
        print(f'modelled latency of the CAKES layers: '
              f'{meta["latency"] * 1e3:.4f} ms per clip; all-3x3x3: '
              f'{meta["reference"]["latency"] * 1e3:.4f} ms '
              f'({meta["cost_table"]["device"]})')
    if 'budget' in meta:
        b = meta['budget']
        if b['metric'] == 'latency':
            print(f'latency budget {b["budget"] * 1e3:.4f} ms: reached '
                  f'{b["reached"] * 1e3:.4f} ms')
        else:
            print(f'{b["metric"]} budget {b["budget"]:,}: reached '
                  f'{b["reached"]:,}')


if __name__ == '__main__':
    main()
