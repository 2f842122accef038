"""A skip counter shared by a dataset's DataLoader worker processes."""
import copy
import multiprocessing as mp
from multiprocessing import context as mp_context
from typing import List, Tuple

__all__ = ['SkipLedger']


class SkipLedger:
    """Which samples of one dataset were skipped, across worker processes.

    DataLoader workers each hold a copy of the dataset, so a plain counter
    would count per worker. The flags live in shared memory created in the
    main process, which forked (or spawned) workers inherit. One flag per
    sample: the limit is on *distinct* bad samples, so a bad clip met in
    every epoch counts once; ``events`` counts every skip.

    Distributed runs have one ledger per rank (counts are per rank).

    Args:
        size (int): Number of samples of the dataset.
    """

    def __init__(self, size: int) -> None:
        self.size = int(size)
        self._flags = mp.Array('b', max(self.size, 1))
        self._counts = mp.Array('q', 2)  # distinct, events

    def record(self, index: int) -> Tuple[int, int]:
        """Mark sample ``index`` skipped.

        Args:
            index (int): The dataset index.

        Returns:
            tuple[int, int]: Distinct samples and events so far.
        """
        with self._flags.get_lock():
            if not self._flags[index]:
                self._flags[index] = 1
                self._counts[0] += 1
            self._counts[1] += 1
            return int(self._counts[0]), int(self._counts[1])

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
        return dict(size=self.size)

    def __setstate__(self, state: dict) -> None:
        if '_flags' in state:
            self.__dict__.update(state)
        else:
            self.__init__(state['size'])

    def __deepcopy__(self, memo: dict) -> 'SkipLedger':
        # A copied dataset (mmengine's get_subset) counts on its own.
        return type(self)(copy.deepcopy(self.size, memo))
