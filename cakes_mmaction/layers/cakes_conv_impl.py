"""Choosing and running an implementation of :class:`CAKESConv3d`.

``impl`` of a layer is a name registered in
:mod:`~cakes_mmaction.layers.impl_registry` or ``'auto'``:

- ``'reference'``: one ``Conv3d`` per branch, then one concatenation (the
  layer's own ``forward``).
- ``'fast'``: the :func:`~cakes_mmaction.layers.cakes_plan.block_plan` for
  the device's output-channel block (no measuring, deterministic).
- ``'dense'``: one convolution with zero-padded sub-kernels, the speed of
  the dense convolution the layer replaces.
- ``'taps'``: the temporal-tap decomposition, one ``conv2d`` per spatial
  slice over the frames and one shift-add (:mod:`.impl_taps`).
- ``'auto'``: the fastest available implementation whose memory stays
  within 10% of the reference's, measured once per layer geometry and
  input (forward, or forward + backward when autograd records), kept for
  the process and in a per-device file (:mod:`.impl_auto`).

Every implementation computes the same function of the branch parameters
with the same gradients, so the state dict does not change.

This module is the public face of that machinery: the per-layer dispatch
lives in :mod:`.impl_dispatch` (which :mod:`.cakes_conv` imports, so it
cannot import the layer class), and :func:`set_impl`, which finds a
model's layers (:mod:`.sites`), lives here, above both.
"""
import torch

from .cakes_plan_run import run_plan
from .impl_auto import (auto_cache, auto_key, cache_path, clear_auto_cache,
                        key_string, set_cache_dir)
from .impl_dispatch import (IMPLS, check_impl, chosen_impl, impl_choices,
                            impl_forward, layer_plan)
from .impl_plans import fast_plan
from .sites import find_cakes_layers

__all__ = [
    'IMPLS', 'check_impl', 'run_plan', 'impl_forward', 'fast_plan',
    'auto_cache', 'clear_auto_cache', 'set_impl', 'layer_plan',
    'impl_choices', 'chosen_impl', 'auto_key', 'key_string', 'cache_path',
    'set_cache_dir'
]


def set_impl(model: torch.nn.Module, impl: str) -> int:
    """Set ``impl`` on every CAKES layer of a model.

    Args:
        model (nn.Module): Any module.
        impl (str): One of :data:`IMPLS`.

    Returns:
        int: Number of layers changed.
    """
    check_impl(impl)
    layers = find_cakes_layers(model)
    for layer in layers.values():
        layer.impl = impl
    return len(layers)
