"""Wall-clock timing that is fair to candidates sharing a noisy machine.

CUDA work is timed with CUDA events (asynchronous kernels), CPU work with
``time.perf_counter``. Candidates are run round-robin: on a machine shared
with other processes, noise then hits every candidate alike instead of
whichever happened to run during a burst.
"""
import contextlib
import statistics
from typing import Callable, Dict, List, Mapping

import torch

from ..layers.timing import time_once

__all__ = [
    'time_once', 'interleaved_times', 'paired_ratio', 'summarize',
    'autocast', 'DTYPES'
]

#: ``dtype`` values of the benchmark: the autocast dtype (None: off).
DTYPES = {'fp32': None, 'bf16': torch.bfloat16, 'fp16': torch.float16}


def autocast(device, dtype: str):
    """``torch.autocast`` to a :data:`DTYPES` name (no-op for fp32).

    Args:
        device (torch.device | str): Where the work runs.
        dtype (str): ``'fp32'``, ``'bf16'`` or ``'fp16'``.

    Returns:
        A context manager.
    """
    if dtype not in DTYPES:
        raise ValueError(f'dtype must be one of {list(DTYPES)}, got '
                         f'{dtype!r}')
    if DTYPES[dtype] is None:
        return contextlib.nullcontext()
    return torch.autocast(torch.device(device).type, dtype=DTYPES[dtype])


def interleaved_times(fns: Mapping[str, Callable[[], object]],
                      device: torch.device,
                      warmup: int = 1,
                      repeats: int = 3) -> Dict[str, List[float]]:
    """Time candidates round-robin after warming each up.

    Args:
        fns (Mapping[str, Callable]): Candidates by name.
        device (torch.device): Where they run.
        warmup (int): Untimed calls per candidate first. Defaults to 1.
        repeats (int): Timed rounds. Defaults to 3.

    Returns:
        dict[str, list[float]]: Seconds per call, per candidate.
    """
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    times: Dict[str, List[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            times[name].append(time_once(fn, device))
    return times


def summarize(times: List[float]) -> Dict[str, float]:
    """Median, minimum and spread of repeated timings.

    Args:
        times (list[float]): Seconds.

    Returns:
        dict[str, float]: ``median``, ``min``, ``max`` (seconds) and ``n``.
    """
    return dict(
        median=statistics.median(times),
        min=min(times),
        max=max(times),
        n=len(times))


def paired_ratio(times: List[float], reference: List[float]) -> float:
    """Median over rounds of ``times[r] / reference[r]``.

    Both ran in the same round, moments apart, so a slow phase of the
    machine divides out; a ratio of medians would mix rounds.

    Args:
        times (list[float]): Seconds per round of a candidate.
        reference (list[float]): Seconds per round of the reference.

    Returns:
        float: The median ratio.
    """
    if len(times) != len(reference) or not times:
        raise ValueError(f'need equally many rounds, got {len(times)} and '
                         f'{len(reference)}')
    return statistics.median(t / r for t, r in zip(times, reference))
