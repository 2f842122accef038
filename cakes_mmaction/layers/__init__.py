"""Pure-torch CAKES operators (no registry imports).

Importing the package registers the stock implementations of
:class:`CAKESConv3d` (:mod:`.impl_plans`, :mod:`.impl_taps`,
:mod:`.triton_conv`).
"""
from . import impl_plans  # noqa: F401  (registers reference, fast, dense)
from . import impl_taps  # noqa: F401  (registers taps)
from . import triton_conv  # noqa: F401  (registers triton; no triton import)
from .cakes_conv import CAKESConv3d
from .impl_registry import (CAKESImpl, cached_weights, get_impl, impl_names,
                            register_impl)

__all__ = [
    'CAKESConv3d', 'CAKESImpl', 'register_impl', 'get_impl', 'impl_names',
    'cached_weights'
]
