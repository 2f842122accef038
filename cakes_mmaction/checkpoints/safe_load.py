"""Checkpoints loaded without running code from them.

torch >= 2.6 loads with ``weights_only=True`` by default, and mmengine
0.10.7 calls ``torch.load`` without the argument, so its checkpoints
(which pickle a few mmengine and NumPy objects) fail to load. Rather than
turning ``weights_only`` off (which would let a checkpoint run code), the
safe unpickler is kept and exactly what mmengine writes is allow-listed.
:func:`safe_torch_load` is the loader of the core (conversion, checkpoint
checks); the harness routes mmengine's own loading through it
(:func:`~cakes_mmaction.harness.compat.install_safe_checkpoint_loading`).
"""
import builtins
import inspect
import os
from typing import Any, Optional

import torch

__all__ = [
    'UnsafeCheckpointError', 'safe_checkpoint_globals', 'safe_torch_load'
]


class UnsafeCheckpointError(RuntimeError):
    """Raised when a checkpoint asks to run code that is not allow-listed."""


# mmengine 0.10.7 checkpoints hold a few non-tensor objects
# (open-mmlab/mmengine#1613); these are the HistoryBuffer statistics.
_HISTORY_BUFFER_STATS = ('min', 'max', 'mean', 'current')


def _restricted_getattr(obj: Any, name: str) -> Any:
    """Stand-in for ``builtins.getattr`` inside checkpoints.

    mmengine pickles ``HistoryBuffer._statistics_methods`` as
    ``getattr(HistoryBuffer, 'min')`` and so on. Only those lookups are
    allowed; anything else in a checkpoint is refused.
    """
    from mmengine.logging import HistoryBuffer
    if obj is HistoryBuffer and name in _HISTORY_BUFFER_STATS:
        return builtins.getattr(obj, name)
    raise UnsafeCheckpointError(
        f'checkpoint asks for getattr({obj!r}, {name!r}), which is not on '
        'the allow-list of cakes_mmaction.checkpoints.safe_load; refusing '
        'to load it.')


def safe_checkpoint_globals() -> list:
    """The globals an mmengine/mmaction checkpoint may reference.

    Returns:
        list: Objects (and ``(object, name)`` pairs) for
        :func:`torch.serialization.add_safe_globals`.
    """
    import numpy as np
    from mmengine.logging import HistoryBuffer
    multiarray = getattr(np, '_core', None) or np.core
    allowed = [
        HistoryBuffer, multiarray.multiarray._reconstruct,
        multiarray.multiarray.scalar, np.ndarray, np.dtype,
        (_restricted_getattr, 'builtins.getattr')
    ]
    allowed += [c for _, c in inspect.getmembers(np.dtypes, inspect.isclass)]
    try:  # ConfigDict appears in checkpoints saved with a config object.
        from mmengine.config import ConfigDict
        allowed.append(ConfigDict)
    except ImportError:  # pragma: no cover
        pass
    return allowed


def _safe_load_from_local(filename: str,
                          map_location: Optional[Any] = None) -> Any:
    """Load a local checkpoint with torch's safe (weights-only) unpickler.

    Args:
        filename (str): Path of the checkpoint.
        map_location (Any, optional): Same as :func:`torch.load`.

    Returns:
        Any: The loaded checkpoint.
    """
    filename = os.path.expanduser(filename)
    if not os.path.isfile(filename):
        raise FileNotFoundError(f'{filename} can not be found.')
    return safe_torch_load(filename, map_location=map_location)


def safe_torch_load(filename: str,
                    map_location: Optional[Any] = None,
                    mmap: bool = False) -> Any:
    """``torch.load`` that never executes code from the file.

    Args:
        filename (str): Path of the checkpoint.
        map_location (Any, optional): Same as :func:`torch.load`.
        mmap (bool): Map the tensors instead of reading them (to look at a
            checkpoint's metadata cheaply). Defaults to False.

    Returns:
        Any: The loaded object.

    Raises:
        UnsafeCheckpointError: The file references code outside the
            allow-list (a malicious or foreign pickle), or is no checkpoint.
    """
    try:
        with torch.serialization.safe_globals(safe_checkpoint_globals()):
            return torch.load(
                filename,
                map_location=map_location,
                weights_only=True,
                **(dict(mmap=True) if mmap else {}))
    except (UnsafeCheckpointError, MemoryError):
        raise
    except Exception as err:
        # On arbitrary bytes the weights-only unpickler fails with
        # UnpicklingError, IndexError, KeyError, ...; torch reports a cut
        # zip archive as OSError(EINVAL). A missing or unreadable path
        # stays the OSError it is.
        if isinstance(err, OSError) and not (
                isinstance(filename, (str, os.PathLike))
                and os.path.isfile(filename)):
            raise
        forbidden = _forbidden_global(err)
        if forbidden:
            # torch's message advises retrying with weights_only=False,
            # which would run the payload: say what the file asks for
            # instead, and leave torch's text out of the chain.
            raise UnsafeCheckpointError(
                f'{filename}: refused: loading it would call {forbidden}, '
                f'which a checkpoint of tensors and mmengine run state never '
                f'needs (a malicious or foreign pickle). Nothing from it '
                f'ran; do not load this file.') from None
        detail = _describe_unloadable(filename) or (
            str(err).splitlines() or [type(err).__name__])[0]
        raise UnsafeCheckpointError(
            f'{filename}: not a checkpoint that can be loaded safely '
            f'(expected a torch/mmengine checkpoint holding tensors and '
            f'mmengine run state only): {detail[:300]}') from err


def _forbidden_global(err: BaseException) -> Optional[str]:
    """The global a weights-only unpickler refused, from torch's message."""
    import re
    text = str(err)
    match = re.search(r'GLOBAL ([\w.]+)', text)
    if match:
        return match.group(1)
    match = re.search(r'WeightsUnpickler error: ([^\n]+)', text)
    if match:
        return f'something outside the allow-list ({match.group(1)[:200]})'
    return None


def _describe_unloadable(filename: Any) -> Optional[str]:
    """Name the common cases of a file torch cannot load."""
    if not isinstance(filename, (str, os.PathLike)):
        return None
    import zipfile
    size = os.path.getsize(filename)
    if size == 0:
        return 'the file is empty (0 bytes)'
    with open(filename, 'rb') as f:
        magic = f.read(2)
    if magic == b'PK' and not zipfile.is_zipfile(filename):
        return (f'the file is truncated ({size} bytes, zip archive without '
                f'its central directory): the save or download was cut '
                f'short')
    return None
