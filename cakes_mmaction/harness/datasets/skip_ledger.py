"""A skip counter shared by a dataset's DataLoader worker processes."""
import copy
import multiprocessing as mp
from multiprocessing import context as mp_context
from typing import Dict, List, Optional, Tuple

__all__ = ['SkipLedger']


class SkipLedger:
    """Which samples of one dataset were skipped, across worker processes.

    DataLoader workers each hold a copy of the dataset, so a plain counter
    would count per worker. The flags live in shared memory created in the
    main process, which forked (or spawned) workers inherit. One flag per
    sample: the limit is on *distinct* bad samples, so a bad clip met in
    every epoch counts once; ``events`` counts every skip.

    Distributed runs have one ledger per rank (counts are per rank).

    The file and reason of the first ``notes`` distinct skips are kept too
    (a worker's exception never reaches the main process), in fixed slots
    of ``note_bytes`` bytes of shared memory.

    Args:
        size (int): Number of samples of the dataset.
        notes (int): Distinct skips whose file and reason are kept.
            Defaults to 1000.
        note_bytes (int): Bytes kept per note (UTF-8, cut). Defaults to
            600.
    """

    _SEP = '\x1f'  # between file and reason in a note

    def __init__(self,
                 size: int,
                 notes: int = 1000,
                 note_bytes: int = 600) -> None:
        self.size = int(size)
        self._flags = mp.Array('b', max(self.size, 1))
        self._counts = mp.Array('q', 2)  # distinct, events
        self._notes = max(1, min(int(notes), max(self.size, 1)))
        self._note_bytes = int(note_bytes)
        self._note_index = mp.Array('q', self._notes, lock=False)
        self._note_text = mp.Array(
            'c', self._notes * self._note_bytes, lock=False)

    def record(self,
               index: int,
               path: Optional[str] = None,
               reason: Optional[str] = None) -> Tuple[int, int]:
        """Mark sample ``index`` skipped.

        Args:
            index (int): The dataset index.
            path (str, optional): The bad file, kept for the first
                skips. Defaults to None.
            reason (str, optional): What was wrong. Defaults to None.

        Returns:
            tuple[int, int]: Distinct samples and events so far.
        """
        with self._flags.get_lock():
            if not self._flags[index]:
                self._flags[index] = 1
                slot = self._counts[0]
                self._counts[0] += 1
                if slot < self._notes:
                    self._write_note(slot, index, path, reason)
            self._counts[1] += 1
            return int(self._counts[0]), int(self._counts[1])

    def _write_note(self, slot: int, index: int, path: Optional[str],
                    reason: Optional[str]) -> None:
        text = f'{path or ""}{self._SEP}{reason or ""}'.encode(
            'utf-8', 'replace')[:self._note_bytes - 1]
        start = slot * self._note_bytes
        self._note_index[slot] = index
        self._note_text[start:start + len(text) + 1] = text + b'\0'

    def notes(self) -> Dict[int, Tuple[str, str]]:
        """File and reason of the first skipped samples.

        Returns:
            dict[int, tuple[str, str]]: Index to ``(file, reason)``.
        """
        out = {}
        with self._flags.get_lock():
            for slot in range(min(int(self._counts[0]), self._notes)):
                start = slot * self._note_bytes
                raw = bytes(self._note_text[start:start +
                                            self._note_bytes]).split(
                                                b'\0', 1)[0]
                path, _, reason = raw.decode('utf-8', 'replace').partition(
                    self._SEP)
                out[int(self._note_index[slot])] = (path, reason)
        return out

    @property
    def distinct(self) -> int:
        """int: Distinct samples skipped."""
        return int(self._counts[0])

    @property
    def events(self) -> int:
        """int: Skips, counting repeats."""
        return int(self._counts[1])

    def indices(self) -> List[int]:
        """list[int]: The skipped sample indices, sorted."""
        with self._flags.get_lock():
            return [i for i in range(self.size) if self._flags[i]]

    def __getstate__(self) -> dict:
        # Shared memory can only travel to a process being started (a
        # spawned DataLoader worker); any other pickle gets a fresh ledger.
        if mp_context.get_spawning_popen() is not None:
            return self.__dict__.copy()
        return dict(
            size=self.size, notes=self._notes, note_bytes=self._note_bytes)

    def __setstate__(self, state: dict) -> None:
        if '_flags' in state:
            self.__dict__.update(state)
        else:
            self.__init__(**state)

    def __deepcopy__(self, memo: dict) -> 'SkipLedger':
        # A copied dataset (mmengine's get_subset) counts on its own.
        return type(self)(
            copy.deepcopy(self.size, memo), self._notes, self._note_bytes)
