"""Running a :class:`~cakes_mmaction.layers.cakes_plan.Plan`: build each
group's weight from the branch parameters, convolve, put the channels back
in canonical order.

Everything is differentiable with respect to the branch parameters, so
autograd gives their gradients directly. A built group weight is not kept
for backward: autograd keeps how to rebuild it (see
:func:`_recompute_weight`), so a plan holds no more memory than the
reference forward.
"""
from functools import lru_cache
from typing import List, Mapping, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F

from ..shapes import parse_shape
from .cakes_plan import Group, Plan

__all__ = ['run_plan', 'group_params']


def _group_weight(group: Group,
                  weights: Mapping[str, torch.Tensor]) -> torch.Tensor:
    parts = []
    for piece in group.pieces:
        # Sizes come from the plan, never from tensor shapes, so that a
        # traced graph (ONNX, torch.jit) has no data-dependent branches.
        weight = weights[piece.shape][piece.start:piece.stop]
        pad = []
        for k, w in zip(reversed(group.kernel), reversed(_dims(piece.shape))):
            pad += [(k - w) // 2] * 2
        if any(pad):
            weight = F.pad(weight, pad)
        parts.append(weight)
    weight = parts[0] if len(parts) == 1 else torch.cat(parts)
    if group.mode == 'temporal':  # (n, C, k, 1, 1) -> (n, C, k, 1)
        return weight.flatten(3)
    if group.mode == 'frames':  # (n, C, 1, k, k) -> (n, C, k, k)
        return weight.squeeze(2)
    return weight


def group_params(group: Group, weights: Mapping[str, torch.Tensor],
                 biases: Optional[Mapping[str, torch.Tensor]]):
    """The ``(weight, bias)`` a group convolves with.

    Args:
        group (Group): The group.
        weights (Mapping[str, Tensor]): Branch weight by shape.
        biases (Mapping[str, Tensor], optional): Branch bias by shape.

    Returns:
        tuple[Tensor, Tensor | None]: The group's weight (reshaped for its
        mode) and bias.
    """
    weight = _group_weight(group, weights)
    bias = None
    if biases is not None:
        parts = [biases[p.shape][p.start:p.stop] for p in group.pieces]
        bias = parts[0] if len(parts) == 1 else torch.cat(parts)
    return weight, bias


@lru_cache(maxsize=None)
def _dims(shape: str) -> Tuple[int, int, int]:
    return parse_shape(shape).dims


def _copies_weights(group: Group) -> bool:
    # A group of one unpadded piece convolves a view of its parameter.
    return len(group.pieces) > 1 or _dims(
        group.pieces[0].shape) != group.kernel


class _Recipe:
    """What autograd keeps of a built group weight: how to rebuild it."""

    __slots__ = ('group', 'weights', 'versions')

    def __init__(self, group: Group, weights: Mapping[str, torch.Tensor]):
        self.group = group
        self.weights = weights
        self.versions = {k: w._version for k, w in weights.items()}

    def build(self) -> torch.Tensor:
        for key, weight in self.weights.items():
            if weight._version != self.versions[key]:
                raise RuntimeError(
                    f'branch {key!r} of a CAKES layer was modified in '
                    f'place between forward and backward')
        # Plain backward runs without grad mode; create_graph=True (double
        # backward) runs with it and gets a differentiable rebuild.
        return _group_weight(self.group, self.weights)


def _recompute_weight(weight: torch.Tensor, group: Group,
                      weights: Mapping[str, torch.Tensor]):
    """Autograd saves a rebuild recipe instead of the built weight.

    The convolution saves its weight for the input gradient; a built group
    weight is a copy of the branch weights, so keeping it would hold every
    CAKES weight twice until backward. Rebuilding it there costs a copy.
    """
    key = (weight.data_ptr(), weight.shape, weight.stride())

    def pack(tensor):
        if (tensor.data_ptr(), tensor.shape, tensor.stride()) == key:
            return _Recipe(group, weights)
        return tensor

    def unpack(saved):
        return saved.build() if isinstance(saved, _Recipe) else saved

    return torch.autograd.graph.saved_tensors_hooks(pack, unpack)


def _run_group(group: Group, x: torch.Tensor, weight: torch.Tensor,
               bias: Optional[torch.Tensor], stride: Sequence[int],
               dilation: Sequence[int]) -> torch.Tensor:
    # An axis of extent 1 has no dilation, as in CAKESConv3d._make_branch.
    dil = tuple(d if k > 1 else 1 for d, k in zip(dilation, group.kernel))
    pad = tuple(d * (k // 2) for d, k in zip(dil, group.kernel))
    s_t, s_h, s_w = stride
    if group.mode == 'temporal':
        if s_h > 1 or s_w > 1:
            x = x[:, :, :, ::s_h, ::s_w]
        n, c, t, h, w = x.shape
        out = F.conv2d(
            x.reshape(n, c, t, h * w),
            weight,
            bias,
            stride=(s_t, 1),
            padding=(pad[0], 0),
            dilation=(dil[0], 1))
        return out.reshape(n, out.shape[1], out.shape[2], h, w)
    if group.mode == 'frames':
        if s_t > 1:
            x = x[:, :, ::s_t]
        n, c, t, h, w = x.shape
        frames = x.transpose(1, 2).reshape(n * t, c, h, w)
        out = F.conv2d(
            frames,
            weight,
            bias,
            stride=(s_h, s_w),
            padding=pad[1:],
            dilation=dil[1:])
        out = out.reshape(n, t, out.shape[1], out.shape[2], out.shape[3])
        return out.transpose(1, 2)
    return F.conv3d(x, weight, bias, stride, pad, dil)


def run_plan(plan: Plan,
             x: torch.Tensor,
             weights: Mapping[str, torch.Tensor],
             biases: Optional[Mapping[str, torch.Tensor]],
             stride: Sequence[int],
             dilation: Sequence[int],
             params: Optional[List[tuple]] = None) -> torch.Tensor:
    """Compute a layer with a plan.

    Args:
        plan (Plan): The plan.
        x (Tensor): Input ``(N, C_in, T, H, W)``.
        weights (Mapping[str, Tensor]): Branch weight by shape.
        biases (Mapping[str, Tensor], optional): Branch bias by shape.
        stride (Sequence[int]): ``(T, H, W)`` stride.
        dilation (Sequence[int]): ``(T, H, W)`` dilation.
        params (list[tuple], optional): Prebuilt ``(weight, bias)`` per
            group (the inference cache). Defaults to None.

    Returns:
        Tensor: Output ``(N, C_out, T', H', W')``, canonical order.
    """
    outs = []
    recording = torch.is_grad_enabled() and any(
        w.requires_grad for w in weights.values())
    for index, group in enumerate(plan.groups):
        weight, bias = (params[index] if params is not None else
                        group_params(group, weights, biases))
        if recording and params is None and _copies_weights(group):
            with _recompute_weight(weight, group, weights):
                out = _run_group(group, x, weight, bias, stride, dilation)
        else:
            out = _run_group(group, x, weight, bias, stride, dilation)
        outs.append(out)
    if len(plan.runs) == 1:
        index, start, stop = plan.runs[0]
        if start == 0 and stop == plan.groups[index].channels:
            return outs[index]
    return torch.cat([outs[i][:, a:b] for i, a, b in plan.runs], dim=1)
