"""Registers the fused triton convolution as ``impl='triton'``."""
from typing import Optional

import torch

from ..impl_registry import CAKESImpl, register_impl
from .fused import fused_forward, unavailable_reason

__all__ = ['TritonImpl']


@register_impl('triton')
class TritonImpl(CAKESImpl):
    """Implicit-GEMM triton kernels: one launch per layer and pass.

    Available where triton imports and the input is on a CUDA device, with
    dilation 1; :meth:`available` names what is missing otherwise.
    """

    #: Accept triton's CPU interpreter (``TRITON_INTERPRET=1``). Tests set
    #: it; ``auto`` must never pick an interpreted kernel.
    allow_interpreter: bool = False

    def available(self, layer, x: torch.Tensor) -> Optional[str]:
        return unavailable_reason(layer, x, self.allow_interpreter)

    def forward(self, layer, x: torch.Tensor) -> torch.Tensor:
        return fused_forward(layer, x)

    def peak_bytes(self, layer, x: torch.Tensor, train: bool) -> Optional[int]:
        # Only ever run on CUDA, where auto reads the allocator's peak;
        # None keeps auto from choosing it on devices without one.
        return None
