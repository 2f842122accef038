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
(weights, gradients, optimizer state, activations, input). On CPU it is
measured in a fresh process per model: the peak resident set of the third
training step (Linux's ``VmHWM``, reset through ``/proc/self/clear_refs``
after two warm-up steps; ``ru_maxrss`` where that is unavailable) minus the
resident set of the process before the model was built, with glibc told to
return freed blocks of 64 KiB and more to the system. On CUDA it is
``torch.cuda.max_memory_allocated`` during the third step.

Timing runs with glibc's malloc told to keep freed memory
(:func:`~cakes_mmaction.engine.cpu_allocator.keep_freed_memory`, the
default ``allocator='cached'``): without it every forward page-faults its
largest activations in again, which costs all models 15-25 % and is not
convolution work. ``allocator='system'`` leaves malloc as it is.
"""
import datetime
import json
import multiprocessing
import os
import platform
import queue as queue_module
import resource
import statistics
import time
from collections import OrderedDict
from typing import Dict, Optional, Sequence

import torch

from ..cost import capture_geometry, cost_table
from ..engine.cpu_allocator import keep_freed_memory
from ..layers import CAKESConv3d
from ..layers.cakes_conv_impl import auto_cache, check_impl
from ..models import ResNet3dCAKES
from .benchmark_models import (REFERENCE_MODEL, build_backbone, is_cakes_model,
                               model_names)
from .benchmark_report import flop_proportional, layer_markdown, markdown_table
from .layer_benchmark import (add_modelled_ratios, benchmark_layers,
                              shape_efficiency)
from .timing import interleaved_times

__all__ = ['run_benchmark', 'measure_flops', 'peak_training_memory',
           'DEFAULT_IMPL', 'ALLOCATORS']

#: The ``impl`` the benchmark (and ``ResNet3dCAKES``) uses by default.
DEFAULT_IMPL = 'fast'

#: ``allocator`` values; the first is the default.
ALLOCATORS = ('cached', 'system')

_MMAP_ENV = 'MALLOC_MMAP_THRESHOLD_'


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
    from mmengine.analysis import FlopAnalyzer

    # FlopAnalyzer traces, and traced CAKES layers record their reference
    # forward whatever their impl: a plan's zero-padded taps never count.
    was_training = backbone.training
    backbone.eval()
    param = next(backbone.parameters())
    x = torch.zeros((1, ) + tuple(clip_shape), device=param.device)
    try:
        analyzer = FlopAnalyzer(backbone, (x, ))
        analyzer.unsupported_ops_warnings(False)
        analyzer.uncalled_modules_warnings(False)
        flops = int(analyzer.total())
        cakes_flops = None
        if isinstance(backbone, ResNet3dCAKES) and all(
                isinstance(m, CAKESConv3d)
                for m in backbone.cakes_layers.values()):
            geometries = capture_geometry(backbone, x.shape)
            cakes_flops = cost_table(backbone.assignment,
                                     geometries)[-1]['flops']
    finally:
        backbone.train(was_training)
    return dict(
        params=sum(p.numel() for p in backbone.parameters()),
        flops=flops,
        cakes_flops=cakes_flops)


def _train_step(backbone, optimizer, x):
    def step():
        out = backbone(x)
        out = out[0] if isinstance(out, tuple) else out
        out.float().mean().backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    return step


def _sgd(backbone):
    return torch.optim.SGD(backbone.parameters(), lr=1e-4, momentum=0.9)


def _rss_bytes() -> int:
    with open('/proc/self/statm') as f:
        return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE')


def _hwm_bytes() -> int:
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith('VmHWM:'):
                return int(line.split()[1]) * 1024
    raise OSError('no VmHWM in /proc/self/status')


def _memory_child(name, impl, shape, threads, queue):
    try:
        base = _rss_bytes()  # the bare process: interpreter and imports
        if threads:
            torch.set_num_threads(threads)
        torch.manual_seed(0)
        backbone = build_backbone(name, impl)
        backbone.train()
        x = torch.randn(tuple(shape))
        step = _train_step(backbone, _sgd(backbone), x)
        for _ in range(2):  # optimizer state, allocator, auto's timing runs
            step()
        try:
            with open('/proc/self/clear_refs', 'w') as f:
                f.write('5')  # resets VmHWM to the current RSS
            step()
            peak, method = _hwm_bytes() - base, 'VmHWM'
        except OSError:
            step()
            maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            peak, method = maxrss * 1024 - base, 'ru_maxrss'
        queue.put(dict(peak_bytes=peak, method=method))
    except Exception as err:  # reported by the parent
        queue.put(dict(error=f'{type(err).__name__}: {err}'))


def peak_training_memory(name: str,
                         impl: str,
                         shape: Sequence[int],
                         threads: Optional[int] = None,
                         device: str = 'cpu') -> dict:
    """Peak memory of a training step of a benchmark model.

    Everything training holds at its peak counts: weights, gradients,
    optimizer state, activations and the input.

    Args:
        name (str): Benchmark model name.
        impl (str): ``impl`` of its CAKES layers.
        shape (Sequence[int]): Input ``(N, C, T, H, W)``.
        threads (int, optional): CPU threads of the child process.
        device (str): ``'cpu'`` (fresh process) or ``'cuda'`` (in
            process). Defaults to ``'cpu'``.

    Returns:
        dict: ``peak_bytes`` and ``method``, or ``error``.
    """
    if torch.device(device).type == 'cuda':
        backbone = build_backbone(name, impl).to(device)
        backbone.train()
        x = torch.randn(tuple(shape), device=device)
        step = _train_step(backbone, _sgd(backbone), x)
        for _ in range(2):
            step()
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        step()
        torch.cuda.synchronize(device)
        peak = torch.cuda.max_memory_allocated(device)
        del backbone, x, step
        torch.cuda.empty_cache()
        return dict(peak_bytes=peak, method='max_memory_allocated')
    ctx = multiprocessing.get_context('spawn')
    queue = ctx.Queue()
    proc = ctx.Process(
        target=_memory_child,
        args=(name, impl, list(shape), threads, queue))
    # glibc returns blocks of 64 KiB and more to the system when freed, so
    # the resident set follows what is in use rather than what malloc
    # kept from earlier steps.
    saved = os.environ.get(_MMAP_ENV)
    os.environ[_MMAP_ENV] = str(64 * 1024)
    try:
        proc.start()
    finally:
        if saved is None:
            del os.environ[_MMAP_ENV]
        else:
            os.environ[_MMAP_ENV] = saved
    result = None
    while result is None:
        try:
            result = queue.get(timeout=1.0)
        except queue_module.Empty:
            if not proc.is_alive():  # died before reporting (killed, OOM)
                result = dict(error=f'memory process of {name!r} exited '
                              f'with code {proc.exitcode}')
    proc.join()
    return result


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
        else:
            entries.append((name, name, impls[0]))
    return entries


def _time_models(backbones, shape, device, warmup, repeats, layout):
    batch = shape[0]
    x1 = torch.randn((1, ) + tuple(shape[1:]), device=device)
    xn = torch.randn(tuple(shape), device=device)
    x1, xn = (x.contiguous(memory_format=layout) for x in (x1, xn))
    results = {label: OrderedDict() for label in backbones}

    def forward(backbone, x):
        def run():
            with torch.no_grad():
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
    optimizers = {k: _sgd(b) for k, b in backbones.items()}
    times = interleaved_times(
        {k: _train_step(b, optimizers[k], xn)
         for k, b in backbones.items()}, device, warmup, repeats)
    for label, t in times.items():
        results[label]['train_step_s'] = statistics.median(t)
        results[label]['train_step_rounds_s'] = t
    return results


def run_benchmark(shape: Sequence[int] = (2, 3, 8, 224, 224),
                  models: Optional[Sequence[str]] = None,
                  repeats: int = 3,
                  warmup: int = 1,
                  impls: Sequence[str] = (DEFAULT_IMPL, ),
                  threads: Optional[int] = None,
                  device: str = 'cpu',
                  memory: bool = True,
                  channels_last: bool = False,
                  per_layer: bool = False,
                  allocator: str = 'cached',
                  out_json: Optional[str] = None,
                  out_md: Optional[str] = None) -> dict:
    """Run the benchmark (or its per-layer mode) and write the reports.

    Args:
        shape (Sequence[int]): Input ``(N, C, T, H, W)``; ``N`` is the
            larger batch (forward throughput, training step, memory);
            forward is timed at batch 1 too. The per-layer mode uses batch
            1. Defaults to ``(2, 3, 8, 224, 224)``.
        models (Sequence[str], optional): Names from
            :func:`~cakes_mmaction.analysis.benchmark_models.model_names`.
            Defaults to all (per-layer mode: ``['cakes123d_p']``). The
            all-3x3x3 network is always added (the ratios' reference).
        repeats (int): Timed rounds; medians are reported. Defaults to 3.
        warmup (int): Untimed calls per model and measurement first.
            Defaults to 1.
        impls (Sequence[str]): ``impl`` of the CAKES layers; with several,
            each CAKES model appears once per impl. Defaults to
            ``(DEFAULT_IMPL,)``.
        threads (int, optional): ``torch.set_num_threads``. Defaults to
            torch's default.
        device (str): ``'cpu'`` or ``'cuda'``. Defaults to ``'cpu'``.
        memory (bool): Measure peak training memory. Defaults to True.
        channels_last (bool): Run models and inputs in
            ``torch.channels_last_3d`` (timings only). Defaults to False.
        per_layer (bool): Time each CAKES layer of the ``models`` presets
            against the dense conv it replaces instead. Defaults to False.
        allocator (str): ``'cached'``: on CPU with glibc, call
            :func:`~cakes_mmaction.engine.cpu_allocator.keep_freed_memory`
            first (process-wide, for the rest of the process);
            ``'system'``: leave malloc alone. Defaults to ``'cached'``.
        out_json (str, optional): Write the result as JSON.
        out_md (str, optional): Write the markdown report.

    Returns:
        dict: ``environment``, ``options``, ``duration_s``, ``markdown``
        and ``models`` (rows) or ``layers`` (per-layer mode).
    """
    begin = time.perf_counter()
    impls = [check_impl(i) for i in impls]
    if 'auto' in impls and warmup < 1:
        raise ValueError('impl auto measures on its first call: use '
                         f'warmup >= 1, got {warmup}')
    if len(shape) != 5:
        raise ValueError(f'shape must be N C T H W, got {list(shape)}')
    if allocator not in ALLOCATORS:
        raise ValueError(f'allocator must be one of {ALLOCATORS}, got '
                         f'{allocator!r}')
    malloc = 'system'
    if allocator == 'cached' and torch.device(device).type == 'cpu':
        settings = keep_freed_memory()
        if settings is not None:
            malloc = 'glibc ' + ', '.join(f'{k}={v}'
                                          for k, v in settings.items())
    if threads:
        torch.set_num_threads(threads)
    device = torch.device(device)
    known = model_names()
    models = list(models or (['cakes123d_p'] if per_layer else known))
    for name in models:
        if name not in known:
            raise ValueError(f'unknown model {name!r}; known: '
                             f'{", ".join(known)}')
        if per_layer and not is_cakes_model(name):
            raise ValueError(f'the per-layer mode needs CAKES models, got '
                             f'{name!r}')
    result = OrderedDict(
        environment=_environment(device, threads, malloc),
        options=OrderedDict(
            shape=list(shape), models=models, repeats=repeats,
            warmup=warmup, impls=impls, memory=memory,
            channels_last=channels_last, per_layer=per_layer,
            allocator=allocator))
    layout = (torch.channels_last_3d
              if channels_last else torch.contiguous_format)
    if per_layer:
        layers, efficiency = OrderedDict(), OrderedDict()
        for name in models:
            backbone = build_backbone(name).to(device)
            layers[name] = benchmark_layers(
                backbone, (1, ) + tuple(shape[1:]), impls, warmup, repeats,
                layout=layout)
            efficiency[name] = shape_efficiency(
                backbone, (1, ) + tuple(shape[1:]), warmup, repeats,
                layout=layout)
            add_modelled_ratios(layers[name], efficiency[name], device.type)
        result['layers'] = layers
        result['shape_efficiency'] = efficiency
        result['duration_s'] = time.perf_counter() - begin
        result['markdown'] = layer_markdown(result)
    else:
        # The reference of every ratio comes first.
        models = [REFERENCE_MODEL] + [
            m for m in models if m != REFERENCE_MODEL
        ]
        entries = _entries(models, impls)
        backbones = OrderedDict()
        rows = OrderedDict()
        for label, name, impl in entries:
            torch.manual_seed(0)
            backbones[label] = build_backbone(name, impl).to(
                device, memory_format=layout)
            row = OrderedDict(model=name, impl=impl if is_cakes_model(
                name) else None)
            row.update(measure_flops(backbones[label], shape[1:]))
            rows[label] = row
        timed = _time_models(backbones, shape, device, warmup, repeats,
                             layout)
        for label in rows:
            rows[label].update(timed[label])
        del backbones
        for label, name, impl in entries:
            if memory:
                mem = peak_training_memory(name, impl, shape, threads,
                                           str(device))
                rows[label]['peak_train_mem_bytes'] = mem.get('peak_bytes')
                rows[label]['peak_train_mem_method'] = mem.get(
                    'method', mem.get('error'))
            else:
                rows[label]['peak_train_mem_bytes'] = None
        flop_proportional(rows, REFERENCE_MODEL)
        result['models'] = rows
        result['auto_choices'] = auto_cache()
        result['duration_s'] = time.perf_counter() - begin
        result['markdown'] = markdown_table(result)
    if out_json:
        with open(out_json, 'w') as f:
            json.dump(result, f, indent=1, default=str)
    if out_md:
        with open(out_md, 'w') as f:
            f.write(result['markdown'])
    return result
