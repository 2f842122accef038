"""Dispatching a CAKES layer's forward to its ``impl``.

These functions take a layer (anything with the attributes of
:class:`~cakes_mmaction.layers.CAKESConv3d`) and never import the layer's
class, so :mod:`.cakes_conv` can import them; the implementations
themselves are described in :mod:`.cakes_conv_impl`.
"""
from typing import Optional, Tuple

import torch

from .cakes_plan import Plan
from .impl_auto import auto_choice
from .impl_plans import records_grad
from .impl_registry import RESERVED, get_impl, impl_names

__all__ = [
    'IMPLS', 'impl_choices', 'check_impl', 'layer_plan', 'chosen_impl',
    'impl_forward'
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
