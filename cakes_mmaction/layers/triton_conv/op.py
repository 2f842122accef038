"""The fused convolution as ``torch.library`` custom ops with autograd.

``cakes_mmaction::triton_conv3d(x, weight, bias, counts, dims, stride)``
computes a CAKES layer from packed weights (:mod:`.geometry`). Its
backward calls two more ops, the input gradient and the packed weight
gradient, so ``torch.compile`` sees three opaque ops with fake kernels and
no graph break. Defining the ops needs no triton: the kernels are imported
the first time an op runs.
"""
from typing import List, Optional

import torch
from torch import Tensor

from .geometry import ConvGeometry, output_size

__all__ = [
    'triton_conv3d', 'triton_conv3d_input_grad', 'triton_conv3d_weight_grad'
]

_CL = torch.channels_last_3d


def _launch():
    from . import launch
    return launch


def _geometry(counts, dims, stride) -> ConvGeometry:
    return ConvGeometry.from_lists(counts, dims, stride)


@torch.library.custom_op('cakes_mmaction::triton_conv3d', mutates_args=())
def triton_conv3d(x: Tensor, weight: Tensor, bias: Optional[Tensor],
                  counts: List[int], dims: List[int],
                  stride: List[int]) -> Tensor:
    """Forward of a CAKES layer; output channels_last_3d, ``x``'s dtype.

    Args:
        x (Tensor): ``(N, C_in, T, H, W)``.
        weight (Tensor): Packed weights, ``x``'s dtype.
        bias (Tensor, optional): ``(C_out,)``.
        counts (list[int]): Output channels per shape (all > 0).
        dims (list[int]): ``t, h, w`` per shape, flat.
        stride (list[int]): ``sT, sH, sW``.

    Returns:
        Tensor: ``(N, C_out, T', H', W')``.
    """
    return _launch().conv_forward(
        x.contiguous(memory_format=_CL), weight.contiguous(),
        None if bias is None else bias.contiguous(),
        _geometry(counts, dims, stride))


@triton_conv3d.register_fake
def _(x, weight, bias, counts, dims, stride):
    size = output_size(_geometry(counts, dims, stride), x.shape)
    return x.new_empty(size).contiguous(memory_format=_CL)


@torch.library.custom_op(
    'cakes_mmaction::triton_conv3d_input_grad', mutates_args=())
def triton_conv3d_input_grad(grad_y: Tensor, weight: Tensor,
                             x_shape: List[int], counts: List[int],
                             dims: List[int], stride: List[int]) -> Tensor:
    """Gradient of :func:`triton_conv3d` to ``x`` (``grad_y``'s dtype)."""
    return _launch().conv_input_grad(
        grad_y.contiguous(memory_format=_CL), weight.contiguous(),
        tuple(x_shape), _geometry(counts, dims, stride))


@triton_conv3d_input_grad.register_fake
def _(grad_y, weight, x_shape, counts, dims, stride):
    return grad_y.new_empty(x_shape).contiguous(memory_format=_CL)


@torch.library.custom_op(
    'cakes_mmaction::triton_conv3d_weight_grad', mutates_args=())
def triton_conv3d_weight_grad(x: Tensor, grad_y: Tensor, counts: List[int],
                              dims: List[int], stride: List[int]) -> Tensor:
    """Gradient of :func:`triton_conv3d` to the packed weight (fp32)."""
    return _launch().conv_weight_grad(
        x.contiguous(memory_format=_CL), grad_y.contiguous(memory_format=_CL),
        _geometry(counts, dims, stride))


@triton_conv3d_weight_grad.register_fake
def _(x, grad_y, counts, dims, stride):
    geometry = _geometry(counts, dims, stride)
    numel = sum(geometry.weight_sizes(x.shape[1]))
    return x.new_empty((numel, ), dtype=torch.float32)


def _setup_context(ctx, inputs, output) -> None:
    x, weight, bias, counts, dims, stride = inputs
    ctx.save_for_backward(x, weight)
    ctx.geometry = (counts, dims, stride)
    ctx.bias_dtype = None if bias is None else bias.dtype


def _backward(ctx, grad_y):
    x, weight = ctx.saved_tensors
    counts, dims, stride = ctx.geometry
    grad_y = grad_y.to(x.dtype).contiguous(memory_format=_CL)
    grad_x = grad_w = grad_b = None
    if ctx.needs_input_grad[0]:
        grad_x = triton_conv3d_input_grad(grad_y, weight, list(x.shape),
                                          counts, dims, stride)
    if ctx.needs_input_grad[1]:
        grad_w = triton_conv3d_weight_grad(x, grad_y, counts, dims,
                                           stride).to(weight.dtype)
    if ctx.bias_dtype is not None and ctx.needs_input_grad[2]:
        grad_b = grad_y.sum((0, 2, 3, 4),
                            dtype=torch.float32).to(ctx.bias_dtype)
    return grad_x, grad_w, grad_b, None, None, None


triton_conv3d.register_autograd(_backward, setup_context=_setup_context)
