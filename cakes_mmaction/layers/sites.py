"""Finding and tracing the CAKES layers of a model.

One walk finds them (:func:`find_cakes_layers`), one hooked forward traces
what they see (:func:`trace_layers`), and each layer describes itself
(``CAKESConv3d.geometry``): every cost table, benchmark, plot and search
hook names layers by the same site
(:func:`~cakes_mmaction.layer_keys.site_name`), searched layers and search
supernet layers alike.
"""
from collections import OrderedDict
from dataclasses import replace
from typing import Dict, Iterable, NamedTuple, Optional, Sequence, Tuple

import torch
import torch.nn as nn

from ..cost import LayerGeometry
from ..layer_keys import site_name
from .cakes_conv import CAKESConv3d

__all__ = [
    'LayerTrace', 'find_cakes_layers', 'trace_layers', 'trace_geometry'
]

LayerTypes = Optional[Iterable[type]]


class LayerTrace(NamedTuple):
    """What one CAKES layer saw in a traced forward.

    Args:
        layer (nn.Module): The layer.
        input_shape (tuple[int, ...]): ``(N, C_in, T, H, W)`` of its input.
        output_shape (tuple[int, ...]): ``(N, C_out, T', H', W')``.
    """

    layer: nn.Module
    input_shape: Tuple[int, ...]
    output_shape: Tuple[int, ...]


def _types(layer_types: LayerTypes) -> Tuple[type, ...]:
    return (CAKESConv3d, ) if layer_types is None else tuple(layer_types)


def find_cakes_layers(model: nn.Module,
                      layer_types: LayerTypes = None
                      ) -> 'OrderedDict[str, nn.Module]':
    """The CAKES layers of a model by site, in module order.

    Args:
        model (nn.Module): Any module: a recognizer, a backbone or a bare
            layer (whose site is ``''``).
        layer_types (Iterable[type], optional): Classes to find. Defaults
            to :class:`CAKESConv3d`, which search supernet layers subclass.

    Returns:
        OrderedDict[str, nn.Module]: Site (``'layer1.0.conv2'``, with the
        model's own prefix such as ``'backbone.'``) to layer.
    """
    types = _types(layer_types)
    return OrderedDict((site_name(name), module)
                       for name, module in model.named_modules()
                       if isinstance(module, types))


def _clip_shape(input_shape: Sequence[int]) -> Tuple[int, ...]:
    shape = tuple(int(v) for v in input_shape)
    return (1, ) + shape if len(shape) == 4 else shape


def trace_layers(model: nn.Module,
                 input_shape: Sequence[int],
                 layer_types: LayerTypes = None
                 ) -> 'OrderedDict[str, LayerTrace]':
    """Input and output shapes of every CAKES layer, by one forward.

    The forward runs in eval mode without autograd on a zero clip on the
    model's device (the ``meta`` device computes shapes only); the mode is
    restored afterwards.

    Args:
        model (nn.Module): A backbone (or a bare layer).
        input_shape (Sequence[int]): ``(N, C, T, H, W)``; a 4-tuple
            ``(C, T, H, W)`` means batch 1.
        layer_types (Iterable[type], optional): See
            :func:`find_cakes_layers`.

    Returns:
        OrderedDict[str, LayerTrace]: By site, in the order the layers ran.
    """
    found: Dict[str, LayerTrace] = OrderedDict()
    handles = []
    for site, layer in find_cakes_layers(model, layer_types).items():

        def hook(mod, args, out, site=site):
            found[site] = LayerTrace(mod, tuple(args[0].shape),
                                     tuple(out.shape))

        handles.append(layer.register_forward_hook(hook))
    was_training = model.training
    model.eval()
    try:
        param = next(model.parameters(), None)
        device = param.device if param is not None else 'cpu'
        with torch.no_grad():
            model(torch.zeros(_clip_shape(input_shape), device=device))
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)
    return found


def _geometry(site: str, trace: LayerTrace) -> LayerGeometry:
    layer, out_thw = trace.layer, trace.output_shape[2:]
    if hasattr(layer, 'geometry'):
        # The site, even where it is '' (a bare layer) and the layer has
        # a name of its own.
        return replace(layer.geometry(out_thw), path=site)
    # Another conv type asked for by ``layer_types``.
    return LayerGeometry(
        path=site,
        in_channels=layer.in_channels,
        out_channels=layer.out_channels,
        out_thw=tuple(out_thw),
        kernel_size=tuple(layer.kernel_size),
        groups=getattr(layer, 'groups', 1),
        bias=getattr(layer, 'bias_enabled', False))


def trace_geometry(model: nn.Module,
                   input_shape: Sequence[int],
                   layer_types: LayerTypes = None
                   ) -> 'OrderedDict[str, LayerGeometry]':
    """The :class:`~cakes_mmaction.cost.LayerGeometry` of every CAKES layer.

    Each layer gives its own (``CAKESConv3d.geometry``) for the output
    size :func:`trace_layers` saw.

    Args:
        model (nn.Module): A backbone (or a bare layer).
        input_shape (Sequence[int]): ``(N, C, T, H, W)`` or
            ``(C, T, H, W)``.
        layer_types (Iterable[type], optional): See
            :func:`find_cakes_layers`.

    Returns:
        OrderedDict[str, LayerGeometry]: By site.
    """
    return OrderedDict(
        (site, _geometry(site, trace))
        for site, trace in trace_layers(model, input_shape,
                                        layer_types).items())
