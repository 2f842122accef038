"""The implementation seam of :class:`CAKESConv3d`: a registry of ways to
compute the layer's forward over its own parameters.

An implementation is a :class:`CAKESImpl` subclass registered under a name
with :func:`register_impl`; a layer whose ``impl`` is that name runs its
``forward``. Registration happens when the implementation's module is
imported (``cakes_mmaction.layers`` imports the stock ones), so a new
backend is one module and no edit of the layer.

What an implementation may read off a layer: ``counts`` (shape name ->
output channels, canonical order, zeros kept), ``branches[name].weight`` /
``.bias`` (``(n, C_in, t, h, w)`` Conv3d parameters), ``in_channels``,
``out_channels``, ``kernel_size``, ``stride`` and ``dilation`` (``(T, H,
W)``), ``bias_enabled`` and ``layer_name``. Branch padding is "same" per
shape (``dilation * (extent // 2)`` on axes of extent > 1, no dilation on
axes of extent 1) and the output is the branches' channels in ``counts``
order.

This module depends on torch and the standard library only.
"""
from collections import OrderedDict
from typing import Any, Callable, Optional, Tuple

import torch

__all__ = [
    'CAKESImpl', 'register_impl', 'get_impl', 'impl_names',
    'cached_weights', 'clear_cached_weights'
]


class CAKESImpl:
    """One way to compute ``CAKESConv3d``'s forward over its parameters.

    Subclasses override :meth:`forward` and, where they cannot run
    everywhere, :meth:`available`. :meth:`peak_bytes` lets ``auto`` bound
    their memory where the device has no allocator statistics (CPU).
    """

    #: The registered name (set by :func:`register_impl`).
    name: str = ''

    def available(self, layer, x: torch.Tensor) -> Optional[str]:
        """Whether this implementation can run this layer on this input.

        Args:
            layer (CAKESConv3d): The layer.
            x (Tensor): Its input.

        Returns:
            str | None: None when usable, else the reason in one short
            sentence.
        """
        return None

    def forward(self, layer, x: torch.Tensor) -> torch.Tensor:
        """The layer's output, equal to the reference's, with the same
        gradients to ``x`` and to every branch weight and bias.

        Args:
            layer (CAKESConv3d): The layer.
            x (Tensor): Input ``(N, C_in, T, H, W)``.

        Returns:
            Tensor: Output ``(N, C_out, T', H', W')``.
        """
        raise NotImplementedError

    def peak_bytes(self, layer, x: torch.Tensor,
                   train: bool) -> Optional[int]:
        """Analytic bound of the bytes the forward (and, when ``train``,
        the backward) keeps alive at once, the output and the input
        gradient included, the input excluded.

        Args:
            layer (CAKESConv3d): The layer.
            x (Tensor): Its input.
            train (bool): Whether the backward runs too.

        Returns:
            int | None: Bytes, or None when unknown (then ``auto`` does
            not choose this implementation on devices without allocator
            statistics).
        """
        return None

    def __repr__(self) -> str:
        return f'{type(self).__name__}(name={self.name!r})'


_REGISTRY: 'OrderedDict[str, CAKESImpl]' = OrderedDict()

#: Not an implementation: the layer value that chooses among them.
RESERVED = ('auto', )


def register_impl(name: str,
                  *,
                  force: bool = False) -> Callable[[type], type]:
    """Class decorator: instantiate an implementation once, register it.

    Args:
        name (str): The ``impl`` value that selects it.
        force (bool): Replace an implementation of the same name. Defaults
            to False (a duplicate name raises).

    Returns:
        Callable: The decorator (returns the class unchanged).
    """
    if not isinstance(name, str) or not name or name in RESERVED:
        raise ValueError(f'impl name must be a non-empty string other than '
                         f'{RESERVED}, got {name!r}')

    def decorator(cls: type) -> type:
        if not (isinstance(cls, type) and issubclass(cls, CAKESImpl)):
            raise TypeError(f'impl {name!r}: {cls!r} is not a CAKESImpl '
                            f'subclass')
        if name in _REGISTRY and not force:
            raise ValueError(
                f'impl {name!r} is already registered '
                f'({_REGISTRY[name]!r}); pass force=True to replace it')
        impl = cls()
        impl.name = name
        _REGISTRY[name] = impl
        return cls

    return decorator


def unregister_impl(name: str) -> None:
    """Remove an implementation (tests that register toys clean up)."""
    _REGISTRY.pop(name, None)


def get_impl(name: str) -> CAKESImpl:
    """The registered implementation of a name.

    Args:
        name (str): A registered name.

    Returns:
        CAKESImpl: The instance.
    """
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(f'unknown CAKES impl {name!r}; registered: '
                         f'{impl_names()}') from None


def impl_names() -> Tuple[str, ...]:
    """Registered names, in registration order."""
    return tuple(_REGISTRY)


# ----------------------------------------------------------------------
# Derived weights, cached per layer.
class _WeightCache(dict):
    """Derived weights of one layer, keyed by the caller's key.

    Copies and pickles start empty: a deep-copied layer has new parameter
    storage, and the cache is derived data.
    """

    stamp: tuple = ()

    def __deepcopy__(self, memo):
        return _WeightCache()

    def __reduce__(self):
        return (_WeightCache, ())


#: The one attribute of a layer that holds its cache.
_CACHE_ATTR = '_cakes_weight_cache'


def _stamp(layer) -> tuple:
    return tuple((p.data_ptr(), p._version, p.dtype, p.device)
                 for p in layer.parameters())


def cached_weights(layer, key: str, build: Callable[[], Any]) -> Any:
    """A derived weight of a layer, rebuilt when a parameter changes.

    The cache is cleared whenever any parameter of the layer has another
    storage, version counter (in-place update: optimizer step,
    ``load_state_dict``), dtype or device than when it was filled. Use it
    only when autograd does not record: what it returns carries no graph
    to the parameters.

    Args:
        layer (nn.Module): The layer.
        key (str): What is cached (e.g. ``'taps:(3, 3)'``).
        build (Callable[[], Any]): Computes the value on a miss.

    Returns:
        Any: The cached value.
    """
    cache = layer.__dict__.get(_CACHE_ATTR)
    if cache is None:
        cache = _WeightCache()
        # Plain attribute: not a parameter, buffer or submodule, so it is
        # neither in the state dict nor moved by .to().
        layer.__dict__[_CACHE_ATTR] = cache
    stamp = _stamp(layer)
    if cache.stamp != stamp:
        cache.clear()
        cache.stamp = stamp
    if key not in cache:
        with torch.no_grad():
            cache[key] = build()
    return cache[key]


def clear_cached_weights(layer) -> None:
    """Drop a layer's cached derived weights."""
    layer.__dict__.pop(_CACHE_ATTR, None)
