"""Keep freed memory in the process: glibc ``malloc`` tuned for CPU runs.

A video network on CPU allocates activations of tens of MB on every
forward (layer1 of a ResNet-50 at 2x8x224x224: 51 MB per tensor). glibc
serves blocks larger than its mmap threshold (dynamic, at most 32 MiB) with
fresh ``mmap`` pages and unmaps them on ``free``, so every forward
page-faults its largest activations in again, and the kernel zeroes each
page. Measured on a 2-core AMD EPYC with torch 2.13: that is 15-25 % of the
forward time of the paper's ResNet-50 at batch 2, and more of a CAKES
network's, whose branch outputs are extra tensors (``docs/benchmark.md``).

:func:`keep_freed_memory` tells glibc to serve everything from its heap
(``M_MMAP_MAX = 0``) and never to give the heap back (a huge
``M_TRIM_THRESHOLD``): after the first forward, later ones reuse the same
pages. The cost is that the process keeps its peak heap, as caching
allocators (jemalloc, tcmalloc, PyTorch's CUDA allocator) do. It changes no
result. Process-wide, for the rest of the process: call it once at start.
"""
import ctypes
import ctypes.util
import platform
from typing import Dict, Optional

__all__ = ['keep_freed_memory']

#: ``mallopt`` option: (its code in glibc's malloc.h, the value set).
#: The trim threshold is larger than any heap this process will have.
_SETTINGS = {'M_MMAP_MAX': (-4, 0), 'M_TRIM_THRESHOLD': (-1, 2**31 - 1)}

_applied: Optional[Dict[str, int]] = None


def _libc():
    if platform.system() != 'Linux':
        return None
    name = ctypes.util.find_library('c') or 'libc.so.6'
    try:
        libc = ctypes.CDLL(name)
    except OSError:
        return None
    # musl and others have no mallopt, or one that ignores these options.
    if not hasattr(libc, 'mallopt') or not hasattr(libc,
                                                   'gnu_get_libc_version'):
        return None
    return libc


def keep_freed_memory() -> Optional[Dict[str, int]]:
    """Serve all allocations from glibc's heap and never shrink it.

    Returns:
        dict | None: The ``mallopt`` settings now in effect
        (``{'M_MMAP_MAX': 0, 'M_TRIM_THRESHOLD': ...}``), or None where
        the C library is not glibc (nothing is changed there).

    Raises:
        RuntimeError: If glibc refuses a setting.
    """
    global _applied
    if _applied is not None:
        return dict(_applied)
    libc = _libc()
    if libc is None:
        return None
    libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    libc.mallopt.restype = ctypes.c_int
    for key, (code, value) in _SETTINGS.items():
        if libc.mallopt(code, value) != 1:
            raise RuntimeError(f'glibc mallopt refused {key}={value}')
    _applied = {key: value for key, (_, value) in _SETTINGS.items()}
    return dict(_applied)
