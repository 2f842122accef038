"""Wall-clock time of one call, with CUDA events on CUDA."""
import time
from typing import Callable

import torch

__all__ = ['time_once']


def time_once(fn: Callable[[], object], device: torch.device) -> float:
    """Seconds one call of ``fn`` takes on ``device``.

    Args:
        fn (Callable): The work.
        device (torch.device): Where it runs; CUDA uses events.

    Returns:
        float: Elapsed seconds.
    """
    device = torch.device(device)
    if device.type == 'cuda':
        start = torch.cuda.Event(enable_timing=True)
        end = torch.cuda.Event(enable_timing=True)
        torch.cuda.synchronize(device)
        start.record()
        fn()
        end.record()
        end.synchronize()
        return start.elapsed_time(end) / 1000.0
    begin = time.perf_counter()
    fn()
    return time.perf_counter() - begin
