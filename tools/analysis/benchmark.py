"""Benchmark CAKES networks (or each CAKES layer) against 3D baselines.

Examples::

    # every model side by side, 2 clips of 8x224x224 (see docs/benchmark.md)
    python tools/analysis/benchmark.py --out-json b.json --out-md b.md
    # a shorter run
    python tools/analysis/benchmark.py --shape 2 3 8 112 112 \
        --models cakes123d_p all_1x3x3 --repeats 3 --no-memory
    # each CAKES layer of a preset against the dense conv it replaces,
    # every registered implementation
    python tools/analysis/benchmark.py --per-layer --models cakes123d_p
    # the GPU preset: per-layer table + 4 networks at batch 8, 8x224x224
    python tools/analysis/benchmark.py --quick --device cuda --dtype bf16 \
        --channels-last --out-json quick.json --out-md quick.md
"""
import argparse
import os
import sys

sys.path.insert(
    0, os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__)))))

import cakes_mmaction  # noqa: E402,F401  (repairs the stack first)
from cakes_mmaction.analysis import benchmark  # noqa: E402
from cakes_mmaction.analysis.benchmark_models import model_names  # noqa: E402
from cakes_mmaction.layers.cakes_conv_impl import impl_choices  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument(
        '--shape', type=int, nargs=5, default=None,
        metavar=('N', 'C', 'T', 'H', 'W'),
        help='input (default 2 3 8 224 224; --quick: 8 3 8 224 224); N is '
        'the larger batch (forward is also timed at batch 1; the per-layer '
        'mode uses --layer-batch)')
    parser.add_argument(
        '--models', nargs='+', default=None, choices=model_names(),
        metavar='MODEL',
        help=f'models (default: all; per-layer: cakes123d_p); one of '
        f'{", ".join(model_names())}')
    parser.add_argument('--repeats', type=int, default=None,
                        help='timed rounds, medians are reported (default '
                        '3; --quick: 10)')
    parser.add_argument('--warmup', type=int, default=None,
                        help='untimed calls per model first (default 1; '
                        '--quick: 3)')
    parser.add_argument(
        '--impl', nargs='+', default=None, choices=list(impl_choices()),
        help=f'CAKES layer implementation(s) (default: '
        f'{benchmark.DEFAULT_IMPL}; per-layer: all of them)')
    parser.add_argument(
        '--dtype', default='fp32', choices=['fp32', 'bf16', 'fp16'],
        help='bf16/fp16: forward under torch.autocast')
    parser.add_argument(
        '--quick', action='store_true',
        help='the per-layer table of cakes123d_p and the all_3x3x3 / '
        'cakes123d_p / cakes12d_p / all_1x3x3 comparison, batch 8, '
        '8x224x224 (meant for --device cuda)')
    parser.add_argument('--layer-batch', type=int, default=None,
                        help='batch of the per-layer mode (default 1; '
                        '--quick: N)')
    parser.add_argument('--threads', type=int, default=None,
                        help='torch.set_num_threads')
    parser.add_argument('--device', default='cpu', help="'cpu' or 'cuda'")
    parser.add_argument('--no-memory', action='store_true',
                        help='skip the peak training memory processes')
    parser.add_argument('--channels-last', action='store_true',
                        help='models and inputs in channels_last_3d')
    parser.add_argument('--per-layer', action='store_true',
                        help='time each CAKES layer against its dense conv')
    parser.add_argument(
        '--allocator', default=benchmark.ALLOCATORS[0],
        choices=benchmark.ALLOCATORS,
        help="'cached': glibc malloc keeps freed memory (no page faults "
        "on every forward; see cakes_mmaction.harness.engine.cpu_allocator); "
        "'system': malloc as it is")
    parser.add_argument('--out-json', help='write the results as JSON')
    parser.add_argument('--out-md', help='write the markdown report')
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    result = benchmark.run_benchmark(
        shape=args.shape,
        models=args.models,
        repeats=args.repeats,
        warmup=args.warmup,
        impls=args.impl,
        threads=args.threads,
        device=args.device,
        memory=not args.no_memory,
        channels_last=args.channels_last,
        per_layer=args.per_layer,
        allocator=args.allocator,
        out_json=args.out_json,
        out_md=args.out_md,
        dtype=args.dtype,
        quick=args.quick,
        layer_batch=args.layer_batch)
    print(result['markdown'])


if __name__ == '__main__':
    main()
