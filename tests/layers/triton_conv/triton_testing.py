"""Shared checks of the triton tests: the fused op against the reference."""
from typing import Dict, Optional, Tuple

import pytest
import torch

from cakes_mmaction.layers import CAKESConv3d
from cakes_mmaction.layers.triton_conv import fused
from cakes_mmaction.layers.triton_conv.verify import rel_error  # noqa: F401
from cakes_mmaction.layers.triton_conv.verify import relative_errors

#: (N, T, H, W) of the inputs: one 64-row tile in the interpreter.
SMALL = (1, 3, 4, 4)


def kernel_device() -> str:
    """``'cpu'`` where the kernels are interpreted, else ``'cuda'``."""
    pytest.importorskip(
        'triton',
        reason='triton is not installed (the '
        'tests requirements install it)')
    if fused.kernels_interpreted():
        return 'cpu'
    if torch.cuda.is_available():
        return 'cuda'
    pytest.fail('no CUDA device and the triton kernels were defined '
                'without TRITON_INTERPRET=1 (tests/conftest.py sets it '
                'before triton is imported)')


def make_layer(counts: Dict[str, int],
               in_channels: int = 5,
               stride: Tuple[int, int] = (1, 1),
               bias: bool = False,
               seed: int = 0) -> CAKESConv3d:
    """A reference layer with random weights (and a non-zero bias)."""
    torch.manual_seed(seed)
    layer = CAKESConv3d(
        in_channels,
        counts,
        temporal_stride=stride[0],
        spatial_stride=stride[1],
        bias=bias)
    if bias:
        for branch in layer.branches.values():
            torch.nn.init.normal_(branch.bias)
    return layer


def check_against_reference(layer: CAKESConv3d,
                            size: Tuple[int, int, int, int] = SMALL,
                            dtype: torch.dtype = torch.float32,
                            tol: float = 1e-5,
                            device: Optional[str] = None,
                            allow_tf32: bool = False) -> Dict[str, float]:
    """Assert :func:`relative_errors` of every tensor are within ``tol``.

    Returns:
        dict[str, float]: The errors.
    """
    errors = relative_errors(layer, size, dtype, device or kernel_device(),
                             allow_tf32)
    bad = {k: v for k, v in errors.items() if not v <= tol}
    assert not bad, f'relative errors above {tol}: {bad} (all: {errors})'
    return errors
