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
"""
from typing import Optional, Tuple

import torch

from .cakes_plan import Plan
from .cakes_plan_run import run_plan
from .impl_auto import (auto_cache, auto_choice, auto_key, cache_path,
                        clear_auto_cache, key_string, set_cache_dir)
from .impl_plans import fast_plan, records_grad
from .impl_registry import RESERVED, get_impl, impl_names

__all__ = [
    'IMPLS', 'check_impl', 'run_plan', 'impl_forward', 'fast_plan',
    'auto_cache', 'clear_auto_cache', 'set_impl', 'layer_plan',
    'impl_choices', 'chosen_impl', 'auto_key', 'key_string', 'cache_path',
    'set_cache_dir'
]


def impl_choices() -> Tuple[str, ...]:
    """Every valid ``impl`` value: the registered names, then ``'auto'``."""
    return impl_names() + RESERVED


class _ImplChoices(tuple):
    """:data:`IMPLS`: a live view of :func:`impl_choices`."""

    def __new__(cls):
        return super().__new__(cls)

    def _now(self) -> Tuple[str, ...]:
        return impl_choices()

    def __iter__(self):
        return iter(self._now())

    def __len__(self) -> int:
        return len(self._now())

    def __contains__(self, item) -> bool:
        return item in self._now()

    def __getitem__(self, index):
        return self._now()[index]

    def __eq__(self, other) -> bool:
        return tuple(self._now()) == other

    def __hash__(self) -> int:
        return hash(self._now())

    def __repr__(self) -> str:
        return repr(self._now())


#: Valid ``impl`` values, registered implementations included (live).
IMPLS = _ImplChoices()


def check_impl(impl: str, where: str = '') -> str:
    """Validate an ``impl`` name.

    Args:
        impl (str): A registered name or ``'auto'``.
        where (str): Prefix for the error message. Defaults to ``''``.

    Returns:
        str: ``impl``.
    """
    choices = impl_choices()
    if impl not in choices:
        raise ValueError(
            f'{where}impl must be one of {choices}, got {impl!r}')
    return impl


def layer_plan(layer, x: torch.Tensor) -> Optional[Plan]:
    """The plan a layer runs for an input (None for impls without one).

    For ``'auto'`` the plan of the implementation it chose (measuring on a
    miss, as a forward would).
    """
    name = layer.impl
    if name == 'auto':
        name = auto_choice(layer, x, records_grad(layer, x))
    impl = get_impl(name)
    return impl.plan(layer, x) if hasattr(impl, 'plan') else None


def chosen_impl(layer, x: torch.Tensor) -> str:
    """The registered implementation a layer runs for an input."""
    if layer.impl == 'auto':
        return auto_choice(layer, x, records_grad(layer, x))
    return layer.impl


def impl_forward(layer, x: torch.Tensor) -> torch.Tensor:
    """Forward of a layer through its registered ``impl`` (or ``auto``).

    Args:
        layer (CAKESConv3d): The layer.
        x (Tensor): Input ``(N, C_in, T, H, W)``.

    Returns:
        Tensor: Output equal to the reference forward's.
    """
    if layer.impl == 'auto':
        impl = get_impl(auto_choice(layer, x, records_grad(layer, x)))
        return impl.forward(layer, x)
    impl = get_impl(layer.impl)
    reason = impl.available(layer, x)
    if reason is not None:
        raise RuntimeError(
            f'layer {layer.layer_name!r}: impl {layer.impl!r} cannot run '
            f'on input {tuple(x.shape)} {x.dtype} {x.device}: {reason}')
    return impl.forward(layer, x)


def set_impl(model: torch.nn.Module, impl: str) -> int:
    """Set ``impl`` on every CAKES layer of a model.

    Args:
        model (nn.Module): Any module.
        impl (str): One of :data:`IMPLS`.

    Returns:
        int: Number of layers changed.
    """
    from .sites import find_cakes_layers
    check_impl(impl)
    layers = find_cakes_layers(model)
    for layer in layers.values():
        layer.impl = impl
    return len(layers)
