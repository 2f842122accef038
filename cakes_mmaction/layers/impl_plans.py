"""The stock implementations built on plans
(:mod:`~cakes_mmaction.layers.cakes_plan`): ``reference``, ``fast`` and
``dense``.

- ``reference``: one ``Conv3d`` per branch, then one concatenation; the
  layer's definition.
- ``fast``: the :func:`~cakes_mmaction.layers.cakes_plan.block_plan` for
  the device's output-channel block where it pays, the masked-dense plan
  elsewhere (:func:`fast_plan`; deterministic, no measuring).
- ``dense``: the masked-dense floor, one convolution whose kernel is the
  union of the layer's shapes (the dense cube for the usual video sets)
  and holds every channel's sub-kernel, zeros elsewhere: exactly the speed
  and memory of the dense convolution the layer replaces.

Group weights are built from differentiable slices and pads of the branch
parameters, so gradients reach them as in the reference; when autograd does
not record, they come from :func:`cached_weights`.
"""
from functools import lru_cache
from typing import Optional, Tuple

import torch

from ..shapes import parse_shape
from .cakes_plan import (Plan, block_plan, default_block, dense_plan,
                         kernel_padded_macs, padded_macs, reference_plan)
from .cakes_plan_run import group_params, run_plan
from .impl_registry import CAKESImpl, cached_weights, register_impl

__all__ = [
    'ReferenceImpl', 'PlanImpl', 'FastImpl', 'DenseImpl', 'fast_plan',
    'run_layer_plan', 'records_grad', 'output_thw'
]

Counts = Tuple[Tuple[str, int], ...]


def records_grad(layer, x: torch.Tensor) -> bool:
    """Whether autograd records this call of the layer."""
    return torch.is_grad_enabled() and (
        x.requires_grad or any(b.weight.requires_grad
                               for b in layer.branches._modules.values()))


def output_thw(layer, x: torch.Tensor) -> Tuple[int, int, int]:
    """The layer's output ``(T, H, W)`` for an input (odd kernels, "same"
    padding: only the stride changes the size)."""
    return tuple((size - 1) // s + 1
                 for size, s in zip(x.shape[2:], layer.stride))


def _itemsize(x: torch.Tensor) -> int:
    if torch.is_autocast_enabled(x.device.type):
        dtype = torch.get_autocast_dtype(x.device.type)
        if x.dtype.is_floating_point and dtype.itemsize < x.dtype.itemsize:
            return dtype.itemsize
    return x.dtype.itemsize


def _out_elems(layer, x: torch.Tensor, channels: int) -> int:
    t, h, w = output_thw(layer, x)
    return x.shape[0] * channels * t * h * w


#: ``fast`` splits a layer on CPU only when the block plan computes at most
#: this share of the dense conv's block-padded multiply-adds: thin kernels
#: run 1.1-1.7x slower per multiply-add than 3x3x3 on oneDNN
#: (docs/benchmark.md), so a split above it is no faster than one dense conv.
FAST_SPLIT_BELOW = 0.8


@lru_cache(maxsize=None)
def _fast_plan(counts: Counts, block: int, device_type: str) -> Plan:
    plan = block_plan(counts, block, name='fast')
    if device_type != 'cpu':
        # Measured on an H200 (cuDNN): every per-shape split of the
        # CAKES^P_{1,2,3D} layers took 1.2-6.4x the dense conv's time.
        return _dense_plan(counts)
    kernel = tuple(
        max(d) for d in zip(*(parse_shape(s).dims for s, n in counts if n)))
    channels = sum(n for _, n in counts)
    dense = kernel_padded_macs(channels, kernel, block)
    if padded_macs(plan, block) > FAST_SPLIT_BELOW * dense:
        return _dense_plan(counts)
    return plan


@lru_cache(maxsize=None)
def _reference_plan(counts: Counts) -> Plan:
    return reference_plan(counts)


@lru_cache(maxsize=None)
def _dense_plan(counts: Counts) -> Plan:
    return dense_plan(counts)


def fast_plan(layer, device_type: str = 'cpu') -> Plan:
    """The plan ``impl='fast'`` runs for a layer on a device type.

    Args:
        layer (CAKESConv3d): The layer.
        device_type (str): ``'cpu'``, ``'cuda'``... Defaults to ``'cpu'``.

    Returns:
        Plan: :func:`block_plan` for :func:`default_block` on CPU when its
        block-padded multiply-adds are at most :data:`FAST_SPLIT_BELOW` of
        the dense conv's; else (and on every other device) the
        masked-dense plan: never slower than the dense convolution.
    """
    return _fast_plan(
        tuple(layer.counts.items()), default_block(device_type), device_type)


def _branch_params(layer):
    branches = layer.branches._modules  # no recursion: hot path
    weights = {k: b.weight for k, b in branches.items()}
    biases = ({k: b.bias
               for k, b in branches.items()} if layer.bias_enabled else None)
    return weights, biases


def run_layer_plan(layer, x: torch.Tensor, plan: Plan) -> torch.Tensor:
    """Run a plan over a layer's parameters (cached group weights when
    autograd does not record).

    Args:
        layer (CAKESConv3d): The layer.
        x (Tensor): Its input.
        plan (Plan): A plan of the layer's counts.

    Returns:
        Tensor: The layer's output.
    """
    weights, biases = _branch_params(layer)
    params = None
    if not records_grad(layer, x):
        params = cached_weights(
            layer, f'plan:{plan.name}:{plan.describe()}',
            lambda: [group_params(g, weights, biases) for g in plan.groups])
    return run_plan(plan, x, weights, biases, layer.stride, layer.dilation,
                    params)


def _plan_peak_bytes(layer, x: torch.Tensor, plan: Plan, train: bool) -> int:
    # Forward: the group outputs and the concatenated output (one output
    # when a single group computes the layer in order). Backward: the
    # output gradient, every group's input gradient (autograd sums them
    # into one as they come: two alive) and, for a 'frames' group of a
    # contiguous input, its copy of the input. Weights are negligible.
    item = _itemsize(x)
    out = _out_elems(layer, x, layer.out_channels)
    single = len(plan.runs) == 1 and len(plan.groups) == 1
    fwd = out if single else 2 * out
    if not train:
        return fwd * item
    n_in = x.numel()
    frames_copy = n_in if any(g.mode == 'frames' for g in plan.groups) \
        and not x.is_contiguous(memory_format=torch.channels_last_3d) else 0
    grads_in = n_in if len(plan.groups) == 1 else 2 * n_in
    # Backward: the output and its gradient, the input gradients, and the
    # input copy a 'frames' group saved.
    bwd = 2 * out + grads_in + frames_copy
    return max(fwd + frames_copy, bwd) * item


@register_impl('reference')
class ReferenceImpl(CAKESImpl):
    """One ``Conv3d`` per branch, then one concatenation."""

    def forward(self, layer, x: torch.Tensor) -> torch.Tensor:
        return layer.reference_forward(x)

    def peak_bytes(self, layer, x: torch.Tensor,
                   train: bool) -> Optional[int]:
        return _plan_peak_bytes(layer, x,
                                _reference_plan(tuple(layer.counts.items())),
                                train)


class PlanImpl(CAKESImpl):
    """Runs one plan per layer and device type (:meth:`plan`)."""

    def plan(self, layer, x: torch.Tensor) -> Plan:
        """The plan for a layer and input."""
        raise NotImplementedError

    def forward(self, layer, x: torch.Tensor) -> torch.Tensor:
        return run_layer_plan(layer, x, self.plan(layer, x))

    def peak_bytes(self, layer, x: torch.Tensor,
                   train: bool) -> Optional[int]:
        return _plan_peak_bytes(layer, x, self.plan(layer, x), train)


@register_impl('fast')
class FastImpl(PlanImpl):
    """The block plan of the device's output-channel block."""

    def plan(self, layer, x: torch.Tensor) -> Plan:
        return fast_plan(layer, x.device.type)


@register_impl('dense')
class DenseImpl(PlanImpl):
    """One convolution with the union kernel and zero-padded sub-kernels."""

    def plan(self, layer, x: torch.Tensor) -> Plan:
        return _dense_plan(tuple(layer.counts.items()))
