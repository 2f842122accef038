"""Per-layer benchmark: each CAKES layer against the dense conv it
replaces, at the input geometry it sees inside its network.

For every CAKES layer of a backbone the input shape is recorded by one
forward; the layer (in each ``impl``) and a dense k x k x k ``nn.Conv3d`` of
the same geometry are then timed on one random input of that shape,
round-robin. The time ratio is compared with the FLOPs ratio of
:mod:`cakes_mmaction.cost`; the target is a time ratio <= 1.15 x FLOPs
ratio.

Two measurements explain the ratios: ``padded_ratio``, the multiply-adds
the ``fast`` plan computes once every group is padded to the backend's
output-channel block (the best any blocked plan of that layer can do if
every convolution ran at the dense conv's speed per multiply-add); and
:func:`shape_efficiency`, the time of one full-width convolution of each
shape against the dense conv, per multiply-add, at each input geometry.
:func:`add_modelled_ratios` puts the two together: the time ratio of the
best candidate plan if each of its convolutions ran exactly as fast per
padded multiply-add as a full-width convolution of its kernel, with nothing
else to pay (no extra pass over the input, no concatenation). A layer whose
modelled ratio is above its target cannot meet it with these convolutions.
"""
import copy
import math
import statistics
from collections import OrderedDict
from typing import Dict, List, Sequence

import torch
import torch.nn as nn

from ..cost import BranchCost, layer_cost, reference_counts
from ..layers import CAKESConv3d, get_impl
from ..layers.cakes_conv_impl import chosen_impl, fast_plan, layer_plan
from ..layers.cakes_plan import (candidate_plans, default_block,
                                 kernel_padded_macs, padded_macs)
from ..layers.sites import trace_layers
from ..shapes import parse_shape
from .timing import autocast, interleaved_times, paired_ratio

__all__ = [
    'layer_inputs', 'benchmark_layers', 'shape_efficiency',
    'add_modelled_ratios', 'TARGET_SLACK', 'BASELINE'
]

#: The target: a layer's time ratio may exceed its FLOPs ratio by 15%.
TARGET_SLACK = 1.15

#: Key of the dense ``nn.Conv3d`` in the per-layer times (not an impl name:
#: ``'dense'`` is the masked-dense implementation).
BASELINE = 'dense_conv3d'


def layer_inputs(backbone: nn.Module,
                 input_shape: Sequence[int]) -> Dict[str, tuple]:
    """Input and output shapes of every CAKES layer, by one forward.

    The same as :func:`~cakes_mmaction.layers.sites.trace_layers`.

    Args:
        backbone (nn.Module): A backbone with CAKES layers.
        input_shape (Sequence[int]): ``(N, C, T, H, W)``.

    Returns:
        dict[str, tuple]: ``path -> (layer, input shape, output shape)``
        with ``path`` the ConvModule path (``'layer1.0.conv2'``).
    """
    return trace_layers(backbone, input_shape)


def _dense_like(layer: CAKESConv3d) -> nn.Conv3d:
    return nn.Conv3d(
        layer.in_channels,
        layer.out_channels,
        layer.kernel_size,
        stride=layer.stride,
        padding=layer.padding,
        dilation=layer.dilation,
        bias=layer.bias_enabled)


def _padded_ratio(layer: CAKESConv3d, device_type: str) -> float:
    block = default_block(device_type)
    dense = kernel_padded_macs(layer.out_channels, layer.kernel_size, block)
    return padded_macs(fast_plan(layer, device_type), block) / dense


def _describe(plan) -> str:
    return f'{plan.name}: {plan.describe()}'


def _describe_choice(layer: CAKESConv3d, x: torch.Tensor) -> str:
    # 'taps' or 'fast: block16: 3x3x3[32] conv3d + ...'
    name = chosen_impl(layer, x)
    probe = copy.copy(layer)
    probe.impl = name
    plan = layer_plan(probe, x)
    return name if plan is None else f'{name}: {_describe(plan)}'


def _forward_fn(module: nn.Module, x: torch.Tensor, dtype: str = 'fp32'):
    def run():
        with torch.no_grad(), autocast(x.device, dtype):
            return module(x)
    return run


def _train_fn(module: nn.Module, x: torch.Tensor, dtype: str = 'fp32'):
    # Inside a network every CAKES input requires grad, so the backward
    # computes the input grad as well as the weight grads.
    x = x.detach().requires_grad_()

    def run():
        module.zero_grad(set_to_none=True)
        x.grad = None
        with autocast(x.device, dtype):
            y = module(x)
        y.backward(torch.ones_like(y))
    return run


def benchmark_layers(backbone: nn.Module,
                     input_shape: Sequence[int],
                     impls: Sequence[str] = ('reference', 'fast', 'auto'),
                     warmup: int = 1,
                     repeats: int = 3,
                     train: bool = True,
                     layout: torch.memory_format = torch.contiguous_format,
                     dtype: str = 'fp32') -> List[dict]:
    """Time every CAKES layer of a backbone against its dense conv.

    Args:
        backbone (nn.Module): Backbone with CAKES layers (left unchanged).
        input_shape (Sequence[int]): Network input ``(N, C, T, H, W)``.
        impls (Sequence[str]): CAKES implementations to time. Defaults to
            ``('reference', 'fast', 'auto')``.
        warmup (int): Untimed calls per candidate. Defaults to 1.
        repeats (int): Timed rounds (medians are reported). Defaults to 3.
        train (bool): Also time forward + backward. Defaults to True.
        layout (torch.memory_format): Memory format of the inputs (and
            the dense conv's weight). Defaults to
            ``torch.contiguous_format``.
        dtype (str): ``'fp32'``, or ``'bf16'`` / ``'fp16'`` under
            ``torch.autocast``. Defaults to ``'fp32'``.

    Returns:
        list[dict]: Per layer: ``path``, ``counts``, ``input_shape``,
        ``flops``, ``dense_flops``, ``kernel_size`` (of the dense conv),
        ``flops_ratio``, ``target_ratio``,
        ``padded_ratio`` (the ``fast`` plan's block-padded multiply-adds
        over the dense conv's),
        ``forward`` and (if ``train``) ``train`` (median seconds per
        candidate, the dense ``nn.Conv3d`` as :data:`BASELINE`),
        ``forward_ratio`` /
        ``train_ratio`` (per impl, median over rounds of time / dense
        time in the same round), ``forward_min_ratio`` /
        ``train_min_ratio`` (ratio of the fastest rounds), ``plans`` (plan
        per impl and mode), ``unavailable`` (impl -> reason, for impls that
        cannot run this layer here; they have no times).
    """
    rows = []
    for path, (layer, in_shape, out_shape) in layer_inputs(
            backbone, input_shape).items():
        geometry = layer.geometry(out_shape[2:], path)
        flops = sum(layer_cost(geometry, layer.counts).values(),
                    BranchCost()).flops
        dense_flops = sum(
            layer_cost(geometry, reference_counts(geometry)).values(),
            BranchCost()).flops
        device = next(layer.parameters()).device
        x = torch.randn(in_shape, device=device).contiguous(
            memory_format=layout)
        modules = OrderedDict(
            [(BASELINE, _dense_like(layer).to(device,
                                              memory_format=layout))])
        unavailable = OrderedDict()
        for impl in impls:
            reason = None if impl == 'auto' else get_impl(impl).available(
                layer, x)
            if reason is not None:
                unavailable[impl] = reason
                continue
            module = copy.deepcopy(layer)
            module.impl = impl
            modules[impl] = module
        timed = [i for i in impls if i not in unavailable]
        row = OrderedDict(
            path=path,
            counts=dict(layer.counts),
            input_shape=list(in_shape),
            flops=flops,
            dense_flops=dense_flops,
            kernel_size=list(layer.kernel_size),
            flops_ratio=flops / dense_flops,
            target_ratio=TARGET_SLACK * flops / dense_flops,
            padded_ratio=_padded_ratio(layer, device.type))
        modes = [('forward', _forward_fn)]
        if train:
            modes.append(('train', _train_fn))
        plans = {}
        for mode, make in modes:
            fns = OrderedDict((name, make(module, x, dtype))
                              for name, module in modules.items())
            times = interleaved_times(fns, device, warmup, repeats)
            row[mode] = {k: statistics.median(v) for k, v in times.items()}
            row[f'{mode}_ratio'] = {
                impl: paired_ratio(times[impl], times[BASELINE])
                for impl in timed
            }
            # Noise only ever adds time: the ratio of the fastest runs is
            # the other estimate worth keeping on a shared machine.
            row[f'{mode}_min_ratio'] = {
                impl: min(times[impl]) / min(times[BASELINE])
                for impl in timed
            }
            with torch.set_grad_enabled(mode == 'train'), \
                    autocast(device, dtype):
                probe = x.detach().requires_grad_(mode == 'train')
                plans[mode] = {
                    'fast': _describe(fast_plan(layer, device.type)),
                    'auto': _describe_choice(modules['auto'], probe)
                    if 'auto' in impls else None
                }
        row['plans'] = plans
        row['unavailable'] = unavailable
        rows.append(row)
    return rows


def shape_efficiency(backbone: nn.Module,
                     input_shape: Sequence[int],
                     warmup: int = 1,
                     repeats: int = 3,
                     layout: torch.memory_format = torch.contiguous_format,
                     dtype: str = 'fp32') -> List[dict]:
    """Speed per multiply-add of each kernel shape, against the dense conv.

    At every distinct input geometry of the backbone's CAKES layers, one
    full-width convolution per shape found in the backbone (a CAKES layer
    with all its output channels of that shape, ``impl='fast'``) and the
    dense conv are timed forward, round-robin. Blocks are full, so this is
    the efficiency of the shape itself: a CAKES layer whose channels are
    mostly of a shape cannot be faster per multiply-add than it.

    Args:
        backbone (nn.Module): Backbone with CAKES layers.
        input_shape (Sequence[int]): Network input ``(N, C, T, H, W)``.
        warmup (int): Untimed calls per candidate. Defaults to 1.
        repeats (int): Timed rounds. Defaults to 3.
        layout (torch.memory_format): Memory format of the inputs.
            Defaults to ``torch.contiguous_format``.
        dtype (str): As :func:`benchmark_layers`. Defaults to ``'fp32'``.

    Returns:
        list[dict]: Per geometry: ``layers`` (paths that have it),
        ``input_shape``, ``stride``, ``dense_s`` and ``shapes``: per shape
        ``time_ratio`` (median paired ratio to the dense conv),
        ``flops_ratio`` and ``per_flop`` (``time_ratio / flops_ratio``;
        1.0 = as fast per multiply-add as the dense conv).
    """
    found = layer_inputs(backbone, input_shape)
    shapes = sorted({s
                     for layer, _, _ in found.values()
                     for s, n in layer.counts.items() if n},
                    key=lambda s: -math.prod(parse_shape(s).dims))
    geometries: Dict[tuple, dict] = OrderedDict()
    for path, (layer, in_shape, _) in found.items():
        key = (in_shape, layer.out_channels, layer.stride)
        entry = geometries.setdefault(key, dict(layer=layer, paths=[]))
        entry['paths'].append(path)
    rows = []
    for (in_shape, _, stride), entry in geometries.items():
        layer = entry['layer']
        device = next(layer.parameters()).device
        x = torch.randn(in_shape, device=device).contiguous(
            memory_format=layout)
        modules = OrderedDict(
            dense=_dense_like(layer).to(device, memory_format=layout))
        for shape in shapes:
            modules[shape] = CAKESConv3d(
                layer.in_channels, {shape: layer.out_channels},
                layer.kernel_size,
                spatial_stride=layer.stride[1],
                temporal_stride=layer.stride[0],
                dilation=layer.dilation,
                bias=layer.bias_enabled,
                impl='fast').to(device)
        times = interleaved_times(
            OrderedDict(
                (k, _forward_fn(m, x, dtype)) for k, m in modules.items()),
            device, warmup, repeats)
        volume = math.prod(layer.kernel_size)
        per_shape = OrderedDict()
        for shape in shapes:
            ratio = paired_ratio(times[shape], times['dense'])
            flops_ratio = math.prod(parse_shape(shape).dims) / volume
            per_shape[shape] = dict(
                time_ratio=ratio,
                flops_ratio=flops_ratio,
                per_flop=ratio / flops_ratio)
        rows.append(
            OrderedDict(
                layers=entry['paths'],
                input_shape=list(in_shape),
                stride=list(stride),
                dense_s=statistics.median(times['dense']),
                shapes=per_shape))
    return rows


def add_modelled_ratios(rows: List[dict], efficiency: List[dict],
                        device_type: str = 'cpu') -> None:
    """Add ``modelled_ratio`` and ``modelled_plan`` to per-layer rows.

    Args:
        rows (list[dict]): :func:`benchmark_layers` rows (changed in
            place).
        efficiency (list[dict]): :func:`shape_efficiency` rows of the same
            backbone.
        device_type (str): Decides the output-channel block. Defaults to
            ``'cpu'``.
    """
    block = default_block(device_type)
    per_flop = {
        path: {s: v['per_flop']
               for s, v in geometry['shapes'].items()}
        for geometry in efficiency for path in geometry['layers']
    }
    for row in rows:
        speeds = per_flop.get(row['path'], {})
        dense = kernel_padded_macs(
            sum(row['counts'].values()), row['kernel_size'], block)
        best, best_name = None, None
        plans = candidate_plans(tuple(row['counts'].items()), block)
        for name, plan in plans.items():
            kernels = ['x'.join(map(str, g.kernel)) for g in plan.groups]
            if not all(k in speeds for k in kernels):
                continue  # a union kernel that was not measured
            cost = sum(
                kernel_padded_macs(g.channels, g.kernel, block) * speeds[k]
                for g, k in zip(plan.groups, kernels)) / dense
            if best is None or cost < best:
                best, best_name = cost, name
        row['modelled_ratio'] = best
        row['modelled_plan'] = best_name
