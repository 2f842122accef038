"""Compile the kernels for a CUDA architecture without a GPU.

Triton builds PTX and cubin (its bundled ``ptxas``) without a device, so a
CPU machine can check that every autotune configuration of the compiled
path builds, which the interpreter does not. Run it in a process without
``TRITON_INTERPRET``::

    python -m cakes_mmaction.layers.triton_conv.aot --arch 90
"""
import argparse
from typing import Dict, Sequence

__all__ = ['compile_kernels']

_DTYPES = {'bf16': 'ieee', 'fp16': 'ieee', 'fp32': 'tf32'}


def _signature(fn, pointers: Dict[str, str], constexprs: dict) -> dict:
    return {
        name: 'constexpr' if name in constexprs else pointers.get(name, 'i32')
        for name in fn.arg_names
    }


def compile_kernels(arch: int = 90,
                    dtypes: Sequence[str] = ('bf16', ),
                    all_configs: bool = False,
                    num_shapes: int = 3) -> Dict[str, int]:
    """Compile forward, input- and weight-gradient kernels.

    Args:
        arch (int): Compute capability as ``major * 10 + minor``.
        dtypes (Sequence[str]): Of ``'bf16'``, ``'fp16'``, ``'fp32'``.
        all_configs (bool): Every autotune configuration, not only the
            first. Defaults to False.
        num_shapes (int): Shapes of the layer. Defaults to 3.

    Returns:
        dict[str, int]: Shared memory bytes per compiled variant.
    """
    import triton
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource

    from . import kernels
    if kernels.INTERPRETED:
        raise RuntimeError('kernels were defined under TRITON_INTERPRET=1; '
                           'compile in a process without it')
    target = GPUTarget('cuda', arch, 32)
    jobs = [('fwd', kernels.cakes_fwd_kernel, dict(HAS_BIAS=True),
             ('x_ptr', 'w_ptr', 'b_ptr', 'y_ptr')),
            ('dgrad', kernels.cakes_dgrad_kernel, {}, ('gy_ptr', 'w_ptr',
                                                       'gx_ptr')),
            ('wgrad', kernels.cakes_wgrad_kernel, dict(ATOMIC=False),
             ('x_ptr', 'gy_ptr'))]
    shared = {}
    for dtype in dtypes:
        for name, tuner, consts, data in jobs:
            fn = tuner.fn
            pointers = {p: f'*{dtype}' for p in data}
            pointers.update(tab_ptr='*i32', tap_ptr='*i32', part_ptr='*fp32')
            configs = tuner.configs if all_configs else tuner.configs[:1]
            for config in configs:
                constexprs = dict(
                    consts, PRECISION=_DTYPES[dtype], **config.kwargs)
                if 'NUM_SHAPES' in fn.arg_names:
                    constexprs['NUM_SHAPES'] = num_shapes
                source = ASTSource(
                    fn=fn,
                    signature=_signature(fn, pointers, constexprs),
                    constexprs=constexprs)
                kernel = triton.compile(
                    source,
                    target=target,
                    options=dict(
                        num_warps=config.num_warps,
                        num_stages=config.num_stages))
                blocks = 'x'.join(str(v) for v in config.kwargs.values())
                shared[f'{name}:{dtype}:{blocks}'] = kernel.metadata.shared
    return shared


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--arch', type=int, default=90)
    parser.add_argument(
        '--dtypes',
        nargs='+',
        default=['bf16', 'fp32'],
        choices=sorted(_DTYPES))
    parser.add_argument('--first-only', action='store_true')
    args = parser.parse_args(argv)
    for key, size in compile_kernels(args.arch, args.dtypes,
                                     not args.first_only).items():
        print(f'{key:32s} shared {size:7d} B')


if __name__ == '__main__':
    main()
