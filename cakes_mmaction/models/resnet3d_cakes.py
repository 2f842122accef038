"""ResNet3dCAKES: mmaction2's ResNet3d with every 3x3 conv a CAKES layer."""
from typing import Any

from mmaction.registry import MODELS

from ..assignment import Assignment
from ..layers import CAKESConv3d
from ..layers.cakes_conv_impl import check_impl
from .resnet3d_cakes_base import ResNet3dCAKESBase

__all__ = ['ResNet3dCAKES']


@MODELS.register_module()
class ResNet3dCAKES(ResNet3dCAKESBase):
    """ResNet3d whose residual-block 3x3 convs are CAKES layers.

    The dense skeleton is built by :class:`ResNet3dCAKESBase` (mmaction2's
    :class:`ResNet3d` with every block inflated in the ``'3x3x3'`` style;
    1x1x1 convs stay 1x1x1); then every ConvModule of ``layer1`` ...
    ``layer4`` with a 3x3 spatial kernel (the middle conv of a bottleneck,
    both convs of a basic block) gets a
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
        cakes_impl (str): ``impl`` of every CAKES layer: a registered
            implementation (``'reference'``, ``'fast'``, ``'dense'``,
            ``'taps'``, ...) or ``'auto'`` (same parameters and state dict,
            see :mod:`~cakes_mmaction.layers.cakes_conv_impl`). Defaults to
            ``'fast'``, which never runs a layer slower than its dense
            convolution on the devices measured (it falls back to the
            masked-dense plan where a split would not pay).
        **kwargs: The skeleton's arguments (:class:`ResNet3dCAKESBase`):
            ``depth`` (default 50), ``conv1_kernel`` (``(1, 7, 7)``),
            ``conv1_stride_t`` (1), ``pool1_stride_t`` (1), ``with_pool2``
            (False) and any other :class:`ResNet3d` argument
            (``frozen_stages``, ``norm_eval``, ``with_cp``,
            ``zero_init_residual``, ``pretrained``, ``pretrained2d``,
            ``temporal_strides``, ...). ``inflate`` and ``inflate_style``
            are fixed: CAKES decides the kernel of every channel.
    """

    def __init__(self,
                 assignment: Any = 'cakes123d_p',
                 cakes_impl: str = 'fast',
                 **kwargs) -> None:
        super().__init__(**kwargs)
        widths = {
            path: site.conv.out_channels
            for path, site in self.cakes_sites().items()
        }
        self.assignment = Assignment.resolve(assignment, widths)
        self.cakes_impl = check_impl(cakes_impl, 'ResNet3dCAKES: cakes_')
        self._build_sites()

    def build_cakes_layer(self, dense, path: str):
        """Build the layer that replaces one dense 3x3x3 conv.

        Args:
            dense (nn.Conv3d): The dense conv of the skeleton.
            path (str): Its ConvModule's module path.

        Returns:
            nn.Module: The replacement.
        """
        return CAKESConv3d.from_dense(
            dense, self.assignment[path], name=path, impl=self.cakes_impl)
