"""The skeleton shared by the searched CAKES backbone and the supernet.

:class:`ResNet3dCAKESBase` is mmaction2's ResNet3d with the paper's
defaults (a 1x7x7 stem, spatial-only strides, no temporal pooling), every
residual 3x3 conv a *site* (the middle conv of a bottleneck, both convs of
a basic block). A subclass builds the layer of every site through one
hook, :meth:`ResNet3dCAKESBase.build_cakes_layer`, and the skeleton puts
it in place:

- :class:`~cakes_mmaction.models.ResNet3dCAKES`: a ``CAKESConv3d`` split
  by the channel assignment, normalised by the site's BatchNorm;
- :class:`~cakes_mmaction.search.ResNet3dCAKESSupernet`: a supernet layer
  with every candidate and its own BatchNorm (``SITE_NORM = False``);
  the bottleneck's ``conv3`` then takes all candidates.

Loading weights (2D ImageNet inflation, 3D checkpoints) is shared too:
:class:`~cakes_mmaction.models.resnet3d_cakes_weights.CAKESWeightLoadingMixin`.
"""
from collections import OrderedDict
from typing import Dict, Sequence

import torch
import torch.nn as nn
from mmaction.models.backbones.resnet3d import ResNet3d
from mmcv.cnn import ConvModule

from ..layer_keys import block_name
from ..layers import CAKESConv3d
from .resnet3d_cakes_weights import CAKESWeightLoadingMixin

__all__ = ['ResNet3dCAKESBase']


class _GivenConv:
    """A ``conv_cfg`` type that hands mmcv's ConvModule a built layer.

    ConvModule builds its conv from ``conv_cfg``, calling a class given as
    ``type`` with the conv's arguments; this one returns the layer the
    backbone's hook built. ConvModule leaves a conv with its own
    ``init_weights`` as it is.
    """

    def __new__(cls, in_channels: int, out_channels: int, *args,
                conv: nn.Module, **kwargs) -> nn.Module:
        if (conv.in_channels, conv.out_channels) != (in_channels,
                                                     out_channels):
            raise ValueError(
                f'the layer has {conv.in_channels} -> {conv.out_channels} '
                f'channels, the ConvModule {in_channels} -> {out_channels}')
        return conv


def _site_module(dense: ConvModule, layer: nn.Module,
                 norm: bool) -> ConvModule:
    """The ConvModule of a site: ``layer``, then the site's norm and act.

    Args:
        dense (ConvModule): The skeleton's ConvModule at the site; its
            norm, activation and order are kept.
        layer (nn.Module): The site's layer.
        norm (bool): Normalise the layer's output (False where the layer
            owns its norm).

    Returns:
        ConvModule: The new module, keys ``conv.*``, ``bn.*`` as before.
    """
    return ConvModule(
        layer.in_channels,
        layer.out_channels,
        layer.kernel_size,
        stride=layer.stride,
        padding=layer.padding,
        dilation=layer.dilation,
        bias=dense.with_bias,
        conv_cfg=dict(type=_GivenConv, conv=layer),
        norm_cfg=dense.norm_cfg if norm else None,
        act_cfg=dense.act_cfg,
        inplace=dense.inplace,
        with_spectral_norm=dense.with_spectral_norm,
        order=dense.order)


def _with_inputs(module: ConvModule, in_channels: int) -> ConvModule:
    """A copy of a plain ConvModule taking ``in_channels`` inputs.

    The new conv gets torch's default initialisation drawn from the global
    generator, as a freshly built ``nn.Conv3d`` (ConvModule's own kaiming
    init, which would draw a second time and move every later draw of a
    seeded run, runs on a forked generator). ``init_weights`` of the
    backbone re-initialises it anyway.
    """
    conv = module.conv
    with torch.random.fork_rng(devices=[]):
        wider = ConvModule(
            in_channels,
            conv.out_channels,
            conv.kernel_size,
            stride=conv.stride,
            padding=conv.padding,
            dilation=conv.dilation,
            groups=conv.groups,
            bias=module.with_bias,
            conv_cfg=module.conv_cfg,
            norm_cfg=module.norm_cfg,
            act_cfg=module.act_cfg,
            inplace=module.inplace,
            with_spectral_norm=module.with_spectral_norm,
            order=module.order)
    wider.conv.reset_parameters()
    return wider


class ResNet3dCAKESBase(CAKESWeightLoadingMixin, ResNet3d):
    """ResNet3d whose residual 3x3 convs are built by a per-site hook.

    ``__init__`` builds the dense skeleton (every block inflated in the
    ``'3x3x3'`` style; 1x1x1 convs stay 1x1x1); a subclass then sets what
    its hook needs and calls :meth:`_build_sites`, which replaces the
    ConvModule of every site (named by module path, e.g.
    ``'layer3.4.conv2'``) by one around :meth:`build_cakes_layer`'s layer.
    Where that layer is wider than the dense conv (a supernet's candidates),
    the bottleneck's ``conv3`` is rebuilt to take all its channels.

    Args:
        depth (int): 18, 34, 50, 101 or 152. Defaults to 50.
        conv1_kernel (Sequence[int]): Stem kernel. Defaults to ``(1, 7, 7)``.
        conv1_stride_t (int): Stem temporal stride. Defaults to 1.
        pool1_stride_t (int): Stem pool temporal stride. Defaults to 1.
        with_pool2 (bool): ResNet3d's temporal max-pool after layer1.
            Defaults to False.
        **kwargs: Any other :class:`ResNet3d` argument (``frozen_stages``,
            ``norm_eval``, ``with_cp``, ``zero_init_residual``,
            ``pretrained``, ``pretrained2d``, ``temporal_strides``, ...).
            ``inflate`` and ``inflate_style`` are fixed: CAKES decides the
            kernel of every channel.
    """

    #: Whether a site's ConvModule normalises its layer's output (False
    #: where the layer owns its BatchNorm).
    SITE_NORM = True

    def __init__(self,
                 depth: int = 50,
                 conv1_kernel: Sequence[int] = (1, 7, 7),
                 conv1_stride_t: int = 1,
                 pool1_stride_t: int = 1,
                 with_pool2: bool = False,
                 **kwargs) -> None:
        for fixed in ('inflate', 'inflate_style'):
            if fixed in kwargs:
                raise ValueError(
                    f'{type(self).__name__} does not take {fixed!r}: the '
                    f'channel assignment decides every kernel; got '
                    f'{fixed}={kwargs[fixed]!r}')
        super().__init__(
            depth=depth,
            conv1_kernel=conv1_kernel,
            conv1_stride_t=conv1_stride_t,
            pool1_stride_t=pool1_stride_t,
            with_pool2=with_pool2,
            inflate=1,
            inflate_style='3x3x3',
            **kwargs)
        #: The skeleton's arguments: a sibling backbone of the same
        #: skeleton is built from them.
        self.skeleton_cfg = dict(
            depth=depth,
            conv1_kernel=conv1_kernel,
            conv1_stride_t=conv1_stride_t,
            pool1_stride_t=pool1_stride_t,
            with_pool2=with_pool2,
            **kwargs)

    # ------------------------------------------------------------------
    def build_cakes_layer(self, dense: nn.Conv3d, path: str) -> nn.Module:
        """Build the layer of one site (the hook subclasses override).

        Args:
            dense (nn.Conv3d): The skeleton's dense conv there (geometry
                only).
            path (str): The site, e.g. ``'layer1.0.conv2'``.

        Returns:
            nn.Module: The layer, with a conv's ``in_channels``,
            ``out_channels``, ``kernel_size``, ``stride``, ``padding`` and
            ``dilation``.
        """
        raise NotImplementedError(
            f'{type(self).__name__} must implement build_cakes_layer')

    def _build_sites(self) -> None:
        """Put :meth:`build_cakes_layer`'s layer at every site."""
        # Every layer first, then the wider conv3s: the order of the draws
        # from the global generator, so a seed builds the same network.
        wider = []
        for path, dense in self.cakes_sites().items():
            layer = self.build_cakes_layer(dense.conv, path)
            block = self.get_submodule(block_name(path))
            setattr(block, path[len(block_name(path)) + 1:],
                    _site_module(dense, layer, self.SITE_NORM))
            if layer.out_channels != dense.out_channels:
                wider.append((path, layer.out_channels))
        for path, channels in wider:
            block = self.get_submodule(block_name(path))
            if path != f'{block_name(path)}.conv2' or not hasattr(
                    block, 'conv3'):
                raise ValueError(
                    f'layer {path!r} has {channels} output channels, more '
                    f'than the skeleton\'s; only the middle conv of a '
                    f'bottleneck (whose conv3 can take them) may be wider')
            block.conv3 = _with_inputs(block.conv3, channels)

    def cakes_sites(self) -> Dict[str, ConvModule]:
        """The ConvModules whose conv is (or becomes) a site's layer.

        A site is a residual block's ConvModule with a 3x3 spatial kernel,
        before and after :meth:`_build_sites`.

        Returns:
            dict[str, ConvModule]: By module path, in module order.
        """
        sites = OrderedDict()
        for name, module in self.named_modules():
            if not isinstance(module, ConvModule):
                continue
            if not name.startswith('layer') or 'downsample' in name:
                continue
            kernel = getattr(module.conv, 'kernel_size', None)
            if kernel is not None and tuple(kernel)[1:] == (3, 3):
                sites[name] = module
        return sites

    @property
    def cakes_layers(self) -> Dict[str, CAKESConv3d]:
        """dict[str, CAKESConv3d]: The layers of the sites by module path."""
        return OrderedDict((path, site.conv)
                           for path, site in self.cakes_sites().items())
