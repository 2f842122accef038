"""What the fused kernels need to know about one CAKES layer (no triton).

A layer is described to the kernels by the shapes that have channels, in
canonical order: their output-channel counts, their kernel extents and the
layer's stride. Padding is "same" per shape (``extent // 2`` on each axis,
dilation 1). Weights travel as one flat *packed* tensor: per shape, in the
same order, the branch weight ``(n, C_in, t, h, w)`` laid out as
``[t][h][w][C_in][n]``, so a tap's ``C_in x n`` slice is a contiguous GEMM
operand with output channels innermost.
"""
from dataclasses import dataclass
from typing import List, Sequence, Tuple

import torch

__all__ = [
    'TABLE_WIDTH', 'ConvGeometry', 'layer_geometry', 'pack_weights',
    'unpack_weights', 'output_size'
]

#: Columns of one row of :meth:`ConvGeometry.shape_table`.
TABLE_WIDTH = 10


@dataclass(frozen=True)
class ConvGeometry:
    """The shapes with channels, their counts, and the stride.

    Args:
        counts (tuple[int, ...]): Output channels per shape (all > 0).
        dims (tuple[tuple[int, int, int], ...]): ``(t, h, w)`` per shape.
        stride (tuple[int, int, int]): ``(sT, sH, sW)``.
    """

    counts: Tuple[int, ...]
    dims: Tuple[Tuple[int, int, int], ...]
    stride: Tuple[int, int, int]

    def __post_init__(self) -> None:
        if len(self.counts) != len(self.dims) or not self.counts:
            raise ValueError(f'need one (t, h, w) per count, got '
                             f'{self.counts} and {self.dims}')
        if any(n <= 0 for n in self.counts):
            raise ValueError(f'counts must be positive, got {self.counts}')
        if any(
                len(d) != 3 or min(d) < 1 or any(e % 2 == 0 for e in d)
                for d in self.dims):
            raise ValueError(f'extents must be positive odd (t, h, w), got '
                             f'{self.dims}')
        if len(self.stride) != 3 or min(self.stride) < 1:
            raise ValueError(f'stride must be 3 positive ints, got '
                             f'{self.stride}')

    @classmethod
    def from_lists(cls, counts: Sequence[int], dims: Sequence[int],
                   stride: Sequence[int]) -> 'ConvGeometry':
        """Inverse of :meth:`as_lists` (the custom op's arguments)."""
        flat = [int(d) for d in dims]
        return cls(
            tuple(int(n) for n in counts),
            tuple(tuple(flat[i:i + 3]) for i in range(0, len(flat), 3)),
            tuple(int(s) for s in stride))

    def as_lists(self) -> Tuple[List[int], List[int], List[int]]:
        """``(counts, flat dims, stride)`` as plain int lists."""
        return (list(self.counts), [e for d in self.dims
                                    for e in d], list(self.stride))

    @property
    def out_channels(self) -> int:
        """int: Sum of the counts."""
        return sum(self.counts)

    @property
    def taps(self) -> Tuple[int, ...]:
        """tuple[int, ...]: ``t * h * w`` per shape."""
        return tuple(t * h * w for t, h, w in self.dims)

    def weight_sizes(self, in_channels: int) -> Tuple[int, ...]:
        """Elements of each shape's packed weight."""
        return tuple(tap * in_channels * n
                     for tap, n in zip(self.taps, self.counts))

    def output_thw(self, thw: Sequence[int]) -> Tuple[int, int, int]:
        """Output ``(T, H, W)`` of an input ``(T, H, W)``.

        With "same" padding every shape gives the same size, the one of a
        1x1x1 convolution of the layer's stride.
        """
        return tuple((size - 1) // s + 1 for size, s in zip(thw, self.stride))

    def shape_table(self, in_channels: int) -> List[List[int]]:
        """One row per shape, read by the kernels.

        Columns: count, first output channel, offset of the packed weight,
        ``t, h, w``, padding ``t, h, w``, taps.
        """
        rows, channel, offset = [], 0, 0
        for n, (t, h, w), size in zip(self.counts, self.dims,
                                      self.weight_sizes(in_channels)):
            rows.append([
                n, channel, offset, t, h, w, t // 2, h // 2, w // 2, t * h * w
            ])
            channel += n
            offset += size
        return rows

    def tap_table(self, in_channels: int) -> List[List[int]]:
        """One row per (shape, tap), for the weight-gradient kernel.

        Columns: count, first output channel, offset of the tap's packed
        ``C_in x n`` slice, tap offsets ``dt, dh, dw`` minus the padding,
        then three zeros (same width as :meth:`shape_table`).
        """
        rows = []
        for n, channel, offset, t, h, w, pt, ph, pw, _ in self.shape_table(
                in_channels):
            for tap in range(t * h * w):
                dt, rest = divmod(tap, h * w)
                dh, dw = divmod(rest, w)
                rows.append([
                    n, channel, offset + tap * in_channels * n, dt - pt,
                    dh - ph, dw - pw, 0, 0, 0, 0
                ])
        return rows


def layer_geometry(layer) -> ConvGeometry:
    """The :class:`ConvGeometry` of a ``CAKESConv3d`` (shapes with channels).

    Args:
        layer (CAKESConv3d): The layer.

    Returns:
        ConvGeometry: Its geometry.
    """
    names = [s for s, n in layer.counts.items() if n]
    dims = tuple(tuple(layer.branches[s].kernel_size) for s in names)
    return ConvGeometry(
        tuple(layer.counts[s] for s in names), dims,
        tuple(int(s) for s in layer.stride))


def output_size(geometry: ConvGeometry,
                x_shape: Sequence[int]) -> Tuple[int, ...]:
    """Output ``(N, C_out, T', H', W')`` for an input of ``x_shape``."""
    return (int(x_shape[0]), geometry.out_channels) + geometry.output_thw(
        x_shape[2:])


def pack_weights(weights: Sequence[torch.Tensor]) -> torch.Tensor:
    """Branch weights ``(n, C_in, t, h, w)`` -> one packed flat tensor.

    Differentiable: autograd maps the packed gradient back to each branch.
    """
    return torch.cat([w.permute(2, 3, 4, 1, 0).reshape(-1) for w in weights])


def unpack_weights(packed: torch.Tensor, geometry: ConvGeometry,
                   in_channels: int) -> List[torch.Tensor]:
    """Inverse of :func:`pack_weights` (views where possible)."""
    out: List[torch.Tensor] = []
    for part, n, dims in zip(
            packed.split(geometry.weight_sizes(in_channels)), geometry.counts,
            geometry.dims):
        out.append(part.view(*dims, in_channels, n).permute(4, 3, 0, 1, 2))
    return out
