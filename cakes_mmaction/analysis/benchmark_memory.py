"""Peak memory of a training step of a benchmark model.

Everything a training step holds at its peak counts: weights, gradients,
optimizer state, activations, input. On CPU it is measured in a fresh
process per model: the peak resident set of the third training step
(Linux's ``VmHWM``, reset through ``/proc/self/clear_refs`` after two
warm-up steps; ``ru_maxrss`` where that is unavailable) minus the resident
set of the process before the model was built, with glibc told to return
freed blocks of 64 KiB and more to the system. On CUDA it is
``torch.cuda.max_memory_allocated`` during the third step.
"""
import multiprocessing
import os
import queue as queue_module
import resource
from typing import Callable, Optional, Sequence

import torch
import torch.nn as nn

from .benchmark_models import build_backbone
from .timing import autocast

__all__ = ['peak_training_memory', 'training_step', 'benchmark_optimizer']

_MMAP_ENV = 'MALLOC_MMAP_THRESHOLD_'


def training_step(backbone: nn.Module,
                  optimizer: torch.optim.Optimizer,
                  x: torch.Tensor,
                  dtype: str = 'fp32') -> Callable[[], None]:
    """One training step of a benchmark model, as a call.

    Args:
        backbone (nn.Module): The model.
        optimizer (Optimizer): Its optimizer.
        x (Tensor): The input.
        dtype (str): ``'fp32'``, or ``'bf16'`` / ``'fp16'`` under
            autocast. Defaults to ``'fp32'``.

    Returns:
        Callable[[], None]: Forward, the output's mean backward, one
        optimizer step.
    """

    def step():
        with autocast(x.device, dtype):
            out = backbone(x)
        out = out[0] if isinstance(out, tuple) else out
        out.float().mean().backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    return step


def benchmark_optimizer(backbone: nn.Module) -> torch.optim.Optimizer:
    """The optimizer of every benchmarked training step (SGD, momentum)."""
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


def _memory_child(name, impl, shape, threads, queue, dtype='fp32',
                  width_scale=1.0):
    try:
        base = _rss_bytes()  # the bare process: interpreter and imports
        if threads:
            torch.set_num_threads(threads)
        torch.manual_seed(0)
        backbone = build_backbone(name, impl, width_scale)
        backbone.train()
        x = torch.randn(tuple(shape))
        step = training_step(backbone, benchmark_optimizer(backbone), x, dtype)
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
                         device: str = 'cpu',
                         dtype: str = 'fp32',
                         layout: torch.memory_format = torch.contiguous_format,
                         width_scale: float = 1.0) -> dict:
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
        dtype (str): ``'fp32'``, ``'bf16'`` or ``'fp16'`` (autocast).
            Defaults to ``'fp32'``.
        layout (torch.memory_format): Of the model and input (CUDA).
            Defaults to ``torch.contiguous_format``.
        width_scale (float): Factor on the model's widths (see
            :mod:`.benchmark_models`). Defaults to 1.

    Returns:
        dict: ``peak_bytes`` and ``method``, or ``error``.
    """
    if torch.device(device).type == 'cuda':
        backbone = build_backbone(name, impl, width_scale).to(
            device, memory_format=layout)
        backbone.train()
        x = torch.randn(tuple(shape), device=device).contiguous(
            memory_format=layout)
        step = training_step(backbone, benchmark_optimizer(backbone), x, dtype)
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
        args=(name, impl, list(shape), threads, queue, dtype, width_scale))
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
