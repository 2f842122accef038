"""Views through which CheckpointHook's own code writes and deletes safely.

mmengine's ``CheckpointHook`` writes ``last_checkpoint`` with a plain
``open`` in the work dir and deletes old checkpoints before it writes the
new one. :class:`~.atomic_checkpoint_hook.AtomicCheckpointHook` hands
that code these stand-ins for the runner and the file backend, so the
pointer lands in a scratch folder (the hook then publishes it atomically)
and the deletions wait until the new file is complete.
"""
from typing import Any, List, Tuple

__all__ = ['RunnerWithWorkDir', 'DeferredRemovals']


class RunnerWithWorkDir:
    """The runner, seen with another ``work_dir``.

    ``CheckpointHook._save_checkpoint_with_step`` ends with a plain
    ``open(work_dir/last_checkpoint, 'w')``; handing it this view makes
    that write land in a scratch folder, and the hook then publishes the
    pointer atomically itself. Every other attribute is the runner's.
    """

    def __init__(self, runner: Any, work_dir: str) -> None:
        self._runner = runner
        self.work_dir = work_dir

    def __getattr__(self, name: str) -> Any:
        return getattr(self._runner, name)


class DeferredRemovals:
    """A file backend whose ``remove``/``rmtree`` wait in a queue.

    CheckpointHook deletes the checkpoint that ``max_keep_ckpts`` drops,
    and the previous best one, *before* writing the new file; if the write
    then fails (full disk, crash), no complete checkpoint is left. Under
    this view the deletions run only after the new file is complete.
    """

    def __init__(self, backend: Any, queue: List[Tuple[str, str]]) -> None:
        self._backend = backend
        self._queue = queue

    def remove(self, filepath: str) -> None:
        self._queue.append(('remove', filepath))

    def rmtree(self, dir_path: str) -> None:
        self._queue.append(('rmtree', dir_path))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._backend, name)
