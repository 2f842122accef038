"""The geometry of a model's CAKES layers, recorded by one hooked forward.

What a layer costs (:mod:`cakes_mmaction.cost`) depends on its input and
output sizes, which only a forward knows. On the ``meta`` device the
forward computes shapes only, so the geometry of a 224x224 network costs
no arithmetic.
"""
from collections import OrderedDict
from typing import Dict, Iterable, Optional, Sequence

import torch

from ..cost import LayerGeometry
from .cakes_conv import CAKESConv3d

__all__ = ['capture_geometry']


def capture_geometry(backbone,
                     input_shape: Sequence[int],
                     layer_types: Optional[Iterable[type]] = None
                     ) -> Dict[str, LayerGeometry]:
    """Record the geometry of every CAKES layer by one hooked forward.

    Args:
        backbone (nn.Module): A backbone whose CAKES layers are
            :class:`~cakes_mmaction.layers.CAKESConv3d` (or another type in
            ``layer_types``), named by module path.
        input_shape (Sequence[int]): ``(N, C, T, H, W)`` of the input; a
            4-tuple ``(C, T, H, W)`` means batch 1.
        layer_types (Iterable[type], optional): Layer classes to record.
            Defaults to CAKESConv3d.

    Returns:
        dict[str, LayerGeometry]: Keyed by the path of the module that owns
        the CAKES conv (``'layer1.0.conv2'``, not ``'...conv2.conv'``).
    """
    if layer_types is None:
        layer_types = (CAKESConv3d, )
    layer_types = tuple(layer_types)
    shape = tuple(input_shape)
    if len(shape) == 4:
        shape = (1, ) + shape
    found: Dict[str, LayerGeometry] = OrderedDict()
    handles = []

    def make_hook(path, module):

        def hook(_, __, output):
            found[path] = LayerGeometry(
                path=path,
                in_channels=module.in_channels,
                out_channels=module.out_channels,
                out_thw=tuple(output.shape[2:]),
                kernel_size=tuple(module.kernel_size),
                groups=getattr(module, 'groups', 1),
                bias=getattr(module, 'bias_enabled', False))

        return hook

    for name, module in backbone.named_modules():
        if isinstance(module, layer_types):
            path = name[:-len('.conv')] if name.endswith('.conv') else name
            handles.append(module.register_forward_hook(
                make_hook(path, module)))
    was_training = backbone.training
    backbone.eval()
    try:
        with torch.no_grad():
            param = next(backbone.parameters(), None)
            device = param.device if param is not None else 'cpu'
            backbone(torch.zeros(shape, device=device))
    finally:
        for h in handles:
            h.remove()
        backbone.train(was_training)
    return found
