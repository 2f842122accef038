"""The command line of ``tools/analysis/benchmark.py``, as a library.

:mod:`cakes_mmaction.analysis.gpu_check` checks the benchmark command it
plans against this parser (in process), and the tool parses with it.
"""
import argparse
from typing import List, Optional

from ..layers.cakes_conv_impl import impl_choices
from . import benchmark
from .benchmark_models import model_names

__all__ = ['build_parser', 'parse_args']

_DESCRIPTION = ('Benchmark CAKES networks (or each CAKES layer) against 3D '
                'baselines.')


def build_parser() -> argparse.ArgumentParser:
    """The benchmark's argument parser (see ``docs/benchmark.md``)."""
    parser = argparse.ArgumentParser(description=_DESCRIPTION)
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
    parser.add_argument(
        '--width-scale', type=float, default=1.0, metavar='S',
        help='narrow every model alike: stem 64 x S channels, same depth '
        'and strides, presets scaled layer by layer (0.5, 0.25, 0.125, '
        '...); for tests and plumbing checks, recorded in the JSON and the '
        'report header (default 1: the real networks)')
    parser.add_argument('--out-json', help='write the results as JSON')
    parser.add_argument('--out-md', help='write the markdown report')
    return parser


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Parse the benchmark's command line.

    Args:
        argv (list[str], optional): Arguments; ``sys.argv[1:]`` when None.

    Returns:
        argparse.Namespace: The options of
        :func:`~cakes_mmaction.analysis.benchmark.run_benchmark`.
    """
    return build_parser().parse_args(argv)
