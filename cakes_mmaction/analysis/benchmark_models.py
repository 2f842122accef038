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

``width_scale`` narrows every model alike (``base_channels = 64 x scale``,
same depth, strides and stem; a preset's counts scaled layer by layer), so
a cheap run still puts the same networks side by side. It exists for tests
and plumbing checks; the published figures are at ``width_scale=1``.
"""
from collections import OrderedDict
from typing import Callable, Dict, List, Mapping

import torch.nn as nn
from mmaction.models.common import Conv2plus1d
from mmaction.registry import MODELS
from mmengine.config import Config
from mmengine.registry import DefaultScope

from ..assignment import Assignment, list_presets
from ..models import ResNet3dCAKES, ResNet3dCAKESBase

__all__ = [
    'REFERENCE_MODEL', 'model_names', 'build_backbone', 'is_cakes_model',
    'ResNet3dSkeleton2plus1d', 'BASE_CHANNELS', 'check_width_scale',
    'scaled_assignment'
]

#: Every ratio of the benchmark is to this network.
REFERENCE_MODEL = 'all_3x3x3'

#: Stem width of every benchmark model at ``width_scale=1`` (ResNet's 64).
BASE_CHANNELS = 64


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


def check_width_scale(width_scale: float) -> int:
    """The stem width of ``width_scale``, or a clear error.

    Args:
        width_scale (float): Factor on every width of every model.

    Returns:
        int: ``BASE_CHANNELS * width_scale``, a whole number of channels.
    """
    channels = BASE_CHANNELS * width_scale
    if not 0 < width_scale <= 1 or channels != int(channels):
        raise ValueError(
            f'width_scale must be in (0, 1] and give a whole stem width '
            f'({BASE_CHANNELS} x scale: 0.5, 0.25, 0.125, 1/16, ...), got '
            f'{width_scale!r}')
    return int(channels)


def scaled_assignment(assignment: Assignment,
                      widths: Mapping[str, int]) -> Assignment:
    """A preset's split of every layer, at narrower layer widths.

    Each layer keeps its shares: counts are scaled to the new width by
    largest remainders, and a shape the layer used keeps at least one
    channel while the width allows it, so every kernel still runs.

    Args:
        assignment (Assignment): The full-width assignment.
        widths (Mapping[str, int]): New width of every layer, by path.

    Returns:
        Assignment: Counts that sum to ``widths``.
    """
    layers = OrderedDict()
    for path, width in widths.items():
        counts = assignment[path]
        total = sum(counts.values())
        shares = {s: n * width / total for s, n in counts.items()}
        scaled = {s: int(share) for s, share in shares.items()}
        used = [s for s, n in counts.items() if n]
        for s in used[:width]:
            scaled[s] = max(scaled[s], 1)
        by_remainder = sorted(used, key=lambda s: shares[s] - int(shares[s]),
                              reverse=True)
        while sum(scaled.values()) < width:
            s = by_remainder[0]
            scaled[s] += 1
            by_remainder.append(by_remainder.pop(0))
        while sum(scaled.values()) > width:
            # The 1-channel minimums overshot: take from the largest.
            s = max(used, key=lambda s: scaled[s])
            scaled[s] -= 1
        layers[path] = scaled
    # Not the full-width meta: its costs are not this network's.
    meta = dict(source='scaled', scaled_from=assignment.source)
    return Assignment(layers, meta, f'{assignment.source} (scaled)')


def _cakes(assignment, impl: str, base_channels: int) -> nn.Module:
    if base_channels != BASE_CHANNELS and isinstance(assignment, str):
        # A preset holds full-width counts: scale them to the narrow
        # skeleton's widths.
        skeleton = ResNet3dCAKESBase(pretrained=None,
                                     base_channels=base_channels)
        widths = {path: site.conv.out_channels
                  for path, site in skeleton.cakes_sites().items()}
        assignment = scaled_assignment(Assignment.preset(assignment), widths)
    return ResNet3dCAKES(assignment=assignment, pretrained=None,
                         base_channels=base_channels, cakes_impl=impl)


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


def _builders(impl: str,
              base_channels: int = BASE_CHANNELS
              ) -> Dict[str, Callable[[], nn.Module]]:
    builders = OrderedDict()
    for preset in list_presets():
        builders[preset] = (
            lambda p=preset: _cakes(p, impl, base_channels))
    builders['all_3x3x3'] = lambda: _cakes(
        dict(uniform=['3x3x3']), impl, base_channels)
    builders['all_1x3x3'] = lambda: _cakes(
        dict(uniform=['1x3x3']), impl, base_channels)
    builders['skeleton_2plus1d'] = lambda: ResNet3dSkeleton2plus1d(
        pretrained=None, base_channels=base_channels)
    builders['mmaction_i3d_r50'] = _mmaction_backbone(
        'i3d_r50', pretrained2d=False, base_channels=base_channels)
    builders['mmaction_r2plus1d_r34'] = _mmaction_backbone(
        'r2plus1d_r34', base_channels=base_channels)
    builders['mmaction_ircsn_r152'] = _mmaction_backbone(
        'ircsn_r152', base_channels=base_channels)
    return builders


def model_names() -> List[str]:
    """list[str]: Every name :func:`build_backbone` accepts, in order."""
    return list(_builders('reference'))


def is_cakes_model(name: str) -> bool:
    """Whether a benchmark model has CAKES layers (``impl`` applies)."""
    return name in list_presets() or name in ('all_3x3x3', 'all_1x3x3')


def build_backbone(name: str,
                   impl: str = 'reference',
                   width_scale: float = 1.0) -> nn.Module:
    """Build one benchmark backbone, initialised, in train mode.

    Args:
        name (str): One of :func:`model_names`.
        impl (str): ``impl`` of its CAKES layers. Defaults to
            ``'reference'``.
        width_scale (float): Factor on every width (stem
            ``64 x width_scale``; see the module docstring). Defaults to
            1, the real network.

    Returns:
        nn.Module: The backbone.
    """
    builders = _builders(impl, check_width_scale(width_scale))
    if name not in builders:
        raise ValueError(f'unknown benchmark model {name!r}; known: '
                         f'{", ".join(builders)}')
    backbone = builders[name]()
    backbone.init_weights()
    return backbone
