"""Measure what one output channel of each kernel shape costs, per layer.

Example::

    python tools/analysis/measure_shape_cost.py \
        configs/search/cakes_search_c_demo.py --shape 1 3 8 32 32 \
        --out work_dirs/cost_cpu.json

The JSON table feeds the C-scheme penalty
(``--cfg-options model.sparsity.cost_table=cost_cpu.json``) and the budget
export (``tools/export_assignment.py --cost-table cost_cpu.json
--latency-budget 50%``) in place of kernel volume. Measure on the device
the searched network will run on.
"""
import argparse
import os
import sys

sys.path.insert(
    0, os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__)))))

import cakes_mmaction  # noqa: F401  (repairs the stack first)
from cakes_mmaction.search import measure_config_costs


def parse_args(argv=None) -> argparse.Namespace:
    from mmengine.config import DictAction
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config', help='search or training config')
    parser.add_argument('--out', required=True, help='cost table (.json)')
    parser.add_argument(
        '--shape', type=int, nargs=5, default=[1, 3, 8, 224, 224],
        metavar=('N', 'C', 'T', 'H', 'W'),
        help='input clip batch (default: 1 3 8 224 224)')
    parser.add_argument('--device', default=None,
                        help='cpu or cuda (default: cuda when available)')
    parser.add_argument('--repeats', type=int, default=5,
                        help='timed rounds')
    parser.add_argument('--statistic', choices=['min', 'median'],
                        default='min',
                        help='kept over the rounds (min: other processes '
                        'only add time)')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override config entries, as in tools/train.py')
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    table = measure_config_costs(
        args.config, args.shape, args.cfg_options, device=args.device,
        repeats=args.repeats, statistic=args.statistic)
    table.save(args.out)
    print(f'wrote {args.out} ({table.meta["device"]})')
    for path, row in table.layers.items():
        cells = '  '.join(f'{s} {v * 1e6:.3f}' for s, v in row.items())
        print(f'{path}: {cells} (us per output channel per clip)')


if __name__ == '__main__':
    main()
