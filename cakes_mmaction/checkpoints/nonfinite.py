"""NaN and infinity never pass silently: losses, weights, outputs.

A loss that turns NaN makes the optimizer write NaN into every weight it
touches; mmengine logs ``loss: nan`` and trains on, saving NaN checkpoints
over good ones, and a NaN checkpoint tests as if it were a model (NaN
scores compare false, so ``argmax`` picks class 0 and can even score
100%). The checks here name what is non-finite and where:

- :func:`nonfinite_tensors` / :func:`check_finite_weights`: the weights of
  a checkpoint or model;
- :func:`nonfinite_outputs`: class scores of a test or demo batch;
- :class:`~cakes_mmaction.harness.engine.hooks.NonFiniteGuardHook` uses them
  during training, validation and testing.
"""
from typing import Any, Iterable, List, Mapping, Tuple

import torch

__all__ = [
    'NonFiniteError', 'NonFiniteLossError', 'nonfinite_tensors',
    'describe_nonfinite', 'check_finite_weights', 'nonfinite_outputs'
]


class NonFiniteError(FloatingPointError):
    """Weights or outputs that hold NaN or infinity."""


class NonFiniteLossError(NonFiniteError):
    """Training produced non-finite losses more often than allowed."""


def nonfinite_tensors(
        named: Iterable[Tuple[str, Any]]) -> List[Tuple[str, int, int]]:
    """Floating tensors that hold NaN or infinity.

    Args:
        named (Iterable[tuple[str, Any]]): ``(name, value)`` pairs, e.g.
            ``state_dict.items()``; values that are not floating tensors
            are ignored.

    Returns:
        list[tuple[str, int, int]]: ``(name, non-finite values, values)``
        per bad tensor, in the given order.
    """
    bad = []
    for name, value in named:
        if not isinstance(value, torch.Tensor) or not (
                value.is_floating_point() or value.is_complex()):
            continue
        finite = torch.isfinite(value.detach())
        if not bool(finite.all()):
            bad.append((name, int((~finite).sum()), int(value.numel())))
    return bad


def describe_nonfinite(bad: List[Tuple[str, int, int]], total: int) -> str:
    """One phrase for :func:`nonfinite_tensors`' result.

    Args:
        bad (list): Its result (not empty).
        total (int): Tensors checked.

    Returns:
        str: E.g. ``"3 of 62 weight tensors hold NaN or infinite values
        (e.g. 'fc.weight': 12 of 128 values)"``.
    """
    shown = ', '.join(f'{name!r}: {n} of {size} values'
                      for name, n, size in bad[:3])
    more = ' ...' if len(bad) > 3 else ''
    return (f'{len(bad)} of {total} weight tensors hold NaN or infinite '
            f'values (e.g. {shown}{more})')


def check_finite_weights(state: Mapping[str, Any], source: str) -> None:
    """Raise when a state dict holds NaN or infinity.

    Args:
        state (Mapping[str, Any]): Key to tensor.
        source (str): The file (or model) for the message.

    Raises:
        NonFiniteError: Naming the file and the first bad tensors.
    """
    bad = nonfinite_tensors(state.items())
    if bad:
        total = sum(1 for v in state.values() if isinstance(v, torch.Tensor))
        raise NonFiniteError(
            f'{source}: {describe_nonfinite(bad, total)}; the run that saved '
            f'it diverged. Use an earlier checkpoint (or lower the learning '
            f'rate / clip gradients and retrain).')


def _scores(output: Any) -> List[Tuple[str, torch.Tensor]]:
    """The score tensors of one test output (ActionDataSample, dict...)."""
    if isinstance(output, torch.Tensor):
        return [('output', output)]
    found = []
    for key in ('pred_score', 'pred_scores', 'scores', 'cls_score'):
        value = getattr(output, key, None)
        if value is None and isinstance(output, Mapping):
            value = output.get(key)
        if isinstance(value, torch.Tensor):
            found.append((key, value))
    return found


def nonfinite_outputs(outputs: Any) -> List[Tuple[int, str, Any]]:
    """Outputs of a batch whose scores hold NaN or infinity.

    Args:
        outputs (Any): What ``test_step``/``val_step`` returned: a list of
            data samples (``pred_score``), dicts or tensors.

    Returns:
        list[tuple[int, str, Any]]: ``(position in the batch, score key,
        metainfo or None)`` per bad sample.
    """
    if isinstance(outputs, torch.Tensor):
        outputs = list(outputs)
    bad = []
    for i, output in enumerate(outputs or []):
        for key, value in _scores(output):
            if not bool(torch.isfinite(value.detach()).all()):
                bad.append((i, key, getattr(output, 'metainfo', None)))
                break
    return bad
