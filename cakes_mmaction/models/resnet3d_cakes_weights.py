"""Loading weights into a CAKES backbone: 2D inflation and 3D checkpoints.

:class:`CAKESWeightLoadingMixin` gives
:class:`~cakes_mmaction.models.ResNet3dCAKESBase` (and so the searched
backbone and the supernet) a ``pretrained`` that loads every weight or
fails with one error naming the file, what it holds and what was
expected: a torchvision-layout 2D ImageNet ResNet is inflated (CAKES
layers by :meth:`CAKESConv3d.inflate_from_2d`), a 3D checkpoint of the
backbone is checked against it and loaded strictly.
"""
from typing import Any, Dict, List, Optional

from mmcv.cnn import ConvModule
from mmengine.logging import MMLogger
from mmengine.runner.checkpoint import _load_checkpoint

from ..assignment import AssignmentError
from ..checkpoints.fit import (CheckpointMismatchError, check_checkpoint_fits,
                               checkpoint_state_dict)
from ..checkpoints.nonfinite import check_finite_weights
from ..layer_keys import BACKBONE_PREFIX
from ..layers import CAKESConv3d

__all__ = ['CAKESWeightLoadingMixin']


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


class CAKESWeightLoadingMixin:
    """Weight loading of a ResNet3d whose sites are CAKES layers.

    Mixed in before mmaction2's ``ResNet3d``, whose ``pretrained``,
    ``pretrained2d``, ``depth``, ``conv1`` and per-parameter inflation
    rules (``_inflate_conv_params``, ``_inflate_bn_params``) it uses; it
    replaces ResNet3d's ``init_weights`` for 3D files and its
    ``inflate_weights``.
    """

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
