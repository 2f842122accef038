"""The fused triton CAKES convolution on a CUDA device, in one command.

Runs, in order: the equivalence of forward, input and weight gradients
with the reference for every CAKES layer of CAKES^P_{1,2,3D} (bf16 < 1e-2
and TF32 < 1e-3 relative error; ``--modes`` adds fp32 < 1e-5); each layer
in every impl next to cuDNN's dense conv (forward and forward+backward,
bf16, channels-last);
whole-network training steps against the all-3x3x3 backbone. Prints a
table and writes ``triton_gpu_check.json`` under ``--out``. See
docs/triton.md.

Example::

    python tools/misc/triton_gpu_check.py --out work_dirs/triton_check
"""
import argparse
import json
import os
import platform
import sys
import time

sys.path.insert(
    0,
    os.path.dirname(
        os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

import torch

import cakes_mmaction  # noqa: F401  (repairs the stack first)
from cakes_mmaction.analysis import triton_check

_DTYPES = dict(bf16=torch.bfloat16, fp16=torch.float16, fp32=torch.float32)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument(
        '--out', required=True, help='folder for triton_gpu_check.json')
    parser.add_argument(
        '--shape',
        type=int,
        nargs=5,
        default=[8, 3, 8, 224, 224],
        metavar=('N', 'C', 'T', 'H', 'W'),
        help='network input of the timings')
    parser.add_argument(
        '--check-shape',
        type=int,
        nargs=5,
        default=[2, 3, 8, 224, 224],
        metavar=('N', 'C', 'T', 'H', 'W'),
        help='network input of the equivalence checks')
    parser.add_argument(
        '--dtype',
        choices=sorted(_DTYPES),
        default='bf16',
        help='dtype of the timings')
    parser.add_argument(
        '--modes',
        nargs='+',
        default=['bf16', 'tf32'],
        choices=list(triton_check.EQUIVALENCE_MODES),
        help='equivalence checks (fp32: IEEE, < 1e-5)')
    parser.add_argument(
        '--impls',
        nargs='+',
        default=['triton', 'dense', 'taps', 'fast', 'reference'],
        help='impls of the per-layer table')
    parser.add_argument(
        '--network-impls',
        nargs='+',
        default=['triton', 'auto', 'dense'],
        help='impls of the network table')
    parser.add_argument(
        '--models',
        nargs='+',
        default=['cakes123d_p', 'cakes12d_p', 'cakes23d_p'],
        help='backbones of the network table')
    parser.add_argument(
        '--repeats',
        type=int,
        default=10,
        help='timed rounds (medians are reported)')
    parser.add_argument(
        '--skip',
        nargs='*',
        default=[],
        choices=['equivalence', 'layers', 'networks'],
        help='parts not to run')
    return parser.parse_args(argv)


def _environment() -> dict:
    import triton
    return dict(
        device=torch.cuda.get_device_name(),
        capability=list(torch.cuda.get_device_capability()),
        torch=torch.__version__,
        cuda=torch.version.cuda,
        cudnn=torch.backends.cudnn.version(),
        triton=triton.__version__,
        python=platform.python_version(),
        date=time.strftime('%Y-%m-%d %H:%M:%S %Z'))


def main(argv=None) -> int:
    args = parse_args(argv)
    if not torch.cuda.is_available():
        print(
            'triton_gpu_check: no CUDA device; this check measures the '
            'compiled kernels on a GPU (CPU tests: pytest '
            'tests/layers/triton_conv)',
            file=sys.stderr)
        return 2
    torch.backends.cudnn.benchmark = True
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, 'triton_gpu_check.json')
    result = dict(environment=_environment(), args=vars(args))

    def save():
        with open(path, 'w') as f:
            json.dump(result, f, indent=1)

    # Saved after each part: a run cut short keeps what it measured.
    if 'equivalence' not in args.skip:
        result['equivalence'] = triton_check.equivalence_rows(
            shape=args.check_shape, modes=args.modes)
        save()
    dtype = _DTYPES[args.dtype]
    if 'layers' not in args.skip:
        result['layers'] = triton_check.layer_rows(
            shape=args.shape,
            dtype=dtype,
            impls=args.impls,
            repeats=args.repeats)
        save()
    if 'networks' not in args.skip:
        result['networks'] = triton_check.network_rows(
            models=args.models,
            impls=args.network_impls,
            shape=args.shape,
            dtype=dtype,
            repeats=args.repeats)
        save()
    print(
        triton_check.format_table(
            result.get('layers', []), result.get('networks', []),
            result.get('equivalence')))
    print(f'written: {path}')
    bad = [r for r in result.get('equivalence', []) if not r['ok']]
    return 1 if bad else 0


if __name__ == '__main__':
    sys.exit(main())
