"""Benchmark of CAKES networks against dense and factorised 3D backbones.

In one process, on one input, every model is measured side by side:
parameters, FLOPs (``mmengine.analysis`` totals; the CAKES layers' share
from :mod:`cakes_mmaction.cost`), forward throughput at batch 1 and at the
batch of ``shape``, the time of a training step (forward, backward, SGD
step), and peak training memory. Times are medians of ``repeats`` rounds
after ``warmup`` untimed calls; the models take turns in every round, so
noise from other processes hits all of them alike. Ratios are to the
all-``3x3x3`` network of the same skeleton.

Peak training memory is everything a training step holds at its peak
(weights, gradients, optimizer state, activations, input), measured as
:mod:`.benchmark_memory` describes.

Timing runs with glibc's malloc told to keep freed memory
(:func:`~cakes_mmaction.harness.engine.cpu_allocator.keep_freed_memory`, the
default ``allocator='cached'``): without it every forward page-faults its
largest activations in again, which costs all models 15-25 % and is not
convolution work. ``allocator='system'`` leaves malloc as it is.
"""
import datetime
import json
import os
import platform
import statistics
import time
from collections import OrderedDict
from typing import Dict, Optional, Sequence

import torch

from ..cost import cost_table
from ..harness.engine.cpu_allocator import keep_freed_memory
from ..layers import CAKESConv3d
from ..layers.cakes_conv_impl import auto_cache, check_impl
from ..layers.impl_registry import impl_names
from ..layers.sites import trace_geometry
from ..models import ResNet3dCAKES
from .benchmark_memory import (benchmark_optimizer, peak_training_memory,
                               training_step)
from .benchmark_models import (REFERENCE_MODEL, build_backbone,
                               check_width_scale, is_cakes_model, model_names)
from .benchmark_report import flop_proportional, layer_markdown, markdown_table
from .flops import count_flops
from .layer_benchmark import (add_modelled_ratios, benchmark_layers,
                              shape_efficiency)
from .timing import DTYPES, autocast, interleaved_times

__all__ = ['run_benchmark', 'measure_flops', 'peak_training_memory',
           'DEFAULT_IMPL', 'ALLOCATORS', 'QUICK', 'layer_impls']

#: The ``impl`` the benchmark (and ``ResNet3dCAKES``) uses by default.
DEFAULT_IMPL = 'fast'

#: The ``--quick`` preset: the per-layer table of CAKES^P_{1,2,3D} and the
#: all-3D / CAKES^P_{1,2,3D} / CAKES^P_{1,2D} / all-1x3x3 comparison, both
#: at batch 8 (meant for one GPU; ``shape`` overrides it elsewhere).
QUICK = dict(
    shape=(8, 3, 8, 224, 224),
    models=('cakes123d_p', 'cakes12d_p', 'all_1x3x3'),
    layer_models=('cakes123d_p', ),
    repeats=10,
    warmup=3)


def layer_impls() -> list:
    """The per-layer mode's default: every registered impl and auto."""
    return list(impl_names()) + ['auto']


#: ``allocator`` values; the first is the default.
ALLOCATORS = ('cached', 'system')


def measure_flops(backbone: torch.nn.Module,
                  clip_shape: Sequence[int]) -> Dict[str, Optional[int]]:
    """Parameters and per-clip FLOPs of a backbone.

    Args:
        backbone (nn.Module): The backbone.
        clip_shape (Sequence[int]): ``(C, T, H, W)`` of one clip.

    Returns:
        dict: ``params``, ``flops`` (mmengine's total, multiply-adds) and
        ``cakes_flops`` (the CAKES layers, from :mod:`cakes_mmaction.cost`;
        None for a model without CAKES layers).
    """
    x_shape = (1, ) + tuple(clip_shape)
    flops = count_flops(backbone, x_shape).total
    cakes_flops = None
    if isinstance(backbone, ResNet3dCAKES) and all(
            isinstance(m, CAKESConv3d)
            for m in backbone.cakes_layers.values()):
        geometries = trace_geometry(backbone, x_shape)
        cakes_flops = cost_table(backbone.assignment,
                                 geometries)[-1]['flops']
    return dict(
        params=sum(p.numel() for p in backbone.parameters()),
        flops=flops,
        cakes_flops=cakes_flops)


def _environment(device, threads, malloc) -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    cpu = line.split(':', 1)[1].strip()
                    break
    except OSError:
        pass
    env = OrderedDict(
        date=datetime.datetime.now().isoformat(timespec='seconds'),
        torch=torch.__version__,
        device=str(device),
        cpu=cpu,
        cpu_count=os.cpu_count(),
        threads=threads or torch.get_num_threads(),
        cpu_capability=torch.backends.cpu.get_cpu_capability(),
        malloc=malloc)
    if torch.device(device).type == 'cuda':
        env['gpu'] = torch.cuda.get_device_name(device)
    return env


def _entries(models, impls):
    entries = []
    for name in models:
        if is_cakes_model(name) and name != REFERENCE_MODEL:
            for impl in impls:
                label = name if len(impls) == 1 else f'{name}@{impl}'
                entries.append((label, name, impl))
        elif name == REFERENCE_MODEL:
            # The dense twin: one Conv3d per layer, whatever the impls.
            entries.append((name, name, 'reference'))
        else:
            entries.append((name, name, impls[0]))
    return entries


def _time_models(backbones, shape, device, warmup, repeats, layout,
                 dtype='fp32'):
    batch = shape[0]
    x1 = torch.randn((1, ) + tuple(shape[1:]), device=device)
    xn = torch.randn(tuple(shape), device=device)
    x1, xn = (x.contiguous(memory_format=layout) for x in (x1, xn))
    results = {label: OrderedDict() for label in backbones}

    def forward(backbone, x):
        def run():
            with torch.no_grad(), autocast(device, dtype):
                backbone(x)
        return run

    for b in backbones.values():
        b.eval()
    sizes = [1] if batch == 1 else [1, batch]
    for size in sizes:
        x = x1 if size == 1 else xn
        times = interleaved_times(
            {k: forward(b, x) for k, b in backbones.items()}, device,
            warmup, repeats)
        for label, t in times.items():
            median = statistics.median(t)
            results[label][f'forward_b{size}_s'] = median
            results[label][f'forward_b{size}_clips_per_s'] = size / median
            results[label][f'forward_b{size}_rounds_s'] = t
    for b in backbones.values():
        b.train()
    optimizers = {k: benchmark_optimizer(b) for k, b in backbones.items()}
    times = interleaved_times(
        {k: training_step(b, optimizers[k], xn, dtype)
         for k, b in backbones.items()}, device, warmup, repeats)
    for label, t in times.items():
        results[label]['train_step_s'] = statistics.median(t)
        results[label]['train_step_rounds_s'] = t
    return results


def _layers(result, models, shape, impls, warmup, repeats, layout, dtype,
            device, width_scale):
    layers, efficiency = OrderedDict(), OrderedDict()
    for name in models:
        backbone = build_backbone(name, width_scale=width_scale).to(device)
        layers[name] = benchmark_layers(
            backbone, shape, impls, warmup, repeats, layout=layout,
            dtype=dtype)
        efficiency[name] = shape_efficiency(
            backbone, shape, warmup, repeats, layout=layout, dtype=dtype)
        add_modelled_ratios(layers[name], efficiency[name], device.type)
    result['layers'] = layers
    result['shape_efficiency'] = efficiency


def _models(result, models, shape, impls, warmup, repeats, layout, dtype,
            device, memory, threads, width_scale):
    # The reference of every ratio comes first.
    models = [REFERENCE_MODEL] + [m for m in models if m != REFERENCE_MODEL]
    entries = _entries(models, impls)
    backbones = OrderedDict()
    rows = OrderedDict()
    for label, name, impl in entries:
        torch.manual_seed(0)
        backbones[label] = build_backbone(name, impl, width_scale).to(
            device, memory_format=layout)
        row = OrderedDict(model=name, impl=impl if is_cakes_model(
            name) else None)
        row.update(measure_flops(backbones[label], shape[1:]))
        rows[label] = row
    timed = _time_models(backbones, shape, device, warmup, repeats, layout,
                         dtype)
    for label in rows:
        rows[label].update(timed[label])
    del backbones
    for label, name, impl in entries:
        if memory:
            mem = peak_training_memory(name, impl, shape, threads,
                                       str(device), dtype, layout,
                                       width_scale)
            rows[label]['peak_train_mem_bytes'] = mem.get('peak_bytes')
            rows[label]['peak_train_mem_method'] = mem.get(
                'method', mem.get('error'))
        else:
            rows[label]['peak_train_mem_bytes'] = None
    flop_proportional(rows, REFERENCE_MODEL)
    result['models'] = rows
    result['auto_choices'] = auto_cache()


def run_benchmark(shape: Optional[Sequence[int]] = None,
                  models: Optional[Sequence[str]] = None,
                  repeats: Optional[int] = None,
                  warmup: Optional[int] = None,
                  impls: Optional[Sequence[str]] = None,
                  threads: Optional[int] = None,
                  device: str = 'cpu',
                  memory: bool = True,
                  channels_last: bool = False,
                  per_layer: bool = False,
                  allocator: str = 'cached',
                  out_json: Optional[str] = None,
                  out_md: Optional[str] = None,
                  dtype: str = 'fp32',
                  quick: bool = False,
                  layer_batch: Optional[int] = None,
                  width_scale: float = 1.0) -> dict:
    """Run the benchmark (or its per-layer mode) and write the reports.

    Args:
        shape (Sequence[int], optional): Input ``(N, C, T, H, W)``; ``N``
            is the larger batch (forward throughput, training step,
            memory); forward is timed at batch 1 too. Defaults to ``(2, 3,
            8, 224, 224)`` (``--quick``: ``(8, 3, 8, 224, 224)``).
        models (Sequence[str], optional): Names from
            :func:`~cakes_mmaction.analysis.benchmark_models.model_names`.
            Defaults to all (per-layer mode: ``['cakes123d_p']``;
            ``quick``: :data:`QUICK`). The all-3x3x3 network is always
            added (the ratios' reference; its layers run as one Conv3d
            each whatever ``impls``).
        repeats (int, optional): Timed rounds; medians are reported.
            Defaults to 3 (``quick``: 10).
        warmup (int, optional): Untimed calls per model and measurement
            first. Defaults to 1 (``quick``: 3).
        impls (Sequence[str], optional): ``impl`` of the CAKES layers; with
            several, each CAKES model appears once per impl. Defaults to
            ``(DEFAULT_IMPL,)``; per-layer mode (and the per-layer part of
            ``quick``): :func:`layer_impls`, every registered impl.
        threads (int, optional): ``torch.set_num_threads``. Defaults to
            torch's default.
        device (str): ``'cpu'`` or ``'cuda'``. Defaults to ``'cpu'``. On
            CUDA, ``cudnn.benchmark`` is on and times are CUDA events.
        memory (bool): Measure peak training memory. Defaults to True.
        channels_last (bool): Run models and inputs in
            ``torch.channels_last_3d``. Defaults to False.
        per_layer (bool): Time each CAKES layer of the ``models`` presets
            against the dense conv it replaces instead. Defaults to False.
        allocator (str): ``'cached'``: on CPU with glibc, call
            :func:`~cakes_mmaction.harness.engine.cpu_allocator.keep_freed_memory`
            first (process-wide, for the rest of the process);
            ``'system'``: leave malloc alone. Defaults to ``'cached'``.
        out_json (str, optional): Write the result as JSON.
        out_md (str, optional): Write the markdown report.
        dtype (str): ``'fp32'``, or ``'bf16'`` / ``'fp16'`` under
            ``torch.autocast`` (weights stay fp32). Defaults to ``'fp32'``.
        quick (bool): The :data:`QUICK` preset: the per-layer table of
            its layer models at batch ``N`` and the end-to-end comparison
            of its models, in one run. Defaults to False.
        layer_batch (int, optional): Batch of the per-layer mode. Defaults
            to 1 (``quick``: ``N``).
        width_scale (float): Factor on every width of every model (stem
            ``64 x width_scale``, same depth and strides; presets scaled
            layer by layer): a cheap run of the same comparison, for tests
            and plumbing checks. Recorded in ``options`` and the report
            headers. Defaults to 1, the real networks.

    Returns:
        dict: ``environment``, ``options``, ``duration_s``, ``markdown``
        and ``models`` (rows) and/or ``layers`` (per-layer mode).
    """
    begin = time.perf_counter()
    if quick and per_layer:
        raise ValueError('quick runs the per-layer mode itself: drop '
                         'per_layer')
    preset = QUICK if quick else {}
    shape = tuple(shape or preset.get('shape', (2, 3, 8, 224, 224)))
    repeats = repeats or preset.get('repeats', 3)
    warmup = preset.get('warmup', 1) if warmup is None else warmup
    e2e_impls = [check_impl(i) for i in (impls or [DEFAULT_IMPL])]
    per_layer_impls = [check_impl(i) for i in (impls or layer_impls())]
    if 'auto' in set(e2e_impls) | set(
            per_layer_impls if per_layer or quick else []) and warmup < 1:
        raise ValueError('impl auto measures on its first call: use '
                         f'warmup >= 1, got {warmup}')
    if len(shape) != 5:
        raise ValueError(f'shape must be N C T H W, got {list(shape)}')
    if allocator not in ALLOCATORS:
        raise ValueError(f'allocator must be one of {ALLOCATORS}, got '
                         f'{allocator!r}')
    check_width_scale(width_scale)
    if dtype not in DTYPES:
        raise ValueError(f'dtype must be one of {list(DTYPES)}, got '
                         f'{dtype!r}')
    malloc = 'system'
    if allocator == 'cached' and torch.device(device).type == 'cpu':
        settings = keep_freed_memory()
        if settings is not None:
            malloc = 'glibc ' + ', '.join(f'{k}={v}'
                                          for k, v in settings.items())
    if threads:
        torch.set_num_threads(threads)
    device = torch.device(device)
    if device.type == 'cuda':
        # What users train with; each new shape autotunes once, in the
        # warm-up calls.
        torch.backends.cudnn.benchmark = True
    known = model_names()
    if quick:
        models = list(models or preset['models'])
        layer_models = [m for m in preset['layer_models']]
    else:
        models = list(models or (['cakes123d_p'] if per_layer else known))
        layer_models = models if per_layer else []
    for name in models + layer_models:
        if name not in known:
            raise ValueError(f'unknown model {name!r}; known: '
                             f'{", ".join(known)}')
    for name in layer_models:
        if not is_cakes_model(name):
            raise ValueError(f'the per-layer mode needs CAKES models, got '
                             f'{name!r}')
    if layer_batch is None:
        layer_batch = shape[0] if quick else 1
    result = OrderedDict(
        environment=_environment(device, threads, malloc),
        options=OrderedDict(
            shape=list(shape), models=models, repeats=repeats,
            warmup=warmup,
            impls=per_layer_impls if per_layer else e2e_impls,
            memory=memory, channels_last=channels_last,
            per_layer=per_layer, allocator=allocator, dtype=dtype,
            quick=quick, layer_batch=layer_batch,
            width_scale=width_scale))
    if quick:
        result['options']['layer_impls'] = per_layer_impls
        result['options']['layer_models'] = layer_models
    layout = (torch.channels_last_3d
              if channels_last else torch.contiguous_format)
    layer_shape = (layer_batch, ) + tuple(shape[1:])
    if per_layer or quick:
        _layers(result, layer_models, layer_shape, per_layer_impls, warmup,
                repeats, layout, dtype, device, width_scale)
    if not per_layer:
        _models(result, models, shape, e2e_impls, warmup, repeats, layout,
                dtype, device, memory, threads, width_scale)
    result['duration_s'] = time.perf_counter() - begin
    parts = []
    if 'layers' in result:
        parts.append(layer_markdown(result))
    if 'models' in result:
        parts.append(markdown_table(result))
    result['markdown'] = '\n'.join(parts)
    if out_json:
        with open(out_json, 'w') as f:
            json.dump(result, f, indent=1, default=str)
    if out_md:
        with open(out_md, 'w') as f:
            f.write(result['markdown'])
    return result
