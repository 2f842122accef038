"""The backbones the benchmark puts side by side.

- the six CAKES presets (:func:`~cakes_mmaction.assignment.list_presets`),
  as :class:`~cakes_mmaction.models.ResNet3dCAKES` (the paper's ResNet-50);
- the same skeleton with every CAKES layer all-``3x3x3`` (the reference of
  every ratio) or all-``1x3x3``;
- the same skeleton with mmaction2's ``Conv2plus1d`` (R(2+1)D's
  parameter-matched factorisation: 1x3x3, BN, ReLU, 3x1x1) at the CAKES
  sites;
- mmaction2's own I3D, R(2+1)D and ir-CSN backbones as its base configs
  define them, with ``pretrained=None`` (and plain BN instead of SyncBN,
  which needs a process group).
"""
from collections import OrderedDict
from typing import Callable, Dict, List

import torch.nn as nn
from mmaction.models.common import Conv2plus1d
from mmaction.registry import MODELS
from mmengine.config import Config
from mmengine.registry import DefaultScope

from ..assignment import list_presets
from ..models import ResNet3dCAKES

__all__ = [
    'REFERENCE_MODEL', 'model_names', 'build_backbone', 'is_cakes_model',
    'ResNet3dSkeleton2plus1d'
]

#: Every ratio of the benchmark is to this network.
REFERENCE_MODEL = 'all_3x3x3'


class ResNet3dSkeleton2plus1d(ResNet3dCAKES):
    """The CAKES skeleton with a ``Conv2plus1d`` at every CAKES site.

    Only :meth:`build_cakes_layer` changes; used by the benchmark as the
    (2+1)D network of the same skeleton (same stem, strides and 1x1x1
    convs).
    """

    def __init__(self, **kwargs) -> None:
        kwargs.setdefault('assignment', dict(uniform=['3x3x3']))
        super().__init__(**kwargs)

    def build_cakes_layer(self, dense, path: str) -> nn.Module:
        """A ``Conv2plus1d`` with the dense conv's geometry."""
        return Conv2plus1d(
            dense.in_channels,
            dense.out_channels,
            dense.kernel_size,
            stride=dense.stride,
            padding=dense.padding,
            bias=False)


def _mmaction_backbone(config: str, **overrides) -> Callable[[], nn.Module]:

    def build() -> nn.Module:
        # ``mmaction::`` paths resolve only as bases of a config.
        cfg = Config.fromstring(
            f"_base_ = ['mmaction::_base_/models/{config}.py']", '.py')
        backbone = cfg.model.backbone
        backbone.update(pretrained=None, **overrides)
        if backbone.get('norm_cfg', {}).get('type') == 'SyncBN':
            backbone.norm_cfg = dict(backbone.norm_cfg, type='BN3d')
        # Conv2plus1d (conv_cfg) is found by mmcv only in mmaction's scope.
        with DefaultScope.overwrite_default_scope('mmaction'):
            return MODELS.build(backbone)

    return build


def _builders(impl: str) -> Dict[str, Callable[[], nn.Module]]:
    builders = OrderedDict()
    for preset in list_presets():
        builders[preset] = (lambda p=preset: ResNet3dCAKES(
            assignment=p, pretrained=None, cakes_impl=impl))
    builders['all_3x3x3'] = lambda: ResNet3dCAKES(
        assignment=dict(uniform=['3x3x3']), pretrained=None, cakes_impl=impl)
    builders['all_1x3x3'] = lambda: ResNet3dCAKES(
        assignment=dict(uniform=['1x3x3']), pretrained=None, cakes_impl=impl)
    builders['skeleton_2plus1d'] = lambda: ResNet3dSkeleton2plus1d(
        pretrained=None)
    builders['mmaction_i3d_r50'] = _mmaction_backbone(
        'i3d_r50', pretrained2d=False)
    builders['mmaction_r2plus1d_r34'] = _mmaction_backbone('r2plus1d_r34')
    builders['mmaction_ircsn_r152'] = _mmaction_backbone('ircsn_r152')
    return builders


def model_names() -> List[str]:
    """list[str]: Every name :func:`build_backbone` accepts, in order."""
    return list(_builders('reference'))


def is_cakes_model(name: str) -> bool:
    """Whether a benchmark model has CAKES layers (``impl`` applies)."""
    return name in list_presets() or name in ('all_3x3x3', 'all_1x3x3')


def build_backbone(name: str, impl: str = 'reference') -> nn.Module:
    """Build one benchmark backbone, initialised, in train mode.

    Args:
        name (str): One of :func:`model_names`.
        impl (str): ``impl`` of its CAKES layers. Defaults to
            ``'reference'``.

    Returns:
        nn.Module: The backbone.
    """
    builders = _builders(impl)
    if name not in builders:
        raise ValueError(f'unknown benchmark model {name!r}; known: '
                         f'{", ".join(builders)}')
    backbone = builders[name]()
    backbone.init_weights()
    return backbone
