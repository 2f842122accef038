"""Does a checkpoint belong to this model? One clear answer before loading.

mmengine loads ``load_from`` with ``strict=False``: a checkpoint of another
architecture only produces a log of missing and unexpected keys, and
training then starts from random weights. :func:`check_checkpoint_fits`
compares keys and shapes first and raises one
:class:`CheckpointMismatchError` naming the file, what the model expects
and what the file holds.

CAKES branch weights (``...conv.branches.<shape>.weight``) are compared
per layer: other channel widths mean another *architecture* (say an R50
checkpoint and a smaller network), equal widths split differently mean
another channel assignment, which
:class:`~cakes_mmaction.layers.CAKESConv3d` reports with both count
tables. Weights holding NaN or infinity are refused, and where a model is
used as trained (test, demo, export) a classifier with another class count
is refused with both counts, before any data is decoded
(:func:`load_checked_checkpoint`).
"""
import re
from collections import OrderedDict
from typing import Any, Dict, List, Mapping, Optional, Tuple

from ..layer_keys import is_branch_param, parse_branch_key
from .nonfinite import check_finite_weights

__all__ = [
    'CheckpointMismatchError', 'checkpoint_state_dict',
    'check_checkpoint_fits', 'head_classes', 'load_checked_checkpoint'
]


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


def head_classes(state: Mapping[str, Any]) -> Optional[Tuple[str, int]]:
    """The classifier's weight key and class count in a state dict.

    Args:
        state (Mapping[str, Any]): Key to tensor (``cls_head.*``).

    Returns:
        tuple[str, int] | None: ``('cls_head.fc_cls.weight', classes)``,
        or None without a 2D ``cls_head`` weight.
    """
    for key, value in state.items():
        if (key.startswith('cls_head.') and key.endswith('.weight')
                and len(getattr(value, 'shape', ())) == 2):
            return key, int(value.shape[0])
    return None


def _cakes_layers(state: Mapping[str, Any]) -> Dict[str, Dict[str, tuple]]:
    """CAKES site (with the state dict's prefix) -> {shape: (out, in)}."""
    layers: Dict[str, Dict[str, tuple]] = OrderedDict()
    for key, value in state.items():
        parsed = parse_branch_key(key, prefix='')
        if parsed and len(getattr(value, 'shape', ())) >= 2:
            site, shape = parsed
            layers.setdefault(site, {})[shape] = (int(value.shape[0]),
                                                  int(value.shape[1]))
    return layers


def _architecture_problem(ours: Mapping[str, Any],
                          theirs: Mapping[str, Any]) -> Optional[str]:
    """How the CAKES layers of two state dicts differ in width, if they do.

    Equal widths with another split of the channels over kernel shapes are
    not an architecture difference (another assignment): None then.
    """
    mine, other = _cakes_layers(ours), _cakes_layers(theirs)
    if not mine or not other:
        return None
    for layer, branches in mine.items():
        if layer not in other:
            continue
        width = (sum(o for o, _ in branches.values()),
                 {i for _, i in branches.values()})
        their = other[layer]
        their_width = (sum(o for o, _ in their.values()),
                       {i for _, i in their.values()})
        if width != their_width:
            return (f'layer {layer!r} has {their_width[0]} '
                    f'output channels from {sorted(their_width[1])} inputs '
                    f'in the checkpoint but {width[0]} from '
                    f'{sorted(width[1])} in the model')
    missing = [k for k in mine if k not in other]
    if missing:
        return (f'{len(missing)} CAKES layer(s) of the model are not in the '
                f'checkpoint, e.g. {missing[0]!r}')
    extra = [k for k in other if k not in mine]
    if extra:
        return (f'the checkpoint has {len(extra)} CAKES layer(s) the model '
                f'lacks, e.g. {extra[0]!r}')
    return None


def check_checkpoint_fits(model_state: Mapping[str, Any],
                          checkpoint: Any,
                          source: str,
                          strict: bool = False,
                          min_fraction: float = 0.5,
                          config: Optional[str] = None,
                          same_classes: bool = False,
                          check_finite: bool = True) -> Dict[str, list]:
    """Raise when a checkpoint is for another model.

    Args:
        model_state (Mapping[str, Any]): ``model.state_dict()``.
        checkpoint (Any): The loaded checkpoint (or its state dict).
        source (str): The file, for the message.
        strict (bool): Every key must be present with its shape (resuming
            a run, testing). Defaults to False (``load_from``: a new head
            is fine).
        min_fraction (float): Without ``strict``, the least fraction of the
            model's parameters (by count of values) the checkpoint must
            provide with the right shapes. Defaults to 0.5.
        config (str, optional): The config the model was built from, for
            the messages. Defaults to None.
        same_classes (bool): The classifier must have the model's class
            count (the model is used as trained: test, demo, export).
            Defaults to False.
        check_finite (bool): Refuse weights holding NaN or infinity.
            Defaults to True.

    Returns:
        dict[str, list]: ``missing``, ``unexpected`` and ``mismatched``
        keys (CAKES branch keys excluded), for logging.

    Raises:
        CheckpointMismatchError: The checkpoint does not fit.
        NonFiniteError: It holds NaN or infinite weights.
    """
    try:
        theirs = checkpoint_state_dict(checkpoint)
    except CheckpointMismatchError as err:
        raise CheckpointMismatchError(f'{source}: {err}') from None
    for_config = f' (config {config})' if config else ''
    head = head_classes(model_state)
    their_head = head_classes(theirs)
    if (same_classes and head and their_head and head[1] != their_head[1]):
        raise CheckpointMismatchError(
            f'{source}: the checkpoint\'s classifier has {their_head[1]} '
            f'classes but the model of {config or "the config"} has '
            f'{head[1]} (model.cls_head.num_classes). Use the config the '
            f'checkpoint was trained with, or set '
            f'model.cls_head.num_classes={their_head[1]} (e.g. --cfg-options '
            f'model.cls_head.num_classes={their_head[1]}).')
    architecture = _architecture_problem(model_state, theirs)
    if architecture:
        raise CheckpointMismatchError(
            f'{source}: the checkpoint is of another architecture than the '
            f'model{for_config}: {architecture}. Use the config the '
            f'checkpoint was trained with.')
    ours = {k: v for k, v in model_state.items() if not is_branch_param(k)}
    other = {k: v for k, v in theirs.items() if not is_branch_param(k)}
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
            f'{source}: this checkpoint was saved by another model than '
            f'the one built{for_config} and cannot be resumed or tested with '
            f'it: ' + '; '.join(details))
    if not strict and matched / total < min_fraction:
        raise CheckpointMismatchError(
            f'{source}: not a checkpoint of this model{for_config}: it '
            f'provides {100 * matched / total:.0f}% of the model\'s weights '
            f'(at least {100 * min_fraction:.0f}% expected). The model '
            f'expects keys like {_sample(list(ours), 3)}; the file holds '
            f'{_sample(list(theirs), 3)}. ' + '; '.join(details))
    if check_finite:
        check_finite_weights(theirs, source)
    return found


def load_checked_checkpoint(model: Any,
                            checkpoint: str,
                            config: Optional[str] = None) -> dict:
    """Load a checkpoint into a model used as trained, or say why not.

    For the demo, ONNX export and other inference: the file is read with
    the safe loader and must provide every weight with its shape, the
    model's architecture and channel assignment, the model's class count
    and finite values (:func:`check_checkpoint_fits` with ``strict`` and
    ``same_classes``); then mmengine copies the weights strictly. One
    message names the file, the config and what differs, before any data
    is decoded.

    Args:
        model (nn.Module): The built model.
        checkpoint (str): The checkpoint file.
        config (str, optional): The config the model was built from, for
            the messages. Defaults to None.

    Returns:
        dict: The loaded checkpoint (``meta`` and all).

    Raises:
        CheckpointMismatchError: It does not fit the model.
        NonFiniteError: It holds NaN or infinite weights.
        UnsafeCheckpointError: It is no checkpoint or would run code.
    """
    from mmengine.runner.checkpoint import load_state_dict

    from .._compat import safe_torch_load
    loaded = safe_torch_load(checkpoint, map_location='cpu')
    check_checkpoint_fits(
        model.state_dict(),
        loaded,
        checkpoint,
        strict=True,
        config=config,
        same_classes=True)
    load_state_dict(
        model, dict(checkpoint_state_dict(loaded)), strict=True,
        logger='silent')
    return loaded
