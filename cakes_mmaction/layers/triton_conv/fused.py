"""A ``CAKESConv3d`` computed by the fused op: availability and forward.

Weights are packed by differentiable torch ops (so autograd maps the
packed gradient back to every branch) or, when autograd does not record,
taken from the layer's weight cache. Under ``torch.autocast`` the input and
weights are cast to the autocast dtype here, outside the op, as autocast
does for ``torch.nn.functional.conv3d``.
"""
import importlib
import os
import sys
from typing import Optional

import torch

from ..impl_registry import cached_weights
from .geometry import layer_geometry, pack_weights
from .op import triton_conv3d

__all__ = [
    'fused_forward', 'unavailable_reason', 'compute_dtype',
    'kernels_interpreted', 'triton_import_error'
]

_CL = torch.channels_last_3d
_DTYPES = (torch.float32, torch.float16, torch.bfloat16)
_IMPORT_ERROR: Optional[str] = None
_IMPORT_CHECKED = False


def triton_import_error() -> Optional[str]:
    """None when triton imports, else why not (checked once)."""
    global _IMPORT_ERROR, _IMPORT_CHECKED
    if not _IMPORT_CHECKED:
        try:
            importlib.import_module('triton')
        except Exception as exc:  # ImportError, or a broken install
            _IMPORT_ERROR = f'triton is not importable ({exc})'
        _IMPORT_CHECKED = True
    return _IMPORT_ERROR


def kernels_interpreted() -> bool:
    """Whether the kernels run (or will run) in triton's CPU interpreter.

    Triton decides when the kernels are defined, from ``TRITON_INTERPRET``;
    once they are, their own flag says.
    """
    kernels = sys.modules.get(__package__ + '.kernels')
    if kernels is not None:
        return kernels.INTERPRETED
    value = os.environ.get('TRITON_INTERPRET', '0').lower()
    return value in ('1', 'true', 'on', 'yes')


# torch.compile calls these environment checks once and keeps the answer
# instead of tracing them (importlib is not traceable). This is what
# torch.compiler.assume_constant_result does; set directly, so importing the
# package imports neither torch._dynamo nor, through it, triton.
triton_import_error._dynamo_marked_constant = True
kernels_interpreted._dynamo_marked_constant = True


def compute_dtype(x: torch.Tensor) -> torch.dtype:
    """The dtype the kernels run in: autocast's where it applies."""
    if torch.is_autocast_enabled(x.device.type) and \
            x.dtype.is_floating_point:
        return torch.get_autocast_dtype(x.device.type)
    return x.dtype


def unavailable_reason(layer,
                       x: torch.Tensor,
                       allow_interpreter: bool = False) -> Optional[str]:
    """Why the fused op cannot run a layer on an input (None if it can).

    Args:
        layer (CAKESConv3d): The layer.
        x (Tensor): Its input.
        allow_interpreter (bool): Accept triton's interpreter (CPU
            tensors, ``TRITON_INTERPRET=1``): for tests only, it is orders
            of magnitude slower than any other implementation. Defaults to
            False.

    Returns:
        str | None: One short sentence, or None.
    """
    if x.device.type != 'cuda' and not allow_interpreter:
        return (f'the input is on {x.device.type}; the triton kernels need '
                f'a CUDA device')
    error = triton_import_error()
    if error is not None:
        return error
    if kernels_interpreted():
        if not allow_interpreter:
            return ('triton runs interpreted (TRITON_INTERPRET=1), far too '
                    'slow to use')
        if x.device.type != 'cpu':
            return 'interpreted triton kernels take CPU tensors'
    elif x.device.type != 'cuda':
        return (f'the input is on {x.device.type}; the triton kernels need '
                f'a CUDA device')
    if x.dim() != 5 or x.shape[1] != layer.in_channels:
        return (f'the input has shape {tuple(x.shape)}; expected (N, '
                f'{layer.in_channels}, T, H, W)')
    dtype = compute_dtype(x)
    if dtype not in _DTYPES:
        return f'{dtype} is not supported (float32, float16, bfloat16 are)'
    # (Eager only: torch.compile need not trace a device query, and the
    # kernel build itself fails on such a GPU.)
    if dtype == torch.bfloat16 and x.device.type == 'cuda' and \
            not torch.compiler.is_compiling() and \
            torch.cuda.get_device_capability(x.device) < (8, 0):
        return 'bfloat16 needs a GPU of compute capability 8.0 or newer'
    geometry = layer_geometry(layer)
    for dims in geometry.dims:
        for extent, dilation in zip(dims, layer.dilation):
            if extent > 1 and dilation != 1:
                return (f'dilation {tuple(layer.dilation)} is not supported '
                        f'(the kernels take dilation 1)')
    return None


def _packed(layer, dtype: torch.dtype, record: bool):
    names = [s for s, n in layer.counts.items() if n]
    branches = [layer.branches[s] for s in names]

    def build():
        weight = pack_weights([b.weight for b in branches]).to(dtype)
        bias = torch.cat([b.bias for b in branches]).to(dtype) \
            if layer.bias_enabled else None
        return weight, bias

    if record or torch.compiler.is_compiling():
        return build()
    return cached_weights(layer, f'triton:{dtype}', build)


def fused_forward(layer, x: torch.Tensor) -> torch.Tensor:
    """The layer's output through the fused op (channels_last_3d).

    Args:
        layer (CAKESConv3d): The layer.
        x (Tensor): Input ``(N, C_in, T, H, W)``.

    Returns:
        Tensor: Output equal to the reference forward's.
    """
    dtype = compute_dtype(x)
    record = torch.is_grad_enabled() and (x.requires_grad
                                          or any(p.requires_grad
                                                 for p in layer.parameters()))
    weight, bias = _packed(layer, dtype, record)
    counts, dims, stride = layer_geometry(layer).as_lists()
    x = x.to(dtype).contiguous(memory_format=_CL)
    return triton_conv3d(x, weight, bias, counts, dims, stride)
