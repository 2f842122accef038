"""Shared checks of the triton tests: the fused op against the reference."""
import contextlib
import copy
from typing import Dict, Optional, Tuple

import pytest
import torch

from cakes_mmaction.layers import CAKESConv3d
from cakes_mmaction.layers.triton_conv import fused

#: (N, T, H, W) of the inputs: one 64-row tile in the interpreter.
SMALL = (1, 3, 4, 4)


def kernel_device() -> str:
    """``'cpu'`` where the kernels are interpreted, else ``'cuda'``."""
    pytest.importorskip('triton', reason='triton is not installed (the '
                        'tests requirements install it)')
    if fused.kernels_interpreted():
        return 'cpu'
    if torch.cuda.is_available():
        return 'cuda'
    pytest.fail('no CUDA device and the triton kernels were defined '
                'without TRITON_INTERPRET=1 (imported before the conftest '
                'of tests/layers/triton_conv?)')


def make_layer(counts: Dict[str, int],
               in_channels: int = 5,
               stride: Tuple[int, int] = (1, 1),
               bias: bool = False,
               seed: int = 0) -> CAKESConv3d:
    """A reference layer with random weights (and a non-zero bias)."""
    torch.manual_seed(seed)
    layer = CAKESConv3d(in_channels, counts, temporal_stride=stride[0],
                        spatial_stride=stride[1], bias=bias)
    if bias:
        for branch in layer.branches.values():
            torch.nn.init.normal_(branch.bias)
    return layer


def rel_error(got: torch.Tensor, want: torch.Tensor) -> float:
    """Largest absolute difference over the largest reference magnitude."""
    got, want = got.double().cpu(), want.double().cpu()
    return ((got - want).abs().max() / want.abs().max().clamp_min(1e-30)
            ).item()


@contextlib.contextmanager
def tf32(allowed: bool):
    """Allow or forbid TF32 in torch's (and so the kernels') fp32 convs."""
    before = torch.backends.cudnn.allow_tf32
    torch.backends.cudnn.allow_tf32 = allowed
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32 = before


def check_against_reference(layer: CAKESConv3d,
                            size: Tuple[int, int, int, int] = SMALL,
                            dtype: torch.dtype = torch.float32,
                            tol: float = 1e-5,
                            device: Optional[str] = None,
                            allow_tf32: bool = False) -> Dict[str, float]:
    """Forward and every gradient of the fused op vs the reference.

    The reference runs in fp32 on CPU, in fp64 on CUDA, on the same values
    the fused op gets (rounded to ``dtype`` first).

    Returns:
        dict[str, float]: Relative error per compared tensor.
    """
    device = device or kernel_device()
    n, t, h, w = size
    torch.manual_seed(1)
    x = torch.randn(n, layer.in_channels, t, h, w).to(dtype)
    fused_layer = copy.deepcopy(layer).to(device=device, dtype=dtype)
    ref_dtype = torch.float64 if device == 'cuda' else torch.float32
    ref_layer = copy.deepcopy(fused_layer).to(device=device, dtype=ref_dtype)

    # Separate leaves (.to() may return x itself): separate .grad.
    x_ref = x.to(device=device, dtype=ref_dtype).clone().requires_grad_()
    y_ref = ref_layer.reference_forward(x_ref)
    grad_y = torch.randn(y_ref.shape).to(dtype)
    y_ref.backward(grad_y.to(device=device, dtype=ref_dtype))

    x_fused = x.to(device).clone().requires_grad_()
    with tf32(allow_tf32):
        y = fused.fused_forward(fused_layer, x_fused)
        assert y.dtype == dtype and y.shape == y_ref.shape
        assert y.is_contiguous(memory_format=torch.channels_last_3d)
        y.backward(grad_y.to(device))

    errors = {'y': rel_error(y, y_ref), 'grad_x': rel_error(
        x_fused.grad, x_ref.grad)}
    for name, branch in fused_layer.branches.items():
        ref = ref_layer.branches[name]
        errors[f'{name}.weight'] = rel_error(branch.weight.grad,
                                             ref.weight.grad)
        if branch.bias is not None:
            errors[f'{name}.bias'] = rel_error(branch.bias.grad,
                                               ref.bias.grad)
    bad = {k: v for k, v in errors.items() if not v <= tol}
    assert not bad, f'relative errors above {tol}: {bad} (all: {errors})'
    return errors
