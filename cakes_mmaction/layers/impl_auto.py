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
import contextlib
import copy
import json
import os
import platform
import re
import time
from collections import OrderedDict
from typing import Dict, List, Mapping, Optional

import torch

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

FILE_VERSION = 1


def _layout(x: torch.Tensor) -> str:
    if x.is_contiguous():
        return 'contiguous'
    if x.is_contiguous(memory_format=torch.channels_last_3d):
        return 'channels_last_3d'
    return 'strided'


def _dtype(x: torch.Tensor) -> str:
    # Under autocast the convolutions run in the autocast dtype.
    name = str(x.dtype).replace('torch.', '')
    if x.dtype.is_floating_point and torch.is_autocast_enabled(
            x.device.type):
        cast = torch.get_autocast_dtype(x.device.type)
        name = f'{name}->autocast:{str(cast).replace("torch.", "")}'
    return name


def _dims(values) -> str:
    return 'x'.join(str(int(v)) for v in values)


def auto_key(layer, x: torch.Tensor, train: bool) -> Dict[str, object]:
    """What ``auto``'s choice depends on, as named, readable fields.

    Args:
        layer (CAKESConv3d): The layer.
        x (Tensor): Its input.
        train (bool): Whether autograd records (forward + backward timed).

    Returns:
        dict: ``counts``, ``in_channels``, ``kernel``, ``stride``,
        ``dilation``, ``bias``, ``input_shape``, ``dtype``, ``layout``,
        ``device``, ``threads`` (CPU; 0 elsewhere) and ``mode``
        (``'train'`` or ``'eval'``).
    """
    return OrderedDict(
        counts=','.join(f'{s}:{n}' for s, n in layer.counts.items()),
        in_channels=int(layer.in_channels),
        kernel=_dims(layer.kernel_size),
        stride=_dims(layer.stride),
        dilation=_dims(layer.dilation),
        bias=bool(layer.bias_enabled),
        input_shape=_dims(x.shape),
        dtype=_dtype(x),
        layout=_layout(x),
        device=str(x.device),
        threads=torch.get_num_threads() if x.device.type == 'cpu' else 0,
        mode='train' if train else 'eval')


def key_string(key: Mapping[str, object]) -> str:
    """The cache's key: one line of ``field=value`` pairs."""
    return ' '.join(f'{k}={v}' for k, v in key.items())


# ----------------------------------------------------------------------
# Where choices live.
_MEMORY: 'OrderedDict[str, dict]' = OrderedDict()
_LOADED: Dict[str, bool] = {}
_DIR_OVERRIDE: List[Optional[str]] = []


def set_cache_dir(path: Optional[str]) -> None:
    """Choose the directory of the per-device files (``None``: back to
    ``$CAKES_AUTO_CACHE_DIR`` / the default; ``'off'``: no file)."""
    _DIR_OVERRIDE[:] = [] if path is None else [str(path)]
    _LOADED.clear()


def _cache_dir() -> Optional[str]:
    if _DIR_OVERRIDE:
        path = _DIR_OVERRIDE[0]
    else:
        path = os.environ.get('CAKES_AUTO_CACHE_DIR') or os.path.join(
            os.path.expanduser('~'), '.cache', 'cakes_mmaction', 'auto')
    return None if path.lower() in ('off', 'none', '0', '') else path


def device_id(device: torch.device) -> str:
    """What the timings of a device depend on, as a file-name-safe slug:
    the device model, torch (and cuDNN) version."""
    device = torch.device(device)
    if device.type == 'cuda':
        index = device.index if device.index is not None else \
            torch.cuda.current_device()
        name = torch.cuda.get_device_name(index)
        cudnn = torch.backends.cudnn.version() or 0
        ident = f'cuda-{name}-torch{torch.__version__}-cudnn{cudnn}'
    else:
        ident = (f'{device.type}-{_cpu_model()}-'
                 f'{torch.backends.cpu.get_cpu_capability()}-'
                 f'torch{torch.__version__}')
    return re.sub(r'[^A-Za-z0-9.+-]+', '_', ident).strip('_')


def _cpu_model() -> str:
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cache_path(device: torch.device) -> Optional[str]:
    """The JSON file of a device's choices (None when disabled)."""
    folder = _cache_dir()
    if folder is None:
        return None
    return os.path.join(folder, device_id(device) + '.json')


def _read(path: str) -> Dict[str, dict]:
    # A broken or foreign file must not stop training: it is ignored
    # (and rewritten by the next choice), with a warning.
    try:
        with open(path) as f:
            data = json.load(f)
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as err:
        import warnings
        warnings.warn(f'CAKES auto cache {path} ignored: {err}')
        return {}
    if not isinstance(data, dict) or data.get('version') != FILE_VERSION \
            or not isinstance(data.get('entries'), dict):
        import warnings
        warnings.warn(f'CAKES auto cache {path} ignored: expected '
                      f'{{"version": {FILE_VERSION}, "entries": {{...}}}}')
        return {}
    return {
        k: v
        for k, v in data['entries'].items()
        if isinstance(v, dict) and isinstance(v.get('choice'), str)
        and isinstance(v.get('key'), dict)
    }


@contextlib.contextmanager
def _locked(path: str):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path + '.lock', 'a') as lock:
        try:
            import fcntl
            fcntl.flock(lock, fcntl.LOCK_EX)
        except (ImportError, OSError):
            pass
        yield


def _write(path: str, text: str, entry: dict) -> None:
    try:
        with _locked(path):
            entries = _read(path)
            entries[text] = entry
            tmp = f'{path}.{os.getpid()}.tmp'
            with open(tmp, 'w') as f:
                json.dump(
                    dict(version=FILE_VERSION, entries=entries),
                    f,
                    indent=1,
                    sort_keys=True)
            os.replace(tmp, path)
    except OSError as err:
        import warnings
        warnings.warn(f'CAKES auto cache {path} not written: {err}')


def _load(device: torch.device) -> None:
    path = cache_path(device)
    if path is None or _LOADED.get(path):
        return
    _LOADED[path] = True
    for text, entry in _read(path).items():
        _MEMORY.setdefault(text, entry)


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


def auto_cache() -> List[dict]:
    """Every choice this process knows (measured or read from the file).

    Returns:
        list[dict]: Per key: the fields of :func:`auto_key` with
        ``counts`` as a dict, ``input_shape`` as a tuple and ``train`` as
        a bool, then ``choice``, ``times`` (seconds per candidate) and,
        where measured, ``peak_bytes``, ``memory`` and ``refused``.
    """
    rows = []
    for entry in _MEMORY.values():
        row = dict(entry['key'])
        row['counts'] = {
            s: int(n)
            for s, n in (part.split(':') for part in row['counts'].split(','))
        }
        row['input_shape'] = tuple(
            int(v) for v in row['input_shape'].split('x'))
        row['train'] = row.pop('mode') == 'train'
        for field in ('choice', 'times', 'peak_bytes', 'memory', 'refused'):
            if field in entry:
                row[field] = copy.deepcopy(entry[field])
        rows.append(row)
    return rows


def clear_auto_cache() -> None:
    """Forget this process's choices (the files stay; they are read again
    on the next miss)."""
    _MEMORY.clear()
    _LOADED.clear()
