"""Where ``impl='auto'`` keeps its choices: the key, the process's memory
and one JSON file per device.

The key (:func:`auto_key`) names what a choice depends on: the layer's
counts and geometry, the input shape, dtype (and autocast dtype), memory
layout, device, CPU threads, and whether autograd records. The file of a
device (:func:`cache_path`) is in ``$CAKES_AUTO_CACHE_DIR`` or
``~/.cache/cakes_mmaction/auto`` (``CAKES_AUTO_CACHE_DIR=off`` disables
it; :func:`set_cache_dir` overrides both), is written atomically under a
lock, and a broken or foreign file is ignored with a warning. Measuring
and choosing are in :mod:`.impl_auto`.
"""
import contextlib
import copy
import json
import os
import platform
import re
from collections import OrderedDict
from typing import Dict, List, Mapping, Optional

import torch

__all__ = [
    'auto_key', 'key_string', 'device_id', 'cache_path', 'set_cache_dir',
    'auto_cache', 'clear_auto_cache', 'FILE_VERSION'
]

#: Version of the per-device file's format.
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
