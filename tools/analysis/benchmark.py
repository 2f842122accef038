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
    # the same code path, every network at 1/8 of its widths (a cheap
    # check; the header says NARROW)
    python tools/analysis/benchmark.py --quick --shape 2 3 2 8 8 \
        --width-scale 0.125 --no-memory
"""
import os
import sys

sys.path.insert(
    0, os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__)))))

import cakes_mmaction  # noqa: F401  (repairs the stack first)
from cakes_mmaction.analysis import benchmark
from cakes_mmaction.analysis.benchmark_cli import parse_args


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
        layer_batch=args.layer_batch,
        width_scale=args.width_scale)
    print(result['markdown'])


if __name__ == '__main__':
    main()
