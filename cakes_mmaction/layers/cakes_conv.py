"""CAKESConv3d: one k x k x k convolution shrunk channel-wise.

Yu et al., "CAKES: Channel-wise Automatic KErnel Shrinking for Efficient 3D
Networks", AAAI 2021 (arXiv 2003.12798).

::

                      x  (N, C_in, T, H, W)
          +-------------+-------------+-------------+
          |             |             |             |
      Conv 3x3x3    Conv 1x3x3    Conv 3x1x1      ...   each over ALL C_in
      (n_3x3x3)     (n_1x3x3)     (n_3x1x1)             inputs, "same" pad
          |             |             |             |
          +------ concat along channels, canonical order ------+
                      y  (N, sum n_s, T', H', W')

Branches are kept in an ``nn.ModuleDict`` keyed by shape name, so the state
dict says which shape each weight belongs to
(``branches.3x1x1.weight``); zero-count shapes have no branch. Stride is
applied on every branch. Normalisation and activation are not part of the
layer: in the backbone it sits inside a ``ConvModule`` whose single
BatchNorm and ReLU follow the concatenation.

This module depends on torch only.
"""
from collections import OrderedDict
from typing import Dict, Mapping, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn

from ..assignment import AssignmentError
from ..cost import BranchCost, LayerGeometry, layer_cost
from ..layer_keys import local_branch_shape, site_name
from ..shapes import KernelShape, canonical_order, parse_shape
from .impl_dispatch import check_impl, impl_forward

__all__ = ['CAKESConv3d']

_Triple = Tuple[int, int, int]


def _triple(value: Union[int, Sequence[int]], name: str) -> _Triple:
    if isinstance(value, int):
        return (value, value, value)
    value = tuple(int(v) for v in value)
    if len(value) != 3:
        raise ValueError(f'{name} must be an int or 3 ints, got {value}')
    return value


class CAKESConv3d(nn.Module):
    """Parallel sub-kernel convolutions concatenated along channels.

    Args:
        in_channels (int): Input channels; every branch sees all of them.
        counts (Mapping[str, int]): Output channels per sub-kernel shape
            (``{'3x3x3': 16, '1x3x3': 24, '3x1x1': 24}``). Zero counts are
            allowed and build no branch.
        kernel_size (int | tuple[int, int, int]): The dense kernel whose
            sub-kernels the shapes must be. Defaults to 3.
        spatial_stride (int): Stride along H and W. Defaults to 1.
        temporal_stride (int): Stride along T. Defaults to 1.
        dilation (int | tuple[int, int, int]): Dilation ``(T, H, W)``,
            applied on the axes where a branch's extent is larger than 1.
            Defaults to 1.
        bias (bool): Whether branches have a bias. Defaults to False.
        name (str, optional): Module path used in error messages.
            Defaults to None.
        impl (str): How ``forward`` computes the same function of the same
            parameters: a name registered in
            :mod:`~cakes_mmaction.layers.impl_registry` (``'reference'``:
            a Conv3d per branch, then a concatenation; ``'fast'``,
            ``'dense'`` ...) or ``'auto'`` (see
            :mod:`~cakes_mmaction.layers.cakes_conv_impl`). Defaults to
            ``'reference'``.
    """

    # ConvModule reads these off ``self.conv`` (mmcv conv_module.py).
    transposed = False
    output_padding = (0, 0, 0)
    groups = 1

    def __init__(self,
                 in_channels: int,
                 counts: Mapping[str, int],
                 kernel_size: Union[int, Sequence[int]] = 3,
                 *,
                 spatial_stride: int = 1,
                 temporal_stride: int = 1,
                 dilation: Union[int, Sequence[int]] = 1,
                 bias: bool = False,
                 name: Optional[str] = None,
                 impl: str = 'reference') -> None:
        super().__init__()
        self.layer_name = name
        self.impl = check_impl(impl, f'layer {name!r}: ' if name else '')
        self.kernel_size = _triple(kernel_size, 'kernel_size')
        self.stride = (int(temporal_stride), int(spatial_stride),
                       int(spatial_stride))
        self.dilation = _triple(dilation, 'dilation')
        self.in_channels = int(in_channels)
        self.bias_enabled = bool(bias)
        where = f'layer {name!r}: ' if name else ''
        parsed: Dict[KernelShape, int] = {}
        for key, n in counts.items():
            shape = parse_shape(key)
            if not shape.fits_in(self.kernel_size):
                raise AssignmentError(
                    f'{where}shape {shape} is not a sub-kernel of the dense '
                    f'{"x".join(map(str, self.kernel_size))} kernel')
            if isinstance(n, bool) or not isinstance(n, int) or n < 0:
                raise AssignmentError(
                    f'{where}count of {shape} must be a non-negative int, '
                    f'got {n!r}')
            parsed[shape] = parsed.get(shape, 0) + n
        ordered = canonical_order(parsed)
        #: Output channels per shape name, canonical order, zeros kept.
        self.counts: Dict[str, int] = OrderedDict(
            (s.name, parsed[s]) for s in ordered)
        self.out_channels = sum(self.counts.values())
        if self.out_channels == 0:
            raise AssignmentError(f'{where}no output channels: {counts}')
        self.branches = nn.ModuleDict()
        for shape in ordered:
            if parsed[shape]:
                self.branches[shape.name] = self._make_branch(
                    shape, parsed[shape])
        # A placeholder only for ConvModule, which reads ``conv.padding``.
        self.padding = tuple(d * (k // 2)
                             for d, k in zip(self.dilation, self.kernel_size))

    def _make_branch(self, shape: KernelShape, n: int) -> nn.Conv3d:
        dilation = tuple(d if k > 1 else 1
                         for d, k in zip(self.dilation, shape.dims))
        padding = tuple(d * (k // 2) for d, k in zip(dilation, shape.dims))
        return nn.Conv3d(
            self.in_channels,
            n,
            shape.dims,
            stride=self.stride,
            padding=padding,
            dilation=dilation,
            bias=self.bias_enabled)

    # ------------------------------------------------------------------
    @classmethod
    def from_dense(cls,
                   conv: nn.Conv3d,
                   counts: Mapping[str, int],
                   name: Optional[str] = None,
                   impl: str = 'reference') -> 'CAKESConv3d':
        """Build the CAKES layer that replaces a dense ``nn.Conv3d``.

        Geometry (channels, kernel, stride, dilation, bias) is read off the
        dense conv; its weights are not used.

        Args:
            conv (nn.Conv3d): The dense convolution being replaced.
            counts (Mapping[str, int]): Output channels per shape; must sum
                to ``conv.out_channels``.
            name (str, optional): Module path, for error messages.
            impl (str): See the class. Defaults to ``'reference'``.

        Returns:
            CAKESConv3d: The new layer.
        """
        where = f'layer {name!r}: ' if name else ''
        if conv.groups != 1:
            raise AssignmentError(
                f'{where}grouped convolutions are not supported '
                f'(groups={conv.groups})')
        if conv.stride[1] != conv.stride[2]:
            raise AssignmentError(
                f'{where}spatial strides must match, got {conv.stride}')
        total = sum(counts.values())
        if total != conv.out_channels:
            raise AssignmentError(
                f'{where}counts {dict(counts)} sum to {total}, expected the '
                f'layer width {conv.out_channels}')
        return cls(
            conv.in_channels,
            counts,
            conv.kernel_size,
            spatial_stride=conv.stride[1],
            temporal_stride=conv.stride[0],
            dilation=conv.dilation,
            bias=conv.bias is not None,
            name=name,
            impl=impl)

    @property
    def shapes(self) -> Tuple[str, ...]:
        """tuple[str]: Shapes with a branch, in concatenation order."""
        return tuple(self.branches.keys())

    def init_weights(self) -> None:
        """Kaiming normal (fan_out, relu) per branch, as ResNet3d does.

        ConvModule calls this instead of its own init when it exists.
        """
        for branch in self.branches.values():
            nn.init.kaiming_normal_(
                branch.weight, mode='fan_out', nonlinearity='relu')
            if branch.bias is not None:
                nn.init.zeros_(branch.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Reference forward: every branch, then one concatenation.

        Other ``impl`` values dispatch to
        :func:`~cakes_mmaction.layers.impl_dispatch.impl_forward`, except
        under ``torch.jit.trace``: FLOP counters (``mmengine.analysis``)
        and ONNX export record the reference computation, so they count
        the layer's true multiply-adds and see one conv per branch.
        """
        if self.impl != 'reference' and not torch.jit.is_tracing():
            return impl_forward(self, x)
        return self.reference_forward(x)

    def reference_forward(self, x: torch.Tensor) -> torch.Tensor:
        """The layer's definition (``impl='reference'``): every branch,
        then one concatenation in canonical order."""
        outs = [branch(x) for branch in self.branches.values()]
        return outs[0] if len(outs) == 1 else torch.cat(outs, dim=1)

    # ------------------------------------------------------------------
    def to_dense(self) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
        """The equivalent dense k x k x k weight (zeros outside sub-kernels).

        Returns:
            tuple[Tensor, Tensor | None]: Weight of shape
            ``(C_out, C_in, kT, kH, kW)`` and the bias (or None).
        """
        k_t, k_h, k_w = self.kernel_size
        ref = next(iter(self.branches.values())).weight
        weight = ref.new_zeros(self.out_channels, self.in_channels, k_t, k_h,
                               k_w)
        bias = ref.new_zeros(self.out_channels) if self.bias_enabled else None
        start = 0
        for name, branch in self.branches.items():
            t, h, w = parse_shape(name).dims
            n = branch.out_channels
            t0, h0, w0 = (k_t - t) // 2, (k_h - h) // 2, (k_w - w) // 2
            weight[start:start + n, :, t0:t0 + t, h0:h0 + h,
                   w0:w0 + w] = branch.weight
            if bias is not None:
                bias[start:start + n] = branch.bias
            start += n
        return weight, bias

    @torch.no_grad()
    def inflate_from_2d(self, weight_2d: torch.Tensor) -> None:
        """Initialise the branches from a 2D ``(C_out, C_in, kH, kW)`` conv.

        Filters are given to branches by position in concatenation order
        (zero-count shapes have no branch, so they take no filters). Per
        branch of shape ``t x h x w``: the 2D kernel is summed over the
        spatial axes where the branch has extent 1 (as is, for full spatial
        extent), then repeated over ``t`` taps and divided by ``t``. So
        3x3x3 is I3D mean inflation, 1x3x3 is the 2D kernel, and 3x1x1 is
        the spatial sum spread over 3 taps.

        Args:
            weight_2d (Tensor): The 2D weight.
        """
        expected = (self.out_channels, self.in_channels) + tuple(
            self.kernel_size[1:])
        if tuple(weight_2d.shape) != expected:
            raise AssignmentError(
                f'layer {self.layer_name!r}: 2D weight of shape '
                f'{tuple(weight_2d.shape)} cannot be inflated, expected '
                f'{expected}')
        start = 0
        for name, branch in self.branches.items():
            t, h, w = parse_shape(name).dims
            n = branch.out_channels
            part = weight_2d[start:start + n].to(branch.weight)
            if h == 1:
                part = part.sum(dim=2, keepdim=True)
            if w == 1:
                part = part.sum(dim=3, keepdim=True)
            part = part.unsqueeze(2).repeat(1, 1, t, 1, 1) / t
            branch.weight.copy_(part)
            start += n

    def geometry(self, out_thw: Sequence[int],
                 path: Optional[str] = None) -> LayerGeometry:
        """This layer's :class:`~cakes_mmaction.cost.LayerGeometry`."""
        return LayerGeometry(
            path=path or self.layer_name or '',
            in_channels=self.in_channels,
            out_channels=self.out_channels,
            out_thw=tuple(out_thw),
            kernel_size=self.kernel_size,
            bias=self.bias_enabled)

    def cost(self, out_thw: Sequence[int]) -> Dict[str, BranchCost]:
        """Analytic parameters and multiply-adds per shape.

        Args:
            out_thw (Sequence[int]): Output ``(T, H, W)``.

        Returns:
            dict[str, BranchCost]: Per shape, in concatenation order.
        """
        return layer_cost(self.geometry(out_thw), self.counts)

    def extra_repr(self) -> str:
        counts = ', '.join(f'{s}: {n}' for s, n in self.counts.items())
        impl = '' if self.impl == 'reference' else f', impl={self.impl!r}'
        return (f'{self.in_channels}, {self.out_channels}, counts={{{counts}}}'
                f', stride={self.stride}, dilation={self.dilation}{impl}')

    # ------------------------------------------------------------------
    def _load_from_state_dict(self, state_dict, prefix, local_metadata,
                              strict, missing_keys, unexpected_keys,
                              error_msgs) -> None:
        # A checkpoint of another assignment would give one size-mismatch
        # per branch (or silently skip under mmengine's strict=False);
        # report the whole count table of the first mismatching layer.
        theirs = OrderedDict()
        for key, value in state_dict.items():
            shape = local_branch_shape(key, prefix)
            if shape is not None:
                theirs[shape] = int(value.shape[0])
        if theirs:
            ours = {s: n for s, n in self.counts.items() if n}
            if theirs != ours:
                layer = site_name(prefix)
                if sum(theirs.values()) != sum(ours.values()):
                    # Not a split of the same channels: another network.
                    raise AssignmentError(
                        f'checkpoint is of another architecture: layer '
                        f'{layer!r} has {sum(theirs.values())} output '
                        f'channels in the checkpoint but '
                        f'{sum(ours.values())} in the model. Use the config '
                        f'the checkpoint was trained with.')
                raise AssignmentError(
                    f'checkpoint was trained with another channel '
                    f'assignment: layer {layer!r} has counts '
                    f'{dict(theirs)} in the checkpoint but {ours} in the '
                    f'model. Build the model with the checkpoint\'s '
                    f'assignment (Assignment.from_state_dict recovers it).')
        super()._load_from_state_dict(state_dict, prefix, local_metadata,
                                      strict, missing_keys, unexpected_keys,
                                      error_msgs)
