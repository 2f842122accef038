"""CAKESSupernetConv3d: every candidate kernel shape at full width.

The search supernet of CAKES (Yu et al., AAAI 2021, arXiv 2003.12798)
offers every candidate shape for every one of the ``C`` output channels of
a layer, so a layer has ``n * C`` candidate channels for ``n`` shapes.
Each candidate has its own BatchNorm scale ``gamma``, whose magnitude is
the candidate's importance::

                           x  (N, C_in, T, H, W)
          +----------------+----------------+----------------+
      Conv 3x3x3        Conv 1x3x3       Conv 3x1x1        ...   C outputs
      (C outputs)       (C outputs)      (C outputs)             each
          +-------- concat, canonical shape order --------+
                     BN over all n*C candidates (gamma = importance)
                                  |
                     mask: 'C' scheme keeps all candidates;
                           'P' scheme keeps exactly C of them
                                  |
                           y  (N, n*C, T', H', W')

Candidate ``j`` is always output channel ``j`` (shape block ``j // C``,
filter ``j % C``), so the next 1x1x1 conv, which takes all ``n * C``
channels, sees the same candidate in the same input channel on every
iteration; dropped candidates are zeros, not shifted away.

- ``scheme='C'``: all candidates are kept; the L1 penalty on ``gamma``
  (:meth:`l1_penalty`) makes them compete. Train and eval run the same
  deterministic function.
- ``scheme='P'``: each training forward keeps a uniformly random subset of
  exactly ``C`` candidates, drawn with torch's global RNG (so mmengine's
  ``randomness=dict(seed=...)`` governs it). BatchNorm runs over all
  candidates, so the batch statistics of a kept candidate are its own and
  the running statistics of every candidate update in place. In eval mode
  the layer keeps the top-``C`` candidates by ``|gamma|`` with the tie-break
  of the exporter (:func:`~cakes_mmaction.search.top_c.top_c`): the network
  that export would produce.

The branch weights keep the state-dict keys of
:class:`~cakes_mmaction.layers.CAKESConv3d`
(``branches.<shape>.weight``); the BatchNorm is ``bn``.
"""
from collections import OrderedDict
from typing import Dict, Iterable, Mapping, Optional, Sequence, Union

import torch
import torch.nn as nn
from torch.nn.modules.batchnorm import _BatchNorm

from ..assignment import AssignmentError
from ..layers import CAKESConv3d
from ..shapes import canonical_order, parse_shape
from .top_c import top_c, top_c_indices

__all__ = [
    'CAKESSupernetConv3d', 'SCHEMES', 'top_c_indices', 'shape_penalty_weights'
]

#: Search schemes of the paper: cost priority and performance priority.
SCHEMES = ('C', 'P')


def shape_penalty_weights(shapes: Iterable[str],
                          reweight: bool = True) -> Dict[str, float]:
    """Per-shape weights of the C-scheme L1 penalty.

    With ``reweight`` the weight is the shape's kernel volume over the sum
    of the volumes of the set: 9/13, 3/13, 1/13 for 3x3x3, 1x3x3, 3x1x1;
    3/4 and 1/4 for any two shapes of volume ratio 3 (the paper's values),
    and the same rule for any other set.

    Args:
        shapes (Iterable[str]): The layer's candidate shapes.
        reweight (bool): Weight by kernel volume; otherwise every weight
            is 1. Defaults to True.

    Returns:
        dict[str, float]: Weight per shape name, canonical order.
    """
    ordered = canonical_order(shapes)
    if not ordered:
        raise ValueError('a penalty needs at least one shape')
    if not reweight:
        return OrderedDict((s.name, 1.0) for s in ordered)
    total = sum(s.volume for s in ordered)
    return OrderedDict((s.name, s.volume / total) for s in ordered)


class CAKESSupernetConv3d(CAKESConv3d):
    """All candidate shapes at full width, one BatchNorm, a candidate mask.

    Args:
        in_channels (int): Input channels; every branch sees all of them.
        width (int): ``C``, the output width of the layer being searched;
            each shape gets ``C`` candidates.
        shapes (Iterable[str]): Candidate shapes (sub-kernels of
            ``kernel_size``), at least two.
        kernel_size (int | tuple[int, int, int]): The dense kernel.
            Defaults to 3.
        scheme (str): ``'C'`` or ``'P'``. Defaults to ``'C'``.
        norm (nn.Module, optional): An affine BatchNorm over
            ``len(shapes) * width`` channels (e.g. from mmcv's
            ``build_norm_layer``, for SyncBN). Defaults to None (an
            ``nn.BatchNorm3d``).
        spatial_stride (int): Stride along H and W. Defaults to 1.
        temporal_stride (int): Stride along T. Defaults to 1.
        dilation (int | tuple[int, int, int]): Dilation. Defaults to 1.
        bias (bool): Whether branches have a bias. Defaults to False.
        name (str, optional): Module path used in messages.
            Defaults to None.
        impl (str): How the convolution of all candidates runs (see
            :class:`CAKESConv3d`). Defaults to ``'reference'``.
    """

    def __init__(self,
                 in_channels: int,
                 width: int,
                 shapes: Iterable[str],
                 kernel_size: Union[int, Sequence[int]] = 3,
                 *,
                 scheme: str = 'C',
                 norm: Optional[nn.Module] = None,
                 spatial_stride: int = 1,
                 temporal_stride: int = 1,
                 dilation: Union[int, Sequence[int]] = 1,
                 bias: bool = False,
                 name: Optional[str] = None,
                 impl: str = 'reference') -> None:
        where = f'layer {name!r}: ' if name else ''
        if scheme not in SCHEMES:
            raise ValueError(f'{where}scheme must be one of {SCHEMES}, got '
                             f'{scheme!r}')
        names = [parse_shape(s).name for s in shapes]
        if len(set(names)) != len(names) or len(names) < 2:
            raise AssignmentError(
                f'{where}a search needs at least two distinct candidate '
                f'shapes, got {names}')
        if isinstance(width, bool) or not isinstance(width, int) or \
                width < 1:
            raise AssignmentError(
                f'{where}width must be a positive int, got {width!r}')
        super().__init__(
            in_channels, {s: width
                          for s in names},
            kernel_size,
            spatial_stride=spatial_stride,
            temporal_stride=temporal_stride,
            dilation=dilation,
            bias=bias,
            name=name,
            impl=impl)
        self.scheme = scheme
        #: ``C``: output channels the searched layer will have.
        self.width = int(width)
        if norm is None:
            norm = nn.BatchNorm3d(self.out_channels)
        if not isinstance(norm, _BatchNorm) or not norm.affine or \
                norm.num_features != self.out_channels:
            raise ValueError(
                f'{where}the supernet needs an affine BatchNorm over '
                f'{self.out_channels} candidates (its gamma is the '
                f'importance), got {norm!r}')
        self.bn = norm
        #: Boolean mask of the candidates used by the last forward
        #: (None when all were kept).
        self.last_mask: Optional[torch.Tensor] = None

    @classmethod
    def from_dense(cls,
                   conv: nn.Conv3d,
                   shapes: Iterable[str],
                   name: Optional[str] = None,
                   *,
                   scheme: str = 'C',
                   norm: Optional[nn.Module] = None,
                   impl: str = 'reference') -> 'CAKESSupernetConv3d':
        """Build the supernet layer that searches a dense ``nn.Conv3d``.

        Args:
            conv (nn.Conv3d): The dense conv of the skeleton (geometry
                only; its weights are not used).
            shapes (Iterable[str]): Candidate shapes.
            name (str, optional): Module path. Defaults to None.
            scheme (str): ``'C'`` or ``'P'``. Defaults to ``'C'``.
            norm (nn.Module, optional): See the class. Defaults to None.
            impl (str): See the class. Defaults to ``'reference'``.

        Returns:
            CAKESSupernetConv3d: The new layer.
        """
        where = f'layer {name!r}: ' if name else ''
        if conv.groups != 1 or conv.stride[1] != conv.stride[2]:
            raise AssignmentError(
                f'{where}only ungrouped convs with equal H/W strides can be '
                f'searched (groups={conv.groups}, stride={conv.stride})')
        return cls(
            conv.in_channels,
            conv.out_channels,
            shapes,
            conv.kernel_size,
            scheme=scheme,
            norm=norm,
            spatial_stride=conv.stride[1],
            temporal_stride=conv.stride[0],
            dilation=conv.dilation,
            bias=conv.bias is not None,
            name=name,
            impl=impl)

    # ------------------------------------------------------------------
    def gamma(self) -> torch.Tensor:
        """Tensor: The BatchNorm scales, one per candidate (a view)."""
        return self.bn.weight

    def importance(self) -> Dict[str, torch.Tensor]:
        """``|gamma|`` of the candidates, by shape.

        Returns:
            dict[str, Tensor]: ``{shape: (C,) tensor}`` in concatenation
            order, detached.
        """
        scores = self.bn.weight.detach().abs()
        return OrderedDict(
            (shape, scores[i * self.width:(i + 1) * self.width])
            for i, shape in enumerate(self.shapes))

    def l1_penalty(self,
                   reweight: bool = True,
                   weights: Optional[Mapping[str, float]] = None
                   ) -> torch.Tensor:
        """``sum_shape w_shape * sum |gamma_shape|`` (differentiable).

        Args:
            reweight (bool): Weight shapes by kernel volume
                (:func:`shape_penalty_weights`). Defaults to True.
            weights (Mapping[str, float], optional): Explicit weight per
                shape (e.g. measured costs from
                :meth:`ShapeCostTable.penalty_weights`); overrides
                ``reweight``. Defaults to None.

        Returns:
            Tensor: A scalar.
        """
        if weights is None:
            weights = shape_penalty_weights(self.shapes, reweight)
        missing = [s for s in self.shapes if s not in weights]
        if missing:
            raise KeyError(f'layer {self.layer_name!r}: no penalty weight '
                           f'for shape(s) {missing}; got {dict(weights)}')
        per_candidate = torch.cat([
            self.bn.weight.new_full((self.width, ), float(weights[s]))
            for s in self.shapes
        ])
        return (per_candidate * self.bn.weight.abs()).sum()

    def top_c_mask(self) -> torch.Tensor:
        """The candidates export would keep: top ``C`` by ``|gamma|``.

        Returns:
            Tensor: Boolean mask over the ``n * C`` candidates.
        """
        mask = torch.zeros(
            self.out_channels, dtype=torch.bool, device=self.bn.weight.device)
        mask[top_c(self.bn.weight.abs(), self.width).indices] = True
        return mask

    def top_c_counts(self) -> Dict[str, int]:
        """How many channels of each shape export would keep now.

        Returns:
            dict[str, int]: Count per shape (summing to ``C``), candidate
            order.
        """
        counts = top_c(self.bn.weight.abs(), self.width).counts
        return OrderedDict(zip(self.shapes, counts))

    def sample_mask(self) -> torch.Tensor:
        """A uniformly random subset of exactly ``C`` candidates.

        Drawn on the CPU with torch's global generator, so a seeded run
        samples the same subsets on any device.

        Returns:
            Tensor: Boolean mask over the ``n * C`` candidates.
        """
        keep = torch.randperm(self.out_channels)[:self.width]
        mask = torch.zeros(self.out_channels, dtype=torch.bool)
        mask[keep] = True
        return mask.to(self.bn.weight.device)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """All candidates, BatchNorm, then the scheme's candidate mask."""
        y = self.bn(super().forward(x))
        if self.scheme == 'C':
            self.last_mask = None
            return y
        mask = self.sample_mask() if self.training else self.top_c_mask()
        self.last_mask = mask
        return y * mask.view(1, -1, 1, 1, 1).to(y.dtype)

    # ------------------------------------------------------------------
    @torch.no_grad()
    def inflate_from_2d(self, weight_2d: torch.Tensor) -> None:
        """Give every shape group a full copy of a 2D conv's filters.

        Each group gets the ``C`` filters of the ``(C, C_in, kH, kW)``
        weight, inflated by the per-shape rules of
        :meth:`CAKESConv3d.inflate_from_2d` (the paper: "each
        group gets a full copy").

        Args:
            weight_2d (Tensor): The 2D weight of the dense layer.
        """
        expected = (self.width, self.in_channels) + tuple(
            self.kernel_size[1:])
        if tuple(weight_2d.shape) != expected:
            raise AssignmentError(
                f'layer {self.layer_name!r}: 2D weight of shape '
                f'{tuple(weight_2d.shape)} cannot be inflated, expected '
                f'{expected}')
        # Filters go to branches by position, so n stacked copies give
        # each shape group the whole set.
        super().inflate_from_2d(weight_2d.repeat(len(self.shapes), 1, 1, 1))

    @torch.no_grad()
    def inflate_bn_from_2d(self, params: Dict[str, torch.Tensor]) -> list:
        """Tile a 2D BatchNorm (``C`` channels) over the shape groups.

        Args:
            params (dict[str, Tensor]): ``weight``, ``bias``,
                ``running_mean``, ``running_var`` of the 2D BatchNorm
                (missing entries are left as they are).

        Returns:
            list[str]: The names that were used.
        """
        used = []
        groups = len(self.shapes)
        targets = dict(self.bn.named_parameters())
        targets.update(self.bn.named_buffers())
        for key, value in params.items():
            target = targets.get(key)
            if target is None or target.dim() != 1:
                continue
            if tuple(value.shape) != (self.width, ):
                raise AssignmentError(
                    f'layer {self.layer_name!r}: 2D BatchNorm {key} has '
                    f'shape {tuple(value.shape)}, expected ({self.width},)')
            target.copy_(value.to(target).repeat(groups))
            used.append(key)
        return used

    def extra_repr(self) -> str:
        return (f'{self.in_channels}, width={self.width}, '
                f'shapes={list(self.shapes)}, scheme={self.scheme!r}, '
                f'stride={self.stride}, dilation={self.dilation}')
