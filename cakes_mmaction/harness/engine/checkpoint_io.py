"""Checkpoint files that are complete or absent, and finding one to resume.

mmengine 0.10.7 writes a checkpoint with ``open(path, 'wb').write(...)``
(``LocalBackend.put``): a crash, a kill or a full disk during the write
leaves a truncated file under the final name, and nothing is synced to disk
before ``last_checkpoint`` is made to point at it. Here:

- :func:`atomic_write_bytes` writes to a temporary file in the same folder,
  ``fsync``\\ s it, renames it over the final name (``os.replace`` is
  atomic on POSIX and Windows) and syncs the folder, so readers see the old
  file or the new one, never a part;
- :class:`AtomicLocalBackend` is mmengine's ``LocalBackend`` with that
  ``put``, registered as the file backend ``'atomic_local'`` (select it
  with ``backend_args=dict(backend='atomic_local')``);
- :func:`verify_checkpoint_file` tells a complete checkpoint from a cut or
  damaged one without unpickling it (zip directory and CRCs);
- :func:`find_resume_checkpoint` picks the newest complete checkpoint of a
  work dir, trusting ``last_checkpoint`` only when it points at a complete
  file of *this* directory (a copied work dir holds absolute paths into
  the original), and ordering files by what they record (save time,
  iteration), never by file times, which a copy resets.
"""
import os
import os.path as osp
import re
import uuid
import zipfile
from typing import List, Optional, Tuple, Union

from mmengine.fileio import LocalBackend, register_backend

__all__ = [
    'CheckpointWriteError', 'atomic_write_bytes', 'atomic_write_text',
    'AtomicLocalBackend', 'verify_checkpoint_file', 'find_resume_checkpoint',
    'checkpoint_step', 'checkpoint_progress', 'remove_stale_temp_files'
]


class CheckpointWriteError(OSError):
    """A checkpoint could not be written; the previous file is intact."""


def _fsync_dir(directory: str) -> None:
    # Makes the rename itself durable; not possible on every platform.
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


_TEMP_NAME = re.compile(r'^\..+\.[0-9a-f]{8}\.tmp$')


def _temp_path(path: str) -> str:
    directory, name = osp.split(osp.abspath(path))
    return osp.join(directory, f'.{name}.{uuid.uuid4().hex[:8]}.tmp')


def remove_stale_temp_files(directory: str) -> List[str]:
    """Delete temporary files left by writes that were killed.

    Call it only when no save is running in ``directory``.

    Args:
        directory (str): A checkpoint folder.

    Returns:
        list[str]: The removed paths.
    """
    removed = []
    if not osp.isdir(directory):
        return removed
    for name in sorted(os.listdir(directory)):
        path = osp.join(directory, name)
        if _TEMP_NAME.match(name) and osp.isfile(path):
            try:
                os.unlink(path)
            except OSError:
                continue
            removed.append(path)
    return removed


def atomic_write_bytes(path: str, data: Union[bytes, memoryview]) -> None:
    """Write ``data`` to ``path`` so that ``path`` is never partial.

    Args:
        path (str): Destination.
        data (bytes): Content.

    Raises:
        CheckpointWriteError: Writing failed (e.g. the disk is full); the
            temporary file is removed and ``path`` is left as it was.
    """
    path = os.fspath(path)
    directory = osp.dirname(osp.abspath(path))
    os.makedirs(directory, exist_ok=True)
    tmp = _temp_path(path)
    try:
        with open(tmp, 'xb') as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as err:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise CheckpointWriteError(
            err.errno, f'could not write {path} ({err.strerror or err}); '
            f'it was not replaced, so the previous file is intact') from err
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _fsync_dir(directory)


def atomic_write_text(path: str, text: str, encoding: str = 'utf-8') -> None:
    """:func:`atomic_write_bytes` for text.

    Args:
        path (str): Destination.
        text (str): Content.
        encoding (str): Defaults to ``'utf-8'``.
    """
    atomic_write_bytes(path, text.encode(encoding))


@register_backend('atomic_local')
class AtomicLocalBackend(LocalBackend):
    """mmengine's local file backend whose writes are atomic.

    Everything else (``get``, ``remove``, ``join_path``, ...) is
    ``LocalBackend``'s.
    """

    def put(self, obj: bytes, filepath: Union[str, os.PathLike]) -> None:
        """Write bytes atomically (temp file, fsync, rename).

        Args:
            obj (bytes): Data.
            filepath (str | PathLike): Destination.
        """
        atomic_write_bytes(os.fspath(filepath), obj)

    def put_text(self,
                 obj: str,
                 filepath: Union[str, os.PathLike],
                 encoding: str = 'utf-8') -> None:
        """Write text atomically.

        Args:
            obj (str): Text.
            filepath (str | PathLike): Destination.
            encoding (str): Defaults to ``'utf-8'``.
        """
        atomic_write_text(os.fspath(filepath), obj, encoding)


def verify_checkpoint_file(path: str) -> Optional[str]:
    """Check that a file is a complete torch checkpoint, without loading it.

    torch saves a zip archive: a file cut short has no central directory,
    and damaged bytes fail the per-record CRC. Legacy (non-zip) files are
    loaded with the safe loader instead.

    Args:
        path (str): The file.

    Returns:
        str | None: Why it is not a usable checkpoint, or None.
    """
    if not osp.isfile(path):
        return 'file not found'
    size = osp.getsize(path)
    if size == 0:
        return 'empty file (0 bytes)'
    if not zipfile.is_zipfile(path):
        with open(path, 'rb') as f:
            head = f.read(4)
        if head[:2] == b'PK':
            return (f'truncated: zip archive without its central directory '
                    f'({size} bytes); the write was cut short')
        from ...checkpoints.safe_load import safe_torch_load
        try:
            safe_torch_load(path, map_location='cpu')
        except Exception as err:
            return str(err).split(': ', 1)[-1][:300]
        return None
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            if not any(
                    n.endswith('/data.pkl') or n == 'data.pkl' for n in names):
                return 'zip archive without data.pkl: not a torch checkpoint'
            bad = archive.testzip()
    except (zipfile.BadZipFile, OSError, EOFError) as err:
        return f'damaged zip archive: {err}'
    if bad is not None:
        return f'damaged: CRC mismatch in record {bad!r}'
    return None


def checkpoint_step(path: str, filename_tmpl: str) -> Optional[int]:
    """The epoch or iteration in a checkpoint's name.

    Args:
        path (str): Checkpoint path.
        filename_tmpl (str): E.g. ``'epoch_{}.pth'``.

    Returns:
        int | None: The number, or None if the name does not match.
    """
    parts = re.split(r'\{[^}]*\}', filename_tmpl)
    if len(parts) != 2:
        return None
    pattern = re.escape(parts[0]) + r'(\d+)' + re.escape(parts[1])
    match = re.fullmatch(pattern, osp.basename(path))
    return int(match.group(1)) if match else None


def _pointer_target(work_dir: str, ckpt_dir: str,
                    notes: List[str]) -> Optional[str]:
    pointer = osp.join(work_dir, 'last_checkpoint')
    if not osp.isfile(pointer):
        return None
    with open(pointer, encoding='utf-8', errors='replace') as f:
        target = f.read().strip()
    if not target:
        notes.append(f'{pointer} is empty (a write was interrupted); '
                     'looking for checkpoints in the folder instead')
        return None
    if not osp.isabs(target):
        return osp.join(ckpt_dir, target)
    if osp.dirname(osp.abspath(target)) == osp.abspath(ckpt_dir):
        return target
    local = osp.join(ckpt_dir, osp.basename(target))
    if osp.exists(local):
        notes.append(f'{pointer} points into another directory ({target}), '
                     f'so this work dir was copied or moved; using {local}')
        return local
    notes.append(f'{pointer} points into another directory ({target}) and '
                 f'{local} does not exist; looking for checkpoints here '
                 'instead (the other directory is never touched)')
    return None


def checkpoint_progress(path: str) -> Tuple[float, int, int]:
    """When a checkpoint was saved and how far its run was, from its content.

    File times are not evidence: ``cp -r``, ``rsync`` without ``-t`` or a
    restore from backup gives every file a new modification time, in any
    order. The save time recorded inside the checkpoint
    (``meta.saved_at``, written by
    :class:`~cakes_mmaction.harness.engine.hooks.AtomicCheckpointHook`) and the
    iteration and epoch (mmengine's ``meta.iter`` / ``meta.epoch``) travel
    with the file. Tensors are memory-mapped, not read.

    Args:
        path (str): A complete checkpoint.

    Returns:
        tuple[float, int, int]: ``(saved_at, iter, epoch)``; ``saved_at``
        is ``-inf`` when the file does not record it, and ``-1`` stands for
        an unknown iteration or epoch.
    """
    from ...checkpoints.safe_load import safe_torch_load
    try:
        checkpoint = safe_torch_load(path, map_location='cpu', mmap=True)
    except Exception:  # noqa: BLE001 - unreadable: ordered last
        return float('-inf'), -1, -1
    meta = checkpoint.get('meta') if isinstance(checkpoint, dict) else None
    meta = meta if isinstance(meta, dict) else {}

    def number(key: str, default):
        value = meta.get(key)
        return value if isinstance(value, (int, float)) and not isinstance(
            value, bool) else default

    return (float(number('saved_at', float('-inf'))), int(number('iter', -1)),
            int(number('epoch', -1)))


def find_resume_checkpoint(
        work_dir: str,
        ckpt_dir: Optional[str] = None,
        filename_tmpl: str = 'epoch_{}.pth') -> Tuple[Optional[str], list]:
    """The newest complete checkpoint to resume from.

    ``last_checkpoint`` is the authority when it points at a complete file
    (re-anchored in this directory when it points elsewhere). A checkpoint
    saved after that file and further along (a kill between the rename and
    the pointer update) is preferred; "after" and "further" come from the
    checkpoints' contents (:func:`checkpoint_progress`), never from file
    times, which a copy of the work dir resets in any order. When the
    pointer is missing, empty, dangling or its file is incomplete, the
    files named by ``filename_tmpl`` are tried, the one saved last first
    (by recorded save time, then iteration), so stale checkpoints of an
    earlier run in the same folder (saved earlier) do not win. Every
    rejected file is reported; ``best_*`` files are never candidates (they
    lack optimizer state).

    Args:
        work_dir (str): The run's work dir (holds ``last_checkpoint``).
        ckpt_dir (str, optional): Where checkpoints are. Defaults to
            ``work_dir``.
        filename_tmpl (str): The CheckpointHook's template. Defaults to
            ``'epoch_{}.pth'``.

    Returns:
        tuple[str | None, list[str]]: The path (None when there is none)
        and notes to log (rejected files, re-anchored paths).
    """
    ckpt_dir = ckpt_dir or work_dir
    notes: List[str] = []
    pointed = _pointer_target(work_dir, ckpt_dir, notes)
    files = []
    if osp.isdir(ckpt_dir):
        files = [
            osp.join(ckpt_dir, n) for n in os.listdir(ckpt_dir)
            if checkpoint_step(n, filename_tmpl) is not None
        ]
    complete = {}

    def verified(path: str) -> bool:
        if path not in complete:
            reason = verify_checkpoint_file(path)
            complete[path] = reason is None
            if reason is not None:
                notes.append(f'skipping {path}: {reason}')
        return complete[path]

    progress = {}

    def recorded(path: str) -> Tuple[float, int, int]:
        if path not in progress:
            progress[path] = checkpoint_progress(path)
        return progress[path]

    def saved_last_first(paths) -> List[str]:
        return sorted(
            paths,
            key=lambda p: (recorded(p), checkpoint_step(
                osp.basename(p), filename_tmpl) or -1, p),
            reverse=True)

    if pointed is not None:
        reason = verify_checkpoint_file(pointed)
        complete[pointed] = reason is None
        if reason is None:
            # Recorded progress first: it only maps the file, while the
            # completeness check reads all of it.
            later = [
                p for p in files if p != pointed
                and _saved_after(recorded(p), recorded(pointed))
                and verified(p)
            ]
            for path in saved_last_first(later):
                notes.append(f'using {path}: complete, saved after the '
                             f'last_checkpoint target {pointed} and further '
                             'along (recorded in both files)')
                return path, notes
            return pointed, notes
        notes.append(f'skipping {pointed} (the last_checkpoint target): '
                     f'{reason}')
    candidates = [p for p in files if p != pointed]
    for path in saved_last_first(candidates):
        if verified(path):
            return path, notes
    return None, notes


def _saved_after(theirs: Tuple[float, int, int],
                 ours: Tuple[float, int, int]) -> bool:
    """Whether a checkpoint was saved after another and is further along.

    Both must record their save time; a file without one never overrides
    ``last_checkpoint``.
    """
    if theirs[0] == float('-inf') or ours[0] == float('-inf'):
        return False
    return theirs[0] > ours[0] and theirs[1:] > ours[1:]
