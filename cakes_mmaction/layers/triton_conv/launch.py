"""Host side of the fused kernels: checks, tables, grids, launches.

Every function takes channels-last-contiguous 5D tensors (the custom op
makes them so) and a :class:`~.geometry.ConvGeometry`; this module imports
triton through :mod:`.kernels`, so import it lazily.
"""
import math
import os
from typing import Dict, Optional, Tuple

import torch
import triton

from . import kernels
from .geometry import TABLE_WIDTH, ConvGeometry

__all__ = [
    'conv_forward', 'conv_input_grad', 'conv_weight_grad', 'precision',
    'deterministic_wgrad'
]

_CL = torch.channels_last_3d
_TABLES: Dict[tuple, torch.Tensor] = {}

#: Environment variable: ``1`` makes the weight gradient add split-K
#: partials with atomics (faster, order-dependent) instead of summing a
#: partial buffer (the default, bit-reproducible).
ATOMIC_ENV = 'CAKES_TRITON_ATOMIC_WGRAD'


def deterministic_wgrad() -> bool:
    """Whether weight-gradient partials are summed in a fixed order."""
    return os.environ.get(ATOMIC_ENV, '0') != '1' or \
        torch.are_deterministic_algorithms_enabled()


def precision(dtype: torch.dtype) -> str:
    """``tl.dot`` input precision: TF32 for fp32 where torch allows it.

    Follows ``torch.backends.cudnn.allow_tf32``, the switch torch's own
    convolutions obey; the interpreter always computes in IEEE fp32.
    """
    if dtype == torch.float32 and not kernels.INTERPRETED and \
            torch.backends.cudnn.allow_tf32:
        return 'tf32'
    return 'ieee'


def _table(rows, device: torch.device) -> torch.Tensor:
    key = (tuple(map(tuple, rows)), str(device))
    table = _TABLES.get(key)
    if table is None:
        table = torch.tensor(rows, dtype=torch.int32, device=device)
        assert table.shape[1] == TABLE_WIDTH
        _TABLES[key] = table
    return table


def _check(name: str, t: torch.Tensor) -> None:
    if t.dim() != 5 or not t.is_contiguous(memory_format=_CL):
        raise ValueError(f'{name} must be a channels_last_3d 5D tensor, got '
                         f'shape {tuple(t.shape)}, strides {t.stride()}')


def _device(t: torch.Tensor):
    if t.device.type == 'cuda':
        return torch.cuda.device(t.device)
    import contextlib
    return contextlib.nullcontext()


def conv_forward(x: torch.Tensor, weight: torch.Tensor,
                 bias: Optional[torch.Tensor],
                 geometry: ConvGeometry) -> torch.Tensor:
    """The layer's output, channels-last, in ``x``'s dtype.

    Args:
        x (Tensor): ``(N, C_in, T, H, W)``, channels_last_3d.
        weight (Tensor): Packed weights (see :mod:`.geometry`).
        bias (Tensor, optional): Concatenated biases ``(C_out,)``.
        geometry (ConvGeometry): Shapes, counts, stride.

    Returns:
        Tensor: ``(N, C_out, T', H', W')``, channels_last_3d.
    """
    _check('x', x)
    n, c, t, h, w = x.shape
    numel = sum(geometry.weight_sizes(c))
    if weight.dtype != x.dtype or weight.numel() != numel:
        raise ValueError(
            f'packed weight must hold {numel} {x.dtype} values for '
            f'{c} input channels and counts {geometry.counts}, got '
            f'{weight.numel()} {weight.dtype}')
    if bias is not None and bias.numel() != geometry.out_channels:
        raise ValueError(f'bias must have {geometry.out_channels} values, '
                         f'got {bias.numel()}')
    to, ho, wo = geometry.output_thw((t, h, w))
    c_out = geometry.out_channels
    y = torch.empty((n, c_out, to, ho, wo),
                    dtype=x.dtype,
                    device=x.device,
                    memory_format=_CL)
    m = n * to * ho * wo
    if m == 0:
        return y
    table = _table(geometry.shape_table(c), x.device)
    counts = geometry.counts

    def grid(meta):
        blocks = sum(triton.cdiv(k, meta['BLOCK_N']) for k in counts)
        return (triton.cdiv(m, meta['BLOCK_M']) * blocks, )

    with _device(x):
        kernels.cakes_fwd_kernel[grid](
            x,
            weight,
            bias if bias is not None else weight,
            y,
            table,
            m,
            c,
            t,
            h,
            w,
            to,
            ho,
            wo,
            c_out,
            *geometry.stride,
            NUM_SHAPES=len(counts),
            HAS_BIAS=bias is not None,
            PRECISION=precision(x.dtype))
    return y


def conv_input_grad(grad_y: torch.Tensor, weight: torch.Tensor,
                    x_shape: Tuple[int, ...],
                    geometry: ConvGeometry) -> torch.Tensor:
    """Gradient of the input, one kernel over every shape and tap.

    Args:
        grad_y (Tensor): Output gradient, channels_last_3d.
        weight (Tensor): Packed weights, ``grad_y``'s dtype.
        x_shape (tuple[int, ...]): The input's shape.
        geometry (ConvGeometry): Shapes, counts, stride.

    Returns:
        Tensor: ``x_shape``, channels_last_3d, ``grad_y``'s dtype.
    """
    _check('grad_y', grad_y)
    n, c, t, h, w = x_shape
    _, c_out, to, ho, wo = grad_y.shape
    if weight.dtype != grad_y.dtype:
        raise ValueError(f'weight {weight.dtype} and output gradient '
                         f'{grad_y.dtype} must have one dtype')
    gx = torch.empty(
        x_shape, dtype=grad_y.dtype, device=grad_y.device, memory_format=_CL)
    m = n * t * h * w
    if m == 0:
        return gx
    table = _table(geometry.shape_table(c), grad_y.device)

    def grid(meta):
        return (triton.cdiv(m, meta['BLOCK_M']) *
                triton.cdiv(c, meta['BLOCK_N']), )

    with _device(grad_y):
        kernels.cakes_dgrad_kernel[grid](
            grad_y,
            weight,
            gx,
            table,
            m,
            c,
            t,
            h,
            w,
            to,
            ho,
            wo,
            c_out,
            *geometry.stride,
            NUM_SHAPES=len(geometry.counts),
            PRECISION=precision(grad_y.dtype))
    return gx


def _split(m: int, tiles: int, weight_numel: int, device: torch.device) -> int:
    # Enough programs to fill the device about four times over, with at
    # least 512 positions per split and the fp32 partials under 1 GiB.
    if device.type == 'cuda':
        sms = torch.cuda.get_device_properties(device).multi_processor_count
    else:
        sms = 1
    split = max(1, math.ceil(4 * sms / max(tiles, 1)))
    split = min(split, max(1, m // 512), max(1, (1 << 28) // weight_numel))
    return split


def conv_weight_grad(x: torch.Tensor,
                     grad_y: torch.Tensor,
                     geometry: ConvGeometry,
                     split: Optional[int] = None,
                     atomic: Optional[bool] = None) -> torch.Tensor:
    """Gradient of the packed weights, per (shape, tap) with split-K.

    Args:
        x (Tensor): The input, channels_last_3d.
        grad_y (Tensor): Output gradient, channels_last_3d, ``x``'s dtype.
        geometry (ConvGeometry): Shapes, counts, stride.
        split (int, optional): Number of position chunks; by default
            chosen from the device's size.
        atomic (bool, optional): Add the chunks with atomics; defaults to
            not :func:`deterministic_wgrad`.

    Returns:
        Tensor: Packed fp32 gradient, flat.
    """
    _check('x', x)
    _check('grad_y', grad_y)
    if x.dtype != grad_y.dtype:
        raise ValueError(f'input {x.dtype} and output gradient '
                         f'{grad_y.dtype} must have one dtype')
    n, c, t, h, w = x.shape
    _, c_out, to, ho, wo = grad_y.shape
    numel = sum(geometry.weight_sizes(c))
    m = n * to * ho * wo
    taps = _table(geometry.tap_table(c), x.device)
    pairs = taps.shape[0]
    max_n = max(geometry.counts)
    if split is None:
        split = _split(m,
                       pairs * triton.cdiv(c, 64) * triton.cdiv(max_n, 64),
                       numel, x.device)
    # Chunks are whole multiples of every configuration's BLOCK_K.
    chunk = triton.cdiv(triton.cdiv(max(m, 1), split), 128) * 128
    split = max(1, triton.cdiv(m, chunk))
    if m == 0:
        return torch.zeros(numel, dtype=torch.float32, device=x.device)
    if atomic is None:
        atomic = not deterministic_wgrad()
    atomic = bool(atomic) and split > 1
    if atomic:
        part = torch.zeros((1, numel), dtype=torch.float32, device=x.device)
    else:  # every split writes all of its slice
        part = torch.empty((split, numel),
                           dtype=torch.float32,
                           device=x.device)

    def grid(meta):
        return (pairs * triton.cdiv(c, meta['BLOCK_M']) *
                triton.cdiv(max_n, meta['BLOCK_N']), split)

    with _device(x):
        kernels.cakes_wgrad_kernel[grid](
            x,
            grad_y,
            part,
            taps,
            m,
            c,
            t,
            h,
            w,
            to,
            ho,
            wo,
            c_out,
            *geometry.stride,
            max_n,
            chunk,
            numel,
            ATOMIC=atomic,
            PRECISION=precision(x.dtype))
    return part[0] if part.shape[0] == 1 else part.sum(0)
