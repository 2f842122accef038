"""Execution plans of a CAKES layer: which convolution computes which
output channels.

A plan splits the output channels of a layer into *groups*. Each group is
one convolution whose kernel is the union (per-axis maximum) of the shapes
of its channels; a channel whose shape is smaller than its group's kernel
gets its branch weight zero-padded, centred. Padding is exact: every shape
is a centred sub-kernel of the dense cube, "same" padding is ``d * (k //
2)`` on every axis, and a tap that is zero adds nothing, so the channel
computes what its own branch computes.

Why group at all: oneDNN (torch's CPU convolution) computes output channels
in blocks of 16 with AVX-512 (8 with AVX2), so a branch of 35 channels costs
as much as one of 48, and a 1-channel ``3x1x1`` branch as much as 16
channels plus a full pass over the input. Moving the few channels that
overflow a block into a group with a larger kernel that has room left is
often free, and it removes a whole convolution call.

A group runs in one of three modes:

- ``'conv3d'``: ``F.conv3d``.
- ``'temporal'`` (``k x 1 x 1`` kernels): ``F.conv2d`` over the
  ``(N, C, T, H*W)`` view, a ``(k, 1)`` kernel. No copy (after the spatial
  subsampling a spatial stride needs), and much faster than ``conv3d`` for
  these memory-bound kernels.
- ``'frames'`` (``1 x k x k`` kernels): ``F.conv2d`` over the ``N*T``
  frames, free of copies when the input is ``channels_last_3d``.

The output is the groups' channels put back in canonical order by one
concatenation (the copy the reference makes too), or a group's output as is
when one group computes the whole layer in order.

This module depends on torch only through :func:`default_block`.
"""
import math
from collections import OrderedDict
from dataclasses import dataclass
from functools import lru_cache
from typing import Dict, List, Optional, Sequence, Tuple

from ..shapes import parse_shape

__all__ = [
    'Piece', 'Group', 'Plan', 'make_plan', 'reference_plan', 'block_plan',
    'dense_plan', 'candidate_plans', 'default_block', 'padded_macs',
    'kernel_padded_macs', 'MODES'
]

_Triple = Tuple[int, int, int]

MODES = ('conv3d', 'temporal', 'frames')


@dataclass(frozen=True)
class Piece:
    """Output channels ``[start, stop)`` of the branch ``shape``."""

    shape: str
    start: int
    stop: int

    @property
    def size(self) -> int:
        """int: Number of channels."""
        return self.stop - self.start


@dataclass(frozen=True)
class Group:
    """One convolution of a plan.

    Args:
        kernel (tuple[int, int, int]): Kernel ``(T, H, W)``, the union of
            its pieces' shapes.
        pieces (tuple[Piece, ...]): Its output channels, in the order the
            convolution produces them.
        mode (str): One of :data:`MODES`. Defaults to ``'conv3d'``.
    """

    kernel: _Triple
    pieces: Tuple[Piece, ...]
    mode: str = 'conv3d'

    @property
    def channels(self) -> int:
        """int: Output channels of the convolution."""
        return sum(p.size for p in self.pieces)


@dataclass(frozen=True)
class Plan:
    """How to compute one layer.

    Args:
        name (str): Name of the plan (``'reference'``, ``'block16'`` ...).
        groups (tuple[Group, ...]): The convolutions.
        runs (tuple[tuple[int, int, int], ...]): ``(group, start, stop)``
            slices of the group outputs whose concatenation is the layer
            output in canonical order.
    """

    name: str
    groups: Tuple[Group, ...]
    runs: Tuple[Tuple[int, int, int], ...]

    def describe(self) -> str:
        """str: e.g. ``'3x3x3[32] conv3d + 1x3x3[32] conv3d'``."""
        parts = []
        for g in self.groups:
            kernel = 'x'.join(map(str, g.kernel))
            parts.append(f'{kernel}[{g.channels}] {g.mode}')
        return ' + '.join(parts)


def _mode(kernel: _Triple, temporal: bool, frames: bool) -> str:
    if temporal and kernel[1] == kernel[2] == 1:
        return 'temporal'
    if frames and kernel[0] == 1:
        return 'frames'
    return 'conv3d'


def make_plan(name: str,
              counts: Sequence[Tuple[str, int]],
              groups: Sequence[Tuple[_Triple, Sequence[Piece]]],
              temporal: bool = True,
              frames: bool = False) -> Plan:
    """Build a :class:`Plan` and its output runs.

    Args:
        name (str): Plan name.
        counts (Sequence[tuple[str, int]]): ``(shape, count)`` in canonical
            order (zero counts allowed).
        groups (Sequence): ``(kernel, pieces)`` per convolution.
        temporal (bool): Run ``k x 1 x 1`` groups in ``'temporal'`` mode.
            Defaults to True.
        frames (bool): Run ``1 x k x k`` groups in ``'frames'`` mode.
            Defaults to False.

    Returns:
        Plan: The plan.
    """
    offsets, total = {}, 0
    for shape, n in counts:
        offsets[shape] = total
        total += n
    built, slices = [], []
    for index, (kernel, pieces) in enumerate(groups):
        pieces = tuple(sorted(pieces, key=lambda p: offsets[p.shape] +
                              p.start))
        built.append(Group(tuple(kernel), pieces,
                           _mode(tuple(kernel), temporal, frames)))
        position = 0
        for p in pieces:
            slices.append((offsets[p.shape] + p.start, index, position,
                           position + p.size))
            position += p.size
    slices.sort()
    runs: List[List[int]] = []
    for out_start, index, start, stop in slices:
        if runs and runs[-1][0] == index and runs[-1][2] == start:
            runs[-1][2] = stop
        else:
            runs.append([index, start, stop])
    covered = sum(stop - start for _, start, stop in runs)
    if covered != total:
        raise ValueError(f'plan {name!r} covers {covered} of {total} '
                         f'output channels')
    return Plan(name, tuple(built), tuple(tuple(r) for r in runs))


def _dims(shape: str) -> _Triple:
    return parse_shape(shape).dims


def _contains(big: _Triple, small: _Triple) -> bool:
    return all(s <= b for s, b in zip(small, big))


def reference_plan(counts: Sequence[Tuple[str, int]],
                   temporal: bool = False,
                   name: str = 'reference') -> Plan:
    """One group per branch, as the reference forward computes it.

    Args:
        counts (Sequence[tuple[str, int]]): ``(shape, count)``, canonical
            order.
        temporal (bool): ``'temporal'`` mode for ``k x 1 x 1`` branches.
            Defaults to False (exactly the reference).
        name (str): Plan name. Defaults to ``'reference'``.

    Returns:
        Plan: The plan.
    """
    groups = [(_dims(s), [Piece(s, 0, n)]) for s, n in counts if n]
    return make_plan(name, counts, groups, temporal=temporal)


def dense_plan(counts: Sequence[Tuple[str, int]]) -> Plan:
    """One convolution with the union kernel (``to_dense`` weights)."""
    present = [(s, n) for s, n in counts if n]
    kernel = tuple(max(d) for d in zip(*(_dims(s) for s, _ in present)))
    pieces = [Piece(s, 0, n) for s, n in present]
    return make_plan('dense', counts, [(kernel, pieces)])


def _plan_cost(sizes: Dict[_Triple, int], block: int,
               overhead: int) -> int:
    # Channel-taps a blocked convolution really computes, plus a per-call
    # charge for the pass over the input that every convolution makes.
    return sum(
        kernel_padded_macs(n, kernel, block) + overhead
        for kernel, n in sizes.items() if n)


def block_plan(counts: Sequence[Tuple[str, int]],
               block: int,
               overhead: int = 48,
               temporal: bool = True,
               frames: bool = False,
               name: Optional[str] = None) -> Plan:
    """Group channels so that blocked convolutions waste the least.

    Starts from one group per branch and greedily applies the move that
    lowers :func:`_plan_cost` most: moving the channels of a branch that
    overflow a block of ``block`` channels (or all of them) into the group
    of a strictly larger kernel that contains its shape. Stops when no move
    helps.

    Args:
        counts (Sequence[tuple[str, int]]): ``(shape, count)``, canonical
            order.
        block (int): Output-channel block of the convolution backend.
        overhead (int): Per-convolution cost, in channel-taps. Defaults to
            48.
        temporal (bool): ``'temporal'`` mode for ``k x 1 x 1`` groups.
            Defaults to True.
        frames (bool): ``'frames'`` mode for ``1 x k x k`` groups.
            Defaults to False.
        name (str, optional): Defaults to ``f'block{block}'``.

    Returns:
        Plan: The plan.
    """
    present = [s for s, n in counts if n]
    own = OrderedDict((s, n) for s, n in counts if n)
    moved: Dict[Tuple[str, str], int] = {}

    def sizes() -> Dict[_Triple, int]:
        out = {_dims(s): n for s, n in own.items()}
        for (_, target), n in moved.items():
            out[_dims(target)] += n
        return out

    best = _plan_cost(sizes(), block, overhead)
    while True:
        choice = None
        for source in present:
            left = own[source]
            amounts = {left % block, left} - {0}
            for target in present:
                if target == source or not own[target] or not _contains(
                        _dims(target), _dims(source)):
                    continue
                for amount in amounts:
                    own[source] -= amount
                    key = (source, target)
                    moved[key] = moved.get(key, 0) + amount
                    cost = _plan_cost(sizes(), block, overhead)
                    moved[key] -= amount
                    own[source] += amount
                    if cost < best:
                        best, choice = cost, (source, target, amount)
        if choice is None:
            break
        source, target, amount = choice
        own[source] -= amount
        moved[(source, target)] = moved.get((source, target), 0) + amount
    # Lay out: the first channels of a branch go to the groups it was moved
    # into (largest kernel first), so they follow the target's own channels
    # in the output and one slice covers both; its own group keeps the
    # rest.
    members: Dict[str, List[Piece]] = OrderedDict((s, []) for s in present)
    for source in present:
        start = 0
        for target in present:
            n = moved.get((source, target), 0)
            if n:
                members[target].append(Piece(source, start, start + n))
                start += n
        if own[source]:
            members[source].append(Piece(source, start, start + own[source]))
    groups = [(_dims(s), pieces) for s, pieces in members.items() if pieces]
    return make_plan(name or f'block{block}', counts, groups, temporal,
                     frames)


def kernel_padded_macs(channels: int, kernel: Sequence[int],
                       block: int) -> int:
    """Multiply-adds per input channel and output position of one
    convolution whose output channels a blocked backend rounds up.

    Args:
        channels (int): Output channels.
        kernel (Sequence[int]): Kernel ``(T, H, W)``.
        block (int): Output-channel block.

    Returns:
        int: ``ceil(channels / block) * block * kernel volume``.
    """
    return math.ceil(channels / block) * block * math.prod(kernel)


def padded_macs(plan: Plan, block: int) -> int:
    """Multiply-adds per output position a blocked backend computes.

    Every group's output channels are rounded up to a multiple of
    ``block``, as oneDNN computes them; the taps a plan zero-pads count.

    Args:
        plan (Plan): The plan.
        block (int): Output-channel block.

    Returns:
        int: :func:`kernel_padded_macs` summed over the groups, per input
        channel and output position.
    """
    return sum(
        kernel_padded_macs(g.channels, g.kernel, block) for g in plan.groups)


@lru_cache(maxsize=None)
def candidate_plans(counts: Tuple[Tuple[str, int], ...],
                    block: int) -> Dict[str, Plan]:
    """The equivalent plans ``auto`` chooses among (duplicates removed).

    Args:
        counts (tuple[tuple[str, int], ...]): ``(shape, count)``, canonical
            order.
        block (int): The backend's output-channel block (the ``fast``
            plan's); blocks of 8 and 16 are tried too, and the ``fast``
            plan with ``'frames'`` mode.

    Returns:
        dict[str, Plan]: By name; ``'reference'`` first.
    """
    plans = [reference_plan(counts), reference_plan(counts, True, 'split')]
    for b in sorted({block, 8, 16}):
        plans.append(block_plan(counts, b))
    plans.append(
        block_plan(counts, block, frames=True, name=f'block{block}_frames'))
    plans.append(dense_plan(counts))
    unique: Dict[str, Plan] = OrderedDict()
    seen = set()
    for plan in plans:
        if plan.groups not in seen:
            seen.add(plan.groups)
            unique[plan.name] = plan
    return unique


@lru_cache(maxsize=None)
def default_block(device_type: str) -> int:
    """Output-channel block the ``fast`` plan assumes for a device.

    Measured on CPU: oneDNN pads output channels to 16 with AVX-512 and to
    8 with AVX2. On CUDA it is not measured here; 8 (a tensor-core
    friendly multiple) is the guess, and ``auto`` measures.

    Args:
        device_type (str): ``'cpu'``, ``'cuda'``, ...

    Returns:
        int: The block.
    """
    if device_type == 'cpu':
        import torch
        capability = torch.backends.cpu.get_cpu_capability()
        return 16 if capability.startswith('AVX512') else 8
    return 8
