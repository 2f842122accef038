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

Loading weights (2D ImageNet inflation, 3D checkpoints) is shared too.
"""
from collections import OrderedDict
from typing import Any, Dict, List, Optional, Sequence

import torch
import torch.nn as nn
from mmaction.models.backbones.resnet3d import ResNet3d
from mmcv.cnn import ConvModule
from mmengine.logging import MMLogger
from mmengine.runner.checkpoint import _load_checkpoint

from ..assignment import AssignmentError
from ..engine.checkpoint_fit import (CheckpointMismatchError,
                                     check_checkpoint_fits,
                                     checkpoint_state_dict)
from ..engine.nonfinite import check_finite_weights
from ..layer_keys import BACKBONE_PREFIX, block_name
from ..layers import CAKESConv3d

__all__ = ['ResNet3dCAKESBase']


def _is_3d(state_dict: Dict[str, Any]) -> bool:
    """Whether a state dict holds 3D convs (5D weights) or a recognizer."""
    return any(
        k.startswith(BACKBONE_PREFIX) or len(getattr(v, 'shape', ())) == 5
        for k, v in state_dict.items())


def _describe(state_dict: Dict[str, Any]) -> str:
    keys = [k for k, v in state_dict.items() if hasattr(v, 'shape')]
    shown = ', '.join(
        f'{k!r} {tuple(state_dict[k].shape)}' for k in keys[:3])
    return f'{len(keys)} tensors ({shown}{" ..." if len(keys) > 3 else ""})'


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


class ResNet3dCAKESBase(ResNet3d):
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

    # ------------------------------------------------------------------
    def init_weights(self, pretrained: Optional[str] = None) -> None:
        """Initialise, or load ``pretrained`` (which must load or fail).

        With ``pretrained2d=True`` a 2D ImageNet ResNet is inflated
        (:meth:`inflate_weights`). With ``pretrained2d=False`` (or a 3D
        checkpoint given as 2D) the file must be a 3D checkpoint of this
        backbone (bare keys or a recognizer's ``backbone.*``);
        ResNet3d's own 3D path loads with ``strict=False`` and silently
        keeps random weights for whatever the file lacks.

        Args:
            pretrained (str, optional): Overrides ``self.pretrained``.
        """
        if pretrained:
            self.pretrained = pretrained
        if isinstance(self.pretrained, str) and not self.pretrained2d:
            MMLogger.get_current_instance().info(
                f'load model from: {self.pretrained}')
            self.load_pretrained_3d(
                _load_checkpoint(self.pretrained, map_location='cpu'))
            return
        super().init_weights()

    def inflate_weights(self, logger: MMLogger) -> None:
        """Inflate a torchvision-layout 2D ResNet checkpoint.

        Non-CAKES convs and all BatchNorms use ResNet3d's own rules; CAKES
        layers use :meth:`CAKESConv3d.inflate_from_2d` (filters by
        position, per-shape rules), which ``ResNet3d._inflate_weights``
        cannot do since a CAKES layer has one weight per branch. Every
        conv and norm of the backbone must be filled: a file that is not a
        2D ResNet of this depth and width raises one error naming it, what
        it holds and what was expected (a 3D checkpoint of this backbone is
        loaded as such).

        Args:
            logger (MMLogger): Where to report what was (not) loaded.
        """
        state_dict = _load_checkpoint(self.pretrained, map_location='cpu')
        if 'state_dict' in state_dict:
            state_dict = state_dict['state_dict']
        check_finite_weights(state_dict,
                             f'model.backbone.pretrained={self.pretrained}')
        if _is_3d(state_dict):
            logger.info(f'{self.pretrained} holds 3D weights; loading them '
                        'as a 3D checkpoint of this backbone')
            self.load_pretrained_3d(state_dict)
            return
        problems: List[str] = []
        self.inflate_from_state_dict_2d(state_dict, logger, problems)
        if problems:
            shown = '; '.join(problems[:3])
            more = f' (and {len(problems) - 3} more)' if len(
                problems) > 3 else ''
            raise CheckpointMismatchError(
                f'model.backbone.pretrained={self.pretrained}: not a 2D '
                f'ImageNet ResNet-{self.depth} of this width: {shown}{more}. '
                f'Expected torchvision\'s layout with '
                f'conv1.weight of shape {self._stem_2d_shape()}, '
                f"'layer1.0.conv1.weight', 'layer1.0.bn1.weight', ...; the "
                f'file holds {_describe(state_dict)}.')

    def _stem_2d_shape(self) -> tuple:
        shape = tuple(self.conv1.conv.weight.shape)
        return shape[:2] + shape[3:]

    def load_pretrained_3d(self, checkpoint: Any) -> None:
        """Load a 3D checkpoint of this backbone, every weight, or fail.

        Args:
            checkpoint (Any): A loaded checkpoint: bare backbone keys, or a
                recognizer's (``backbone.*``; other keys are ignored).

        Raises:
            CheckpointMismatchError: Naming the file and what differs.
        """
        from mmengine.runner.checkpoint import load_state_dict
        state = dict(checkpoint_state_dict(checkpoint))
        if any(k.startswith(BACKBONE_PREFIX) for k in state):
            state = {
                k[len(BACKBONE_PREFIX):]: v
                for k, v in state.items() if k.startswith(BACKBONE_PREFIX)
            }
        source = f'model.backbone.pretrained={self.pretrained}'
        try:
            check_checkpoint_fits(self.state_dict(), state, source,
                                  strict=True)
        except CheckpointMismatchError as err:
            raise CheckpointMismatchError(
                f'{err}. Expected a 3D checkpoint of this backbone (or, with '
                f'pretrained2d=True, a 2D ImageNet ResNet-{self.depth})'
            ) from None
        load_state_dict(self, state, strict=True, logger='silent')

    def inflate_from_state_dict_2d(self,
                                   state_dict: Dict[str, Any],
                                   logger: Optional[MMLogger] = None,
                                   problems: Optional[List[str]] = None
                                   ) -> List[str]:
        """Inflate from an in-memory 2D ResNet state dict.

        Args:
            state_dict (dict): torchvision ResNet keys (``conv1.weight``,
                ``layer1.0.conv2.weight``, ``layer1.0.bn2.weight``,
                ``layer1.0.downsample.0.weight`` ...).
            logger (MMLogger, optional): Defaults to the current logger.
            problems (list[str], optional): Collects what could not be
                inflated instead of logging it as warnings. Defaults to
                None.

        Returns:
            list[str]: The 2D keys that were used.
        """
        logger = logger or MMLogger.get_current_instance()
        used: List[str] = []

        def problem(text: str) -> None:
            if problems is None:
                logger.warning(text)
            else:
                problems.append(text)

        for name, module in self.named_modules():
            if not isinstance(module, ConvModule):
                continue
            if 'downsample' in name:
                conv_2d, bn_2d = name + '.0', name + '.1'
            else:
                conv_2d, bn_2d = name, name.replace('conv', 'bn')
            weight_key = conv_2d + '.weight'
            if weight_key not in state_dict:
                problem(f'{weight_key} is not in the 2D checkpoint')
            elif isinstance(module.conv, CAKESConv3d):
                try:
                    module.conv.inflate_from_2d(state_dict[weight_key])
                except AssignmentError as err:
                    problem(str(err))
                else:
                    used.append(weight_key)
            else:
                shape_2d = tuple(state_dict[weight_key].shape)
                shape_3d = tuple(module.conv.weight.shape)
                if shape_2d != shape_3d[:2] + shape_3d[3:]:
                    problem(f'{weight_key}: 2D shape {shape_2d} does not fit '
                            f'3D shape {shape_3d}')
                else:
                    self._inflate_conv_params(module.conv, state_dict,
                                              conv_2d, used)
            if not module.with_norm:
                continue  # a layer owning its norm (search supernets)
            if bn_2d + '.weight' in state_dict:
                self._inflate_bn_params(module.bn, state_dict, bn_2d, used)
            else:
                problem(f'{bn_2d}.weight is not in the 2D checkpoint')
        unused = sorted(set(state_dict) - set(used))
        if unused:
            logger.info(f'2D checkpoint keys not used: {unused}')
        return used
