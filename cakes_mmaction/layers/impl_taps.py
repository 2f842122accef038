"""``taps``: the temporal-tap decomposition of a CAKES layer.

A ``t x h x w`` sub-kernel is ``t`` spatial ``h x w`` kernels applied to
frames shifted in time. So, per distinct spatial slice ``h x w`` of the
layer's shapes, one ``conv2d`` over the ``N * T`` frames computes every
time tap of every channel whose shape has that slice (the rows of its
weight are ``(shape, tap, channel)``); ``1 x 1`` slices (``3x1x1``,
``1x1x1``) are a 1x1 convolution, i.e. a GEMM. One pass then shifts the
taps along time, adds them, adds the bias and writes the output in the
canonical channel order (:class:`_ShiftAdd`).

It does exactly the layer's multiply-adds, on the 2D convolution and GEMM
paths that oneDNN and cuDNN tune best. A ``channels_last_3d`` input viewed
as ``(N * T, C, H, W)`` frames is a channels-last 4D tensor without a copy;
a contiguous input is copied once into frames.

Shapes with one time tap read only the frames a temporal stride keeps, so
under a temporal stride they get their own convolution over those frames;
every other slice convolves all frames.

Autograd differentiates the convolutions; the shift-add is linear, and its
backward (the adjoint gather) is a function too, so double backward works.
Nothing of the tap outputs is kept for backward.
"""
from dataclasses import dataclass
from functools import lru_cache
from typing import List, Optional, Tuple

import torch
import torch.nn.functional as F

from ..shapes import parse_shape
from .impl_plans import output_thw, records_grad
from .impl_registry import CAKESImpl, cached_weights, register_impl

__all__ = ['TapsImpl', 'tap_layout']


@dataclass(frozen=True)
class _Member:
    """The channels of one shape inside one convolution."""

    shape: str
    taps: int
    channels: int
    row: int  # first weight row of this shape in its convolution
    out: int  # first output channel of this shape in the layer


@dataclass(frozen=True)
class _Conv:
    """One conv2d over frames: a spatial slice and its members."""

    kernel: Tuple[int, int]
    subsample: bool  # frames already strided in time
    members: Tuple[_Member, ...]

    @property
    def rows(self) -> int:
        """int: Output channels of the convolution."""
        return sum(m.taps * m.channels for m in self.members)


@lru_cache(maxsize=None)
def tap_layout(counts: Tuple[Tuple[str, int], ...],
               temporal_stride: int) -> Tuple[_Conv, ...]:
    """The convolutions ``taps`` runs for a layer's counts.

    Args:
        counts (tuple[tuple[str, int], ...]): ``(shape, count)``,
            canonical order.
        temporal_stride (int): The layer's temporal stride.

    Returns:
        tuple[_Conv, ...]: One per distinct (spatial slice, subsampled).
    """
    groups = {}
    out = 0
    for shape, n in counts:
        t, h, w = parse_shape(shape).dims
        if n:
            key = ((h, w), t == 1 and temporal_stride > 1)
            groups.setdefault(key, []).append((shape, t, n, out))
        out += n
    convs = []
    for (kernel, subsample), items in groups.items():
        members, row = [], 0
        for shape, t, n, start in items:
            members.append(_Member(shape, t, n, row, start))
            row += t * n
        convs.append(_Conv(kernel, subsample, tuple(members)))
    return tuple(convs)


# ----------------------------------------------------------------------
# The shift-add and its adjoint.
@dataclass(frozen=True)
class _Copy:
    """``out[:, c:c+n, lo:hi] (+)= z[conv][:, f, r:r+n]`` with ``f = to *
    step + offset`` over output frames ``to`` in ``[lo, hi)``."""

    conv: int
    row: int
    channels: int
    out: int
    lo: int
    hi: int
    step: int
    offset: int
    first: bool  # copy (the centre tap, which covers every frame)


@dataclass(frozen=True)
class _Spec:
    copies: Tuple[_Copy, ...]
    frames: Tuple[int, ...]  # frames of each convolution's output
    rows: Tuple[int, ...]
    out_channels: int
    out_frames: int


@lru_cache(maxsize=4096)
def _spec(convs: Tuple[_Conv, ...], frames_in: int, stride_t: int,
          dilation_t: int, out_channels: int) -> _Spec:
    out_frames = (frames_in - 1) // stride_t + 1
    copies, frames = [], []
    for index, conv in enumerate(convs):
        frames.append(out_frames if conv.subsample else frames_in)
        for m in conv.members:
            dil = dilation_t if m.taps > 1 else 1
            pad = dil * (m.taps // 2)
            centre = m.taps // 2
            for tap in sorted(range(m.taps), key=lambda i: i != centre):
                if conv.subsample:
                    step, offset = 1, 0
                else:
                    step, offset = stride_t, tap * dil - pad
                # 0 <= to * step + offset <= frames[-1] - 1
                lo = max(0, (-offset + step - 1) // step)
                hi = min(out_frames, (frames[-1] - 1 - offset) // step + 1)
                if hi <= lo:
                    continue
                copies.append(
                    _Copy(index, m.row + tap * m.channels, m.channels, m.out,
                          lo, hi, step, offset, tap == centre))
    return _Spec(
        tuple(copies), tuple(frames), tuple(c.rows for c in convs),
        out_channels, out_frames)


def _z_view(z: torch.Tensor, batch: int) -> torch.Tensor:
    # (N * T, M, H, W) -> (N, T, M, H, W), a view in either layout.
    return z.unflatten(0, (batch, z.shape[0] // batch))


def _src(z: torch.Tensor, c: _Copy) -> torch.Tensor:
    first = c.lo * c.step + c.offset
    last = (c.hi - 1) * c.step + c.offset
    return z[:, first:last + 1:c.step, c.row:c.row + c.channels]


def _shift_add(spec: _Spec, bias: Optional[torch.Tensor], zs, batch: int,
               channels_last: bool) -> torch.Tensor:
    views = [_z_view(z, batch) for z in zs]
    h, w = views[0].shape[-2:]
    out = torch.empty(
        (batch, spec.out_channels, spec.out_frames, h, w),
        dtype=views[0].dtype,
        device=views[0].device,
        memory_format=torch.channels_last_3d
        if channels_last else torch.contiguous_format)
    for c in spec.copies:
        dst = out[:, c.out:c.out + c.channels, c.lo:c.hi]
        src = _src(views[c.conv], c).transpose(1, 2)
        if c.first:
            dst.copy_(src)
        else:
            dst.add_(src)
    if bias is not None:
        out.add_(bias.to(out.dtype).view(1, -1, 1, 1, 1))
    return out


def _zeros(shape, channels_last: bool, like: torch.Tensor) -> torch.Tensor:
    return torch.empty(
        shape,
        dtype=like.dtype,
        device=like.device,
        memory_format=torch.channels_last
        if channels_last else torch.contiguous_format).zero_()


def _gather(spec: _Spec, grad: torch.Tensor,
            like: Tuple[Tuple[torch.Size, bool], ...]) -> List[torch.Tensor]:
    batch = grad.shape[0]
    zs = [_zeros(shape, channels_last, grad) for shape, channels_last in like]
    views = [_z_view(z, batch) for z in zs]
    for c in spec.copies:
        src = grad[:, c.out:c.out + c.channels, c.lo:c.hi]
        _src(views[c.conv], c).add_(src.transpose(1, 2))
    return zs


def _is_cl4(z: torch.Tensor) -> bool:
    return not z.is_contiguous() and z.is_contiguous(
        memory_format=torch.channels_last)


class _ShiftAdd(torch.autograd.Function):
    """Output from the tap convolutions (linear in them and the bias)."""

    @staticmethod
    def forward(ctx, spec, batch, channels_last, bias, *zs):
        ctx.spec = spec
        ctx.like = tuple((z.shape, _is_cl4(z)) for z in zs)
        ctx.has_bias = bias is not None
        return _shift_add(spec, bias, zs, batch, channels_last)

    @staticmethod
    def backward(ctx, grad):
        grads = _Gather.apply(ctx.spec, ctx.like, grad)
        grad_bias = grad.sum((0, 2, 3, 4)) if ctx.has_bias else None
        return (None, None, None, grad_bias) + tuple(grads)


class _Gather(torch.autograd.Function):
    """The adjoint of :class:`_ShiftAdd` (its backward)."""

    @staticmethod
    def forward(ctx, spec, like, grad):
        ctx.spec = spec
        ctx.like = like
        ctx.batch = grad.shape[0]
        ctx.ref = grad.new_empty(())
        ctx.channels_last = grad.is_contiguous(
            memory_format=torch.channels_last_3d) and not grad.is_contiguous()
        return tuple(_gather(spec, grad, like))

    @staticmethod
    def backward(ctx, *grads):
        grads = [
            g if g is not None else _zeros(shape, cl, ctx.ref)
            for g, (shape, cl) in zip(grads, ctx.like)
        ]
        out = _ShiftAdd.apply(ctx.spec, ctx.batch, ctx.channels_last, None,
                              *grads)
        return None, None, out


# ----------------------------------------------------------------------
def _weights(layer, convs: Tuple[_Conv, ...]) -> List[torch.Tensor]:
    # (n, C, t, h, w) -> (t * n, C, h, w): rows are (tap, channel).
    branches = layer.branches._modules
    weights = []
    for conv in convs:
        parts = []
        for m in conv.members:
            weight = branches[m.shape].weight
            parts.append(
                weight.permute(2, 0, 1, 3, 4).reshape(
                    m.taps * m.channels, weight.shape[1], *conv.kernel))
        weights.append(parts[0] if len(parts) == 1 else torch.cat(parts))
    return weights


def _bias(layer) -> Optional[torch.Tensor]:
    if not layer.bias_enabled:
        return None
    return torch.cat([b.bias for b in layer.branches._modules.values()])


def _frames(x: torch.Tensor) -> torch.Tensor:
    # (N, C, T, H, W) -> (N * T, C, H, W); no copy for channels_last_3d.
    n, c, t, h, w = x.shape
    return x.transpose(1, 2).reshape(n * t, c, h, w)


def _channels_last(x: torch.Tensor) -> bool:
    return not x.is_contiguous() and x.is_contiguous(
        memory_format=torch.channels_last_3d)


@register_impl('taps')
class TapsImpl(CAKESImpl):
    """One conv2d per spatial slice over frames, then one shift-add."""

    def forward(self, layer, x: torch.Tensor) -> torch.Tensor:
        s_t, s_h, s_w = layer.stride
        d_t, d_h, d_w = layer.dilation
        counts = tuple(layer.counts.items())
        convs = tap_layout(counts, s_t)
        if records_grad(layer, x):
            weights, bias = _weights(layer, convs), _bias(layer)
        else:
            weights, bias = cached_weights(
                layer, 'taps', lambda: (_weights(layer, convs), _bias(layer)))
        spec = _spec(convs, x.shape[2], s_t, d_t, layer.out_channels)
        every = sub = None
        zs = []
        for conv, weight in zip(convs, weights):
            if conv.subsample:
                if sub is None:
                    sub = _frames(x[:, :, ::s_t])
                frames = sub
            else:
                if every is None:
                    every = _frames(x)
                frames = every
            h, w = conv.kernel
            dil = (d_h if h > 1 else 1, d_w if w > 1 else 1)
            zs.append(
                F.conv2d(
                    frames,
                    weight,
                    None,
                    stride=(s_h, s_w),
                    padding=(dil[0] * (h // 2), dil[1] * (w // 2)),
                    dilation=dil))
        return _ShiftAdd.apply(spec, x.shape[0], _channels_last(x), bias,
                               *zs)

    def peak_bytes(self, layer, x: torch.Tensor,
                   train: bool) -> Optional[int]:
        from .impl_plans import _itemsize
        s_t = layer.stride[0]
        convs = tap_layout(tuple(layer.counts.items()), s_t)
        n, _, t_in, _, _ = x.shape
        t_out, h_out, w_out = output_thw(layer, x)
        z = sum(n * (t_out if c.subsample else t_in) * c.rows * h_out *
                w_out for c in convs)
        out = n * layer.out_channels * t_out * h_out * w_out
        n_in = x.numel()
        copy = 0 if _channels_last(x) else n_in
        fwd = copy + z + out
        if not train:
            return fwd * _itemsize(x)
        # Backward: the output and its gradient, the tap gradients, the
        # frames' gradient and (contiguous) its copy back to NCDHW, the
        # frames copy saved by the convolutions.
        bwd = 2 * out + z + n_in + copy + copy
        return max(fwd, bwd) * _itemsize(x)
