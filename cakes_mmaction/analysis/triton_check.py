"""The fused triton convolution on a CUDA device: equivalence and speed.

Three parts, each a function returning rows (JSON-ready dicts):

- :func:`equivalence_rows`: every CAKES layer of a preset at the input it
  sees in the network, fused forward, input and weight gradients against an
  fp64 reference, in bf16 (relative error < 1e-2), fp32 with TF32 (< 1e-3)
  and fp32 without (< 1e-5);
- :func:`layer_rows`: each CAKES layer in every available ``impl`` next
  to cuDNN's dense 3x3x3 convolution of the same geometry, forward and
  forward+backward, with the layer's FLOP ratio and its speed target
  (layers of 128+ channels: forward+backward time <= 1.15 x FLOP ratio x
  dense; 64-channel layers: <= 0.9 x dense);
- :func:`network_rows`: training steps (forward + backward) of whole
  backbones against the all-3x3x3 one; target: CAKES^P_{1,2,3D} with the
  triton impl <= 0.80 x.

Timing: CUDA events, candidates round-robin, medians
(:mod:`~cakes_mmaction.analysis.timing`); channels-last data, the dtype
given (bf16 by default, through autocast for whole networks).
"""
import copy
from collections import OrderedDict
from typing import Dict, List, Optional, Sequence

import torch
import torch.nn as nn

from ..layers import CAKESConv3d, get_impl, impl_names
from ..layers.triton_conv.verify import relative_errors
from ..shapes import parse_shape
from .benchmark_models import build_backbone
from .layer_benchmark import TARGET_SLACK, layer_inputs
from .timing import interleaved_times

__all__ = [
    'EQUIVALENCE_MODES', 'equivalence_rows', 'layer_rows', 'network_rows',
    'flop_ratio', 'layer_target', 'format_table'
]

_CL = torch.channels_last_3d

#: name -> (dtype, TF32 allowed, largest relative error accepted).
EQUIVALENCE_MODES = OrderedDict(
    bf16=(torch.bfloat16, False, 1e-2),
    tf32=(torch.float32, True, 1e-3),
    fp32=(torch.float32, False, 1e-5))

#: Forward+backward time over dense for 64-channel layers.
SMALL_LAYER_TARGET = 0.9

#: CAKES^P_{1,2,3D}'s training step over the all-3x3x3 one.
NETWORK_TARGET = 0.80


def flop_ratio(layer: CAKESConv3d) -> float:
    """Multiply-adds of the layer over those of its dense k x k x k conv."""
    dense = layer.out_channels * parse_shape('x'.join(
        map(str, layer.kernel_size))).volume
    return sum(n * parse_shape(s).volume
               for s, n in layer.counts.items()) / dense


def layer_target(layer: CAKESConv3d) -> float:
    """The forward+backward time over dense a layer should reach."""
    if layer.in_channels >= 128:
        return TARGET_SLACK * flop_ratio(layer)
    return SMALL_LAYER_TARGET


def _cakes_layers(name: str, shape: Sequence[int], device: str):
    backbone = build_backbone(name).to(device)
    return layer_inputs(backbone, shape)


def equivalence_rows(
    name: str = 'cakes123d_p',
    shape: Sequence[int] = (2, 3, 8, 224, 224),
    device: str = 'cuda',
    modes: Sequence[str] = tuple(EQUIVALENCE_MODES)
) -> List[dict]:
    """Fused vs reference for every CAKES layer of a backbone.

    Args:
        name (str): A benchmark backbone. Defaults to ``'cakes123d_p'``.
        shape (Sequence[int]): Network input ``(N, C, T, H, W)``.
        device (str): Defaults to ``'cuda'``.
        modes (Sequence[str]): Keys of :data:`EQUIVALENCE_MODES`.

    Returns:
        list[dict]: Per layer and mode: ``layer``, ``mode``,
        ``max_rel_error``, ``tolerance``, ``ok`` and ``errors``.
    """
    rows = []
    for path, (layer, in_shape, _) in _cakes_layers(name, shape,
                                                    device).items():
        size = (in_shape[0], ) + tuple(in_shape[2:])
        for mode in modes:
            dtype, allow_tf32, tol = EQUIVALENCE_MODES[mode]
            errors = relative_errors(layer, size, dtype, device, allow_tf32)
            worst = max(errors.values())
            rows.append(
                dict(
                    layer=path,
                    mode=mode,
                    input=list(in_shape),
                    max_rel_error=worst,
                    tolerance=tol,
                    ok=worst < tol,
                    errors=errors))
    return rows


def _dense_conv(layer: CAKESConv3d) -> nn.Conv3d:
    return nn.Conv3d(
        layer.in_channels,
        layer.out_channels,
        layer.kernel_size,
        stride=layer.stride,
        padding=tuple(k // 2 for k in layer.kernel_size),
        bias=layer.bias_enabled)


def _layer_fns(module: nn.Module, x: torch.Tensor):
    x_train = x.detach().requires_grad_()

    def forward():
        with torch.no_grad():
            return module(x)

    def train():
        module.zero_grad(set_to_none=True)
        x_train.grad = None
        y = module(x_train)
        y.backward(torch.ones_like(y))

    return forward, train


def _candidates(layer: CAKESConv3d, x: torch.Tensor,
                impls: Sequence[str]) -> Dict[str, object]:
    found, skipped = OrderedDict(), {}
    for impl in impls:
        if impl != 'auto' and impl not in impl_names():
            skipped[impl] = 'not registered'
            continue
        candidate = copy.deepcopy(layer)
        candidate.impl = impl
        reason = None if impl == 'auto' else get_impl(impl).available(
            candidate, x)
        if reason is None:
            found[impl] = candidate
        else:
            skipped[impl] = reason
    return found, skipped


def layer_rows(name: str = 'cakes123d_p',
               shape: Sequence[int] = (8, 3, 8, 224, 224),
               dtype: torch.dtype = torch.bfloat16,
               impls: Sequence[str] = ('triton', 'dense', 'taps', 'fast',
                                       'reference'),
               device: str = 'cuda',
               warmup: int = 3,
               repeats: int = 10) -> List[dict]:
    """Each CAKES layer in each impl against cuDNN's dense conv.

    Args:
        name (str): A benchmark backbone. Defaults to ``'cakes123d_p'``.
        shape (Sequence[int]): Network input ``(N, C, T, H, W)``.
        dtype (torch.dtype): Of weights and data. Defaults to bf16.
        impls (Sequence[str]): Impls to time (unregistered or unavailable
            ones are listed under ``skipped``).
        device (str): Defaults to ``'cuda'``.
        warmup (int): Untimed calls first (autotuning happens there).
        repeats (int): Timed rounds.

    Returns:
        list[dict]: Per layer: geometry, ``flop_ratio``, ``target``,
        per candidate ``forward_ms`` / ``train_ms`` medians and
        ``train_ratio`` / ``forward_ratio`` to ``cudnn_dense``.
    """
    rows = []
    for path, (layer, in_shape,
               out_shape) in _cakes_layers(name, shape, device).items():
        layer = layer.to(dtype)
        x = torch.randn(
            in_shape, device=device, dtype=dtype).contiguous(memory_format=_CL)
        found, skipped = _candidates(layer, x, impls)
        found['cudnn_dense'] = _dense_conv(layer).to(
            device=device, dtype=dtype, memory_format=_CL)
        fns = {k: _layer_fns(m, x) for k, m in found.items()}
        fwd = interleaved_times({
            k: f[0]
            for k, f in fns.items()
        }, device, warmup, repeats)
        train = interleaved_times({
            k: f[1]
            for k, f in fns.items()
        }, device, warmup, repeats)
        med = {
            k: (sorted(fwd[k])[len(fwd[k]) // 2],
                sorted(train[k])[len(train[k]) // 2])
            for k in found
        }
        dense_fwd, dense_train = med['cudnn_dense']
        rows.append(
            dict(
                layer=path,
                counts=dict(layer.counts),
                input=list(in_shape),
                output=list(out_shape),
                flop_ratio=flop_ratio(layer),
                target=layer_target(layer),
                skipped=skipped,
                times={
                    k:
                    dict(
                        forward_ms=f * 1e3,
                        train_ms=t * 1e3,
                        forward_ratio=f / dense_fwd,
                        train_ratio=t / dense_train)
                    for k, (f, t) in med.items()
                }))
        del found, fns
        if x.device.type == 'cuda':
            torch.cuda.empty_cache()
    return rows


def _train_step(backbone: nn.Module, x: torch.Tensor, dtype: torch.dtype):

    def step():
        backbone.zero_grad(set_to_none=True)
        with torch.autocast(x.device.type, dtype=dtype):
            out = backbone(x)
        out = out if isinstance(out, torch.Tensor) else out[-1]
        out.float().mean().backward()

    return step


def network_rows(models: Sequence[str] = ('cakes123d_p', 'cakes12d_p',
                                          'cakes23d_p'),
                 impls: Sequence[str] = ('triton', 'auto', 'dense'),
                 shape: Sequence[int] = (8, 3, 8, 224, 224),
                 dtype: torch.dtype = torch.bfloat16,
                 device: str = 'cuda',
                 warmup: int = 2,
                 repeats: int = 10,
                 reference: str = 'all_3x3x3') -> List[dict]:
    """Training steps of whole backbones against the all-3x3x3 one.

    Each entry is timed round-robin with the reference (cuDNN dense convs),
    one pair at a time so two networks share the device at most.

    Returns:
        list[dict]: Per model and impl: ``step_ms``, ``ratio`` (paired
        median to the reference), ``peak_mb`` and, for ``cakes123d_p``,
        ``target``.
    """
    x = torch.randn(tuple(shape), device=device).contiguous(memory_format=_CL)
    ref = build_backbone(reference).to(device=device, memory_format=_CL)
    ref_step = _train_step(ref, x, dtype)
    rows = []
    for model in models:
        for impl in impls:
            net = build_backbone(
                model, impl=impl).to(
                    device=device, memory_format=_CL)
            step = _train_step(net, x, dtype)
            cuda = torch.device(device).type == 'cuda'
            if cuda:
                torch.cuda.reset_peak_memory_stats(device)
            try:
                times = interleaved_times({
                    'net': step,
                    'ref': ref_step
                }, device, warmup, repeats)
                error = None
            except Exception as exc:  # one failing impl keeps the table
                times, error = None, f'{type(exc).__name__}: {exc}'
            row = dict(model=model, impl=impl, reference=reference)
            if times is None:
                row['error'] = error
            else:
                ratios = sorted(a / b
                                for a, b in zip(times['net'], times['ref']))
                row.update(
                    step_ms=sorted(times['net'])[repeats // 2] * 1e3,
                    reference_ms=sorted(times['ref'])[repeats // 2] * 1e3,
                    ratio=ratios[len(ratios) // 2],
                    peak_mb=torch.cuda.max_memory_allocated(device) /
                    2**20 if cuda else None)
            if model == 'cakes123d_p':
                row['target'] = NETWORK_TARGET
            rows.append(row)
            del net, step
            if cuda:
                torch.cuda.empty_cache()
    return rows


def format_table(layer: List[dict],
                 network: List[dict],
                 equivalence: Optional[List[dict]] = None) -> str:
    """A short plain-text summary of the three parts."""
    lines = []
    if equivalence:
        bad = [r for r in equivalence if not r['ok']]
        worst = {}
        for r in equivalence:
            worst[r['mode']] = max(
                worst.get(r['mode'], 0.0), r['max_rel_error'])
        lines.append('equivalence: ' + ', '.join(f'{m} worst {e:.2e}'
                                                 for m, e in worst.items()) +
                     f'; {len(bad)} of {len(equivalence)} above tolerance')
    if layer:
        impls = [k for k in layer[0]['times'] if k != 'cudnn_dense']
        lines.append('per layer: forward+backward time / cuDNN dense '
                     '(forward in brackets)')
        lines.append(f'{"layer":16s} {"cin":>4s} {"flops":>6s} '
                     f'{"target":>6s} ' + ' '.join(f'{k:>15s}' for k in impls))
        for r in layer:
            cells = []
            for k in impls:
                t = r['times'].get(k)
                cells.append('-' if t is None else '%6.2f (%5.2f)' %
                             (t['train_ratio'], t['forward_ratio']))
            lines.append(f'{r["layer"]:16s} {r["input"][1]:4d} '
                         f'{r["flop_ratio"]:6.2f} {r["target"]:6.2f} ' +
                         ' '.join(f'{c:>15s}' for c in cells))
    if network:
        lines.append('networks: training step / all-3x3x3')
        for r in network:
            if 'error' in r:
                lines.append(f'{r["model"]:14s} {r["impl"]:8s} '
                             f'error: {r["error"][:60]}')
            else:
                peak = '' if r['peak_mb'] is None else \
                    f'  peak {r["peak_mb"]:7.0f} MB'
                lines.append(f'{r["model"]:14s} {r["impl"]:8s} '
                             f'{r["ratio"]:5.2f}  {r["step_ms"]:8.1f} ms'
                             f'{peak}')
    return '\n'.join(lines)
