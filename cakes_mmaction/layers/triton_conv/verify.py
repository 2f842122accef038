"""How far the fused op is from the layer's definition, per tensor.

Used by the tests (interpreted on CPU, compiled on CUDA) and by the GPU
check tool. The reference runs in fp32 on CPU and in fp64 on CUDA (where
TF32 would blur it), on the values the fused op gets after rounding to its
dtype; the output gradient is random.
"""
import contextlib
import copy
from typing import Dict, Iterator, Sequence

import torch

from .fused import fused_forward

__all__ = ['rel_error', 'tf32', 'relative_errors']


def rel_error(got: torch.Tensor, want: torch.Tensor) -> float:
    """Largest absolute difference over the largest reference magnitude."""
    got, want = got.detach().double().cpu(), want.detach().double().cpu()
    scale = want.abs().max().clamp_min(1e-30)
    return ((got - want).abs().max() / scale).item()


@contextlib.contextmanager
def tf32(allowed: bool) -> Iterator[None]:
    """Allow or forbid TF32 in fp32 convolutions (torch's and ours)."""
    before = torch.backends.cudnn.allow_tf32
    torch.backends.cudnn.allow_tf32 = allowed
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32 = before


def relative_errors(layer,
                    size: Sequence[int],
                    dtype: torch.dtype = torch.float32,
                    device: str = 'cpu',
                    allow_tf32: bool = False,
                    seed: int = 1) -> Dict[str, float]:
    """Forward and every gradient of the fused op vs the reference.

    Args:
        layer (CAKESConv3d): The layer (not modified: copies are run).
        size (Sequence[int]): Input ``(N, T, H, W)``.
        dtype (torch.dtype): Dtype of the fused run. Defaults to fp32.
        device (str): Where both run. Defaults to ``'cpu'``.
        allow_tf32 (bool): TF32 for fp32 fused runs. Defaults to False.
        seed (int): Seed of the input and output gradient. Defaults to 1.

    Returns:
        dict[str, float]: :func:`rel_error` of ``y``, ``grad_x`` and every
        branch's ``<shape>.weight`` (and ``.bias``) gradient.
    """
    n, t, h, w = size
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, layer.in_channels, t, h, w, generator=gen).to(dtype)
    fused_layer = copy.deepcopy(layer).to(device=device, dtype=dtype)
    ref_dtype = torch.float64 if device.startswith('cuda') else \
        torch.float32
    ref_layer = copy.deepcopy(fused_layer).to(device=device, dtype=ref_dtype)

    # Separate leaves (.to() may return x itself), so separate .grad.
    x_ref = x.to(device=device, dtype=ref_dtype).clone().requires_grad_()
    y_ref = ref_layer.reference_forward(x_ref)
    grad_y = torch.randn(y_ref.shape, generator=gen).to(dtype)
    y_ref.backward(grad_y.to(device=device, dtype=ref_dtype))

    x_fused = x.to(device).clone().requires_grad_()
    with tf32(allow_tf32):
        y = fused_forward(fused_layer, x_fused)
        if y.dtype != dtype or y.shape != y_ref.shape:
            raise AssertionError(f'fused output {y.dtype} {tuple(y.shape)}, '
                                 f'expected {dtype} {tuple(y_ref.shape)}')
        if not y.is_contiguous(memory_format=torch.channels_last_3d):
            raise AssertionError('fused output is not channels_last_3d')
        y.backward(grad_y.to(device))

    errors = {
        'y': rel_error(y, y_ref),
        'grad_x': rel_error(x_fused.grad, x_ref.grad)
    }
    for name, branch in fused_layer.branches.items():
        ref = ref_layer.branches[name]
        errors[f'{name}.weight'] = rel_error(branch.weight.grad,
                                             ref.weight.grad)
        if branch.bias is not None:
            errors[f'{name}.bias'] = rel_error(branch.bias.grad, ref.bias.grad)
    return errors
