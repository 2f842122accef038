"""What each DataLoader worker is loading, readable after the worker died.

A decoder that crashes (a segfault in native code) takes its DataLoader
worker with it; PyTorch then reports only "DataLoader worker (pid N) is
killed by signal", without the file. Each worker of a robust dataset writes
the sample it is loading into its slot of shared memory created in the main
process, and clears it when done, so the main process can name the file
the dead worker was on (:func:`crashed_samples`).
"""
import multiprocessing as mp
import os
import re
from multiprocessing import context as mp_context
from typing import Iterable, List, Optional

__all__ = ['InflightTable', 'crashed_samples']

_SLOTS = 64
_BYTES = 1024
_SEP = '\x1f'  # between the worker's pid and the sample


class InflightTable:
    """One slot per DataLoader worker (and one for the main process).

    Args:
        slots (int): Workers tracked (ids beyond share the last slot).
            Defaults to 64.
    """

    def __init__(self, slots: int = _SLOTS) -> None:
        self.slots = int(slots)
        self._text = mp.Array('c', (self.slots + 1) * _BYTES, lock=False)

    @staticmethod
    def _worker_slot(slots: int) -> int:
        from torch.utils.data import get_worker_info
        info = get_worker_info()
        return 0 if info is None else 1 + min(info.id, slots - 1)

    def begin(self, what: str) -> None:
        """Record the sample this process starts loading.

        Args:
            what (str): Its description (list line, index, media).
        """
        text = f'{os.getpid()}{_SEP}{what}'
        data = text.encode('utf-8', 'replace')[:_BYTES - 1] + b'\0'
        start = self._worker_slot(self.slots) * _BYTES
        self._text[start:start + len(data)] = data

    def end(self) -> None:
        """The sample was loaded (or failed with an exception)."""
        self._text[self._worker_slot(self.slots) * _BYTES] = b'\0'

    def pending(self, pids: Optional[Iterable[int]] = None) -> List[str]:
        """Samples whose loading began and never ended.

        Args:
            pids (Iterable[int], optional): Only these worker processes.
                Defaults to None (all).

        Returns:
            list[str]: Their descriptions, by worker.
        """
        wanted = None if pids is None else {int(p) for p in pids}
        out = []
        for slot in range(1, self.slots + 1):
            raw = bytes(self._text[slot * _BYTES:(slot + 1) * _BYTES])
            text = raw.split(b'\0', 1)[0].decode('utf-8', 'replace')
            pid, _, what = text.partition(_SEP)
            if what and (wanted is None or int(pid) in wanted):
                out.append(what)
        return out

    def __getstate__(self) -> dict:
        # Shared memory travels only to a process being started (a spawned
        # worker); any other pickle gets a table of its own.
        if mp_context.get_spawning_popen() is not None:
            return self.__dict__.copy()
        return dict(slots=self.slots)

    def __setstate__(self, state: dict) -> None:
        if '_text' in state:
            self.__dict__.update(state)
        else:
            self.__init__(state['slots'])

    def __deepcopy__(self, memo: dict) -> 'InflightTable':
        return type(self)(self.slots)


def crashed_samples(datasets: Iterable, message: str = '') -> List[str]:
    """What dead workers of these datasets were loading.

    Args:
        datasets (Iterable): Datasets (wrappers are searched).
        message (str): PyTorch's error; the worker pids it names select
            the slots (other workers may have been busy too). Defaults to
            ``''`` (every unfinished sample).

    Returns:
        list[str]: Descriptions of the samples in flight.
    """
    pids = [int(p) for p in re.findall(r'\d+', ''.join(
        re.findall(r'pid\(?s?\)? ([\d, ]+)', message)))] or None
    found: List[str] = []
    for dataset in datasets:
        found += _pending(dataset, pids)
    return found


def _pending(dataset, pids) -> List[str]:
    table: Optional[InflightTable] = getattr(dataset, '_inflight', None)
    out = table.pending(pids) if table is not None else []
    for inner in getattr(dataset, 'datasets', None) or []:
        out += _pending(inner, pids)
    inner = getattr(dataset, 'dataset', None)
    if inner is not None:
        out += _pending(inner, pids)
    return out
