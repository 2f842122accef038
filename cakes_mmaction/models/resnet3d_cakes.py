"""ResNet3dCAKES: mmaction2's ResNet3d with every 3x3 conv a CAKES layer."""
from collections import OrderedDict
from typing import Any, Dict, List, Optional, Sequence

from mmaction.models.backbones.resnet3d import ResNet3d
from mmaction.registry import MODELS
from mmcv.cnn import ConvModule
from mmengine.logging import MMLogger
from mmengine.runner.checkpoint import _load_checkpoint

from ..assignment import Assignment, AssignmentError
from ..checkpoints.fit import (CheckpointMismatchError, check_checkpoint_fits,
                               checkpoint_state_dict)
from ..checkpoints.nonfinite import check_finite_weights
from ..layers import CAKESConv3d
from ..layers.cakes_conv_impl import check_impl

__all__ = ['ResNet3dCAKES']


def _is_3d(state_dict: Dict[str, Any]) -> bool:
    """Whether a state dict holds 3D convs (5D weights) or a recognizer."""
    return any(
        k.startswith('backbone.') or len(getattr(v, 'shape', ())) == 5
        for k, v in state_dict.items())


def _describe(state_dict: Dict[str, Any]) -> str:
    keys = [k for k, v in state_dict.items() if hasattr(v, 'shape')]
    shown = ', '.join(
        f'{k!r} {tuple(state_dict[k].shape)}' for k in keys[:3])
    return f'{len(keys)} tensors ({shown}{" ..." if len(keys) > 3 else ""})'


@MODELS.register_module()
class ResNet3dCAKES(ResNet3d):
    """ResNet3d whose residual-block 3x3 convs are CAKES layers.

    The dense skeleton is built by :class:`ResNet3d` with every block
    inflated in the ``'3x3x3'`` style (1x1x1 convs stay 1x1x1); then every
    ConvModule of ``layer1`` ... ``layer4`` with a 3x3 spatial kernel (the
    middle conv of a bottleneck, both convs of a basic block) gets a
    :class:`~cakes_mmaction.layers.CAKESConv3d` built from the assignment.
    Each layer is named by its module path, e.g. ``'layer3.4.conv2'``.

    The defaults are the network of the paper: a 1x7x7
    stem, spatial-only strides, no temporal pooling anywhere.

    Args:
        assignment: Channel assignment: a preset name
            (``'cakes123d_p'``, see
            :func:`~cakes_mmaction.assignment.list_presets`), a path to an
            assignment file, ``dict(layers={...})`` / a bare
            ``{path: {shape: count}}`` mapping, or ``dict(uniform=[shapes])``.
            Defaults to ``'cakes123d_p'``.
        depth (int): 18, 34, 50, 101 or 152. Defaults to 50.
        conv1_kernel (Sequence[int]): Stem kernel. Defaults to ``(1, 7, 7)``.
        conv1_stride_t (int): Stem temporal stride. Defaults to 1.
        pool1_stride_t (int): Stem pool temporal stride. Defaults to 1.
        with_pool2 (bool): ResNet3d's temporal max-pool after layer1.
            Defaults to False.
        cakes_impl (str): ``impl`` of every CAKES layer: a registered
            implementation (``'reference'``, ``'fast'``, ``'dense'``,
            ``'taps'``, ...) or ``'auto'`` (same parameters and state dict,
            see :mod:`~cakes_mmaction.layers.cakes_conv_impl`). Defaults to
            ``'fast'``, which never runs a layer slower than its dense
            convolution on the devices measured (it falls back to the
            masked-dense plan where a split would not pay).
        **kwargs: Any other :class:`ResNet3d` argument (``frozen_stages``,
            ``norm_eval``, ``with_cp``, ``zero_init_residual``,
            ``pretrained``, ``pretrained2d``, ``temporal_strides``, ...).
            ``inflate`` and ``inflate_style`` are fixed: CAKES decides the
            kernel of every channel.
    """

    def __init__(self,
                 assignment: Any = 'cakes123d_p',
                 depth: int = 50,
                 conv1_kernel: Sequence[int] = (1, 7, 7),
                 conv1_stride_t: int = 1,
                 pool1_stride_t: int = 1,
                 with_pool2: bool = False,
                 cakes_impl: str = 'fast',
                 **kwargs) -> None:
        for fixed in ('inflate', 'inflate_style'):
            if fixed in kwargs:
                raise ValueError(
                    f'ResNet3dCAKES does not take {fixed!r}: the channel '
                    f'assignment decides every kernel; got '
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
        sites = self.cakes_sites()
        widths = OrderedDict(
            (path, site.conv.out_channels) for path, site in sites.items())
        self.assignment = Assignment.resolve(assignment, widths)
        self.cakes_impl = check_impl(cakes_impl, 'ResNet3dCAKES: cakes_')
        for path, site in sites.items():
            site.conv = self.build_cakes_layer(site.conv, path)

    def build_cakes_layer(self, dense, path: str):
        """Build the layer that replaces one dense 3x3x3 conv.

        Subclasses (the search supernets) override only this.

        Args:
            dense (nn.Conv3d): The dense conv of the skeleton.
            path (str): Its ConvModule's module path.

        Returns:
            nn.Module: The replacement.
        """
        return CAKESConv3d.from_dense(
            dense, self.assignment[path], name=path, impl=self.cakes_impl)

    def cakes_sites(self) -> Dict[str, ConvModule]:
        """The ConvModules whose conv is (or becomes) a CAKES layer.

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
        """dict[str, CAKESConv3d]: The CAKES layers by module path."""
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
        if any(k.startswith('backbone.') for k in state):
            state = {
                k[len('backbone.'):]: v
                for k, v in state.items() if k.startswith('backbone.')
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
