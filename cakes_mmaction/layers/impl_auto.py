"""``impl='auto'``: measure every available implementation once per key,
keep the fastest whose memory stays within 10% of the reference's, and
remember the choice, in the process and on disk.

The key (:func:`auto_key`) names what a choice depends on: the layer's
counts and geometry, the input shape, dtype (and autocast dtype), memory
layout, device, CPU threads, and whether autograd records (``train``:
forward and backward are timed then).

Timing: one warm-up call per candidate, then :data:`AUTO_ROUNDS`
interleaved rounds, minimum per candidate (noise only adds time); CUDA
events on CUDA (:func:`~cakes_mmaction.layers.timing.time_once`). The
fastest allowed candidate wins (ties: registration order). The masked-dense
``dense`` is always a candidate, so a layer under ``auto`` is never slower
than the dense convolution it replaces beyond measuring noise; persisted
choices keep noise from flipping it between runs.

Memory: on CUDA, the peak of ``torch.cuda.max_memory_allocated`` above
what was allocated before the candidate ran, over its warm-up and timed
calls (which resets the device's peak statistics). On CPU, which has no
allocator statistics, each implementation's analytic bound
(:meth:`CAKESImpl.peak_bytes`: output, intermediates, the copies saved for
backward and, in training, the gradients alive at once); an
implementation without a bound is not chosen there. A candidate whose
peak exceeds :data:`MEMORY_SLACK` times the reference's is refused.

Persistence: choices are written to one JSON file per device
(:func:`cache_path`), ``$CAKES_AUTO_CACHE_DIR`` or
``~/.cache/cakes_mmaction/auto`` (``CAKES_AUTO_CACHE_DIR=off`` disables
it; :func:`set_cache_dir` overrides both). A process reads the file on its
first miss and never measures a key it finds there. In a distributed run
the processes of one node share the file: a process whose ``LOCAL_RANK``
is not 0 waits up to :data:`AUTO_WAIT_S` seconds (``$CAKES_AUTO_WAIT_S``)
for local rank 0 to write a missing key, then measures it itself. So every
rank runs what rank 0 measured, and later runs measure nothing. No
collective is used: a rank can never hang on another.
"""
import copy
import os
import time
from collections import OrderedDict
from typing import Dict, Optional

import torch

# The cache's public names stay importable from here, where they were.
from .impl_auto_cache import (_MEMORY, FILE_VERSION, _load,  # noqa: F401
                              _read, _write, auto_cache, auto_key, cache_path,
                              clear_auto_cache, device_id, key_string,
                              set_cache_dir)
from .impl_registry import get_impl, impl_names
from .timing import time_once

__all__ = [
    'auto_key', 'key_string', 'auto_choice', 'auto_cache',
    'clear_auto_cache', 'cache_path', 'set_cache_dir', 'measure',
    'AUTO_ROUNDS', 'MEMORY_SLACK', 'AUTO_WAIT_S'
]

#: Timed rounds per candidate (after one warm-up).
AUTO_ROUNDS = 3

#: A candidate may hold at most this times the reference's peak memory.
MEMORY_SLACK = 1.10

#: Seconds a non-leader rank waits for the leader's choice.
AUTO_WAIT_S = float(os.environ.get('CAKES_AUTO_WAIT_S', 120))

#: Used when no measuring is possible (inside ``torch.compile``).
AUTO_FALLBACK = 'reference'


# ----------------------------------------------------------------------
# Who measures.
def _is_follower() -> bool:
    if not (torch.distributed.is_available()
            and torch.distributed.is_initialized()):
        return False
    if torch.distributed.get_world_size() < 2:
        return False
    return int(os.environ.get('LOCAL_RANK', '0')) != 0


def _wait_for_leader(path: Optional[str], text: str) -> Optional[dict]:
    if path is None:
        return None
    deadline = time.monotonic() + AUTO_WAIT_S
    while time.monotonic() < deadline:
        entry = _read(path).get(text)
        if entry is not None:
            return entry
        time.sleep(0.2)
    return None


# ----------------------------------------------------------------------
# Measuring.
def _usable(entry: dict, layer, x: torch.Tensor) -> bool:
    name = entry.get('choice')
    if name not in impl_names():
        return False
    return get_impl(name).available(layer, x) is None


def _shadow(layer, train: bool):
    # Timing must not touch the layer's parameters or their .grad.
    shadow = copy.deepcopy(layer)
    for p in shadow.parameters():
        p.grad = None
        p.requires_grad_(train)
    return shadow


def _runner(impl, shadow, x: torch.Tensor, train: bool):
    def run():
        with torch.set_grad_enabled(train):
            y = impl.forward(shadow, x)
            if train:
                y.backward(torch.ones_like(y))
                for p in shadow.parameters():
                    p.grad = None
                x.grad = None
    run.impl_name = impl.name  # what a test's timer may look at
    return run


def _peak_cuda(fn, device) -> int:
    torch.cuda.synchronize(device)
    before = torch.cuda.memory_allocated(device)
    torch.cuda.reset_peak_memory_stats(device)
    fn()
    torch.cuda.synchronize(device)
    return torch.cuda.max_memory_allocated(device) - before


def measure(layer, x: torch.Tensor, train: bool) -> dict:
    """Time and bound the memory of every available implementation.

    Args:
        layer (CAKESConv3d): The layer.
        x (Tensor): Its input.
        train (bool): Time forward + backward.

    Returns:
        dict: ``choice``, ``times`` (seconds per candidate), ``peak_bytes``
        (per candidate), ``memory`` (``'cuda'`` or ``'analytic'``) and
        ``refused`` (name -> reason).
    """
    device = x.device
    cuda = device.type == 'cuda'
    refused: Dict[str, str] = OrderedDict()
    peaks: Dict[str, Optional[int]] = OrderedDict()
    fns = OrderedDict()
    x = x.detach().requires_grad_(train and x.requires_grad)
    for name in impl_names():
        impl = get_impl(name)
        reason = impl.available(layer, x)
        if reason is not None:
            refused[name] = reason
            continue
        if not cuda:
            peak = impl.peak_bytes(layer, x, train)
            if peak is None:
                refused[name] = 'no memory bound on this device'
                continue
            peaks[name] = int(peak)
        fns[name] = _runner(impl, _shadow(layer, train), x, train)
    best = {name: float('inf') for name in fns}
    for name, fn in fns.items():  # warm-up (and peak memory on CUDA)
        if cuda:
            peaks[name] = _peak_cuda(fn, device)
        else:
            fn()
    for _ in range(AUTO_ROUNDS):
        for name, fn in fns.items():
            best[name] = min(best[name], time_once(fn, device))
    limit = MEMORY_SLACK * peaks.get('reference', float('inf'))
    allowed = [n for n in fns if peaks[n] <= limit]
    for name in fns:
        if name not in allowed:
            refused[name] = (f'peak memory {peaks[name]} B > '
                             f'{MEMORY_SLACK:.2f} x reference')
    choice = min(allowed, key=lambda n: best[n])  # first of equals
    return dict(
        choice=choice,
        times=dict(best),
        peak_bytes={n: peaks[n]
                    for n in fns},
        memory='cuda' if cuda else 'analytic',
        refused=dict(refused))


def auto_choice(layer, x: torch.Tensor, train: bool) -> str:
    """The implementation ``impl='auto'`` runs for a layer and an input.

    Looked up in this process's choices, then in the device's file; on a
    miss (or when the recorded choice is no longer available) measured
    with :func:`measure`, remembered and written to the file.

    Args:
        layer (CAKESConv3d): The layer.
        x (Tensor): Its input.
        train (bool): Whether autograd records.

    Returns:
        str: A registered implementation name.
    """
    key = auto_key(layer, x, train)
    text = key_string(key)
    entry = _MEMORY.get(text)
    if entry is not None and _usable(entry, layer, x):
        return entry['choice']
    if torch.compiler.is_compiling():
        # Timing inside torch.compile would be traced, not run.
        return AUTO_FALLBACK
    _load(x.device)
    entry = _MEMORY.get(text)
    if entry is not None and _usable(entry, layer, x):
        return entry['choice']
    path = cache_path(x.device)
    if _is_follower():
        entry = _wait_for_leader(path, text)
        if entry is not None and _usable(entry, layer, x):
            _MEMORY[text] = entry
            return entry['choice']
    entry = dict(key=dict(key), **measure(layer, x, train))
    _MEMORY[text] = entry
    if path is not None:
        _write(path, text, entry)
    return entry['choice']
