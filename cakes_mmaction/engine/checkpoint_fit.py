"""Does a checkpoint belong to this model? One clear answer before loading.

mmengine loads ``load_from`` with ``strict=False``: a checkpoint of another
architecture only produces a log of missing and unexpected keys, and
training then starts from random weights. :func:`check_checkpoint_fits`
compares keys and shapes first and raises one
:class:`CheckpointMismatchError` naming the file, what the model expects
and what the file holds.

CAKES branch weights (``...conv.branches.<shape>.weight``) are left to
:class:`~cakes_mmaction.layers.CAKESConv3d`, which reports a checkpoint of
another channel assignment with both count tables.
"""
import re
from typing import Any, Dict, List, Mapping

__all__ = [
    'CheckpointMismatchError', 'checkpoint_state_dict', 'check_checkpoint_fits'
]

_BRANCH = '.branches.'


class CheckpointMismatchError(ValueError):
    """A checkpoint whose weights do not belong to the model."""


def checkpoint_state_dict(checkpoint: Any) -> Mapping[str, Any]:
    """The weights of a loaded checkpoint, ``module.`` prefixes removed.

    Args:
        checkpoint (Any): What the safe loader returned.

    Returns:
        Mapping[str, Any]: Key to tensor.
    """
    if isinstance(checkpoint, Mapping) and 'state_dict' in checkpoint:
        checkpoint = checkpoint['state_dict']
    if not isinstance(checkpoint, Mapping):
        raise CheckpointMismatchError(
            f'expected a dict of weights, found {type(checkpoint).__name__}')
    return {
        re.sub(r'^module\.', '', k): v
        for k, v in checkpoint.items() if hasattr(v, 'shape')
    }


def _sample(keys: List[str], n: int = 4) -> str:
    shown = ', '.join(repr(k) for k in keys[:n])
    return shown + (f' ... ({len(keys)} in all)' if len(keys) > n else '')


def check_checkpoint_fits(model_state: Mapping[str, Any],
                          checkpoint: Any,
                          source: str,
                          strict: bool = False,
                          min_fraction: float = 0.5) -> Dict[str, list]:
    """Raise when a checkpoint is for another model.

    Args:
        model_state (Mapping[str, Any]): ``model.state_dict()``.
        checkpoint (Any): The loaded checkpoint (or its state dict).
        source (str): The file, for the message.
        strict (bool): Every key must be present with its shape (resuming
            a run). Defaults to False (``load_from``: a new head is fine).
        min_fraction (float): Without ``strict``, the least fraction of the
            model's parameters (by count of values) the checkpoint must
            provide with the right shapes. Defaults to 0.5.

    Returns:
        dict[str, list]: ``missing``, ``unexpected`` and ``mismatched``
        keys (CAKES branch keys excluded), for logging.

    Raises:
        CheckpointMismatchError: The checkpoint does not fit.
    """
    try:
        theirs = checkpoint_state_dict(checkpoint)
    except CheckpointMismatchError as err:
        raise CheckpointMismatchError(f'{source}: {err}') from None
    ours = {k: v for k, v in model_state.items() if _BRANCH not in k}
    other = {k: v for k, v in theirs.items() if _BRANCH not in k}
    missing = [k for k in ours if k not in other]
    unexpected = [k for k in other if k not in ours]
    mismatched = [
        k for k in ours
        if k in other and tuple(ours[k].shape) != tuple(other[k].shape)
    ]
    found = dict(missing=missing, unexpected=unexpected, mismatched=mismatched)
    total = sum(int(v.numel()) for v in ours.values()) or 1
    matched = sum(
        int(v.numel()) for k, v in ours.items()
        if k in other and k not in mismatched)
    details = []
    if mismatched:
        k = mismatched[0]
        details.append(f'{len(mismatched)} shape mismatch(es), e.g. {k!r}: '
                       f'model {tuple(ours[k].shape)}, checkpoint '
                       f'{tuple(other[k].shape)}')
    if missing:
        details.append(f'missing {_sample(missing)}')
    if unexpected:
        details.append(f'unexpected {_sample(unexpected)}')
    if strict and details:
        raise CheckpointMismatchError(
            f'{source}: this checkpoint was saved by another model and '
            f'cannot be resumed: ' + '; '.join(details))
    if not strict and matched / total < min_fraction:
        raise CheckpointMismatchError(
            f'{source}: not a checkpoint of this model: it provides '
            f'{100 * matched / total:.0f}% of the model\'s weights '
            f'(at least {100 * min_fraction:.0f}% expected). The model '
            f'expects keys like {_sample(list(ours), 3)}; the file holds '
            f'{_sample(list(theirs), 3)}. ' + '; '.join(details))
    return found
