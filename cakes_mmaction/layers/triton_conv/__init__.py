"""A fused triton CAKES convolution, registered as ``impl='triton'``.

Modules, each with one job: :mod:`.geometry` (the layer as the kernels see
it, weight packing), :mod:`.kernels` (the triton kernels), :mod:`.launch`
(tables, grids, launches), :mod:`.op` (``torch.library`` custom ops with
autograd), :mod:`.fused` (availability and the layer forward) and
:mod:`.impl` (registration). Importing this package never imports triton:
the kernels load on first use, so it works (and says why the impl is
unavailable) where triton is missing.
"""
from . import impl  # noqa: F401  (registers 'triton')
from .fused import fused_forward, unavailable_reason
from .geometry import ConvGeometry, layer_geometry, pack_weights

__all__ = [
    'fused_forward', 'unavailable_reason', 'ConvGeometry', 'layer_geometry',
    'pack_weights'
]
