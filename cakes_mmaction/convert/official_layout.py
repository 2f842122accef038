"""The official CAKES checkpoint layout, read and mapped to our keys.

Sorts the keys of an official state dict (see
:mod:`~cakes_mmaction.convert.official` for the layout) into plain tensors
with their ``ResNet3dCAKES`` key, CAKES branches by layer and index, and
leftovers; reads the channel assignment off the branch tensors; and names
each branch by the assignment's shape
(:func:`~cakes_mmaction.layer_keys.branch_key`).
"""
import re
from collections import OrderedDict
from typing import Any, Dict, List, Mapping, Optional, Tuple

import torch

from ..assignment import Assignment, list_presets
from ..layer_keys import BACKBONE_PREFIX, branch_key
from ..shapes import KernelShape, canonical_order
from .report import ConversionError, raise_problems

__all__ = [
    'strip_prefix', 'as_3d', 'branch_shape', 'parse_official',
    'infer_assignment', 'matching_preset', 'place_branches'
]

_BN = r'(weight|bias|running_mean|running_var|num_batches_tracked)'
_BLOCK = r'(layer\d+\.\d+)'
#: Official backbone key (after ``base_model.``) -> our backbone key.
_RULES = [
    (re.compile(r'^conv1\.weight$'), r'conv1.conv.weight'),
    (re.compile(rf'^bn1\.{_BN}$'), r'conv1.bn.\1'),
    (re.compile(rf'^{_BLOCK}\.conv([13])\.weight$'), r'\1.conv\2.conv.weight'),
    (re.compile(rf'^{_BLOCK}\.bn([13])\.{_BN}$'), r'\1.conv\2.bn.\3'),
    (re.compile(rf'^{_BLOCK}\.downsample\.0\.weight$'),
     r'\1.downsample.conv.weight'),
    (re.compile(rf'^{_BLOCK}\.downsample\.1\.{_BN}$'), r'\1.downsample.bn.\2'),
    (re.compile(rf'^{_BLOCK}\.convT\.out\.0\.{_BN}$'), r'\1.conv2.bn.\2'),
]
_BRANCH = re.compile(rf'^{_BLOCK}\.convT\.convs\.(\d+)\.0\.weight$')
_CLASSIFIER = re.compile(r'^new_fc\.(weight|bias)$')


def strip_prefix(state_dict: Mapping[str, Any]) -> Dict[str, Any]:
    """Drop the ``module.`` of a DataParallel model, when every key has it."""
    keys = list(state_dict)
    if keys and all(k.startswith('module.') for k in keys):
        return OrderedDict((k[len('module.'):], v)
                           for k, v in state_dict.items())
    return OrderedDict(state_dict)


def as_3d(weight: torch.Tensor) -> torch.Tensor:
    """A 2D conv weight over frames is a 3D conv with temporal extent 1."""
    return weight.unsqueeze(2) if weight.dim() == 4 else weight


def branch_shape(key: str, weight: torch.Tensor) -> KernelShape:
    weight = as_3d(weight)
    if weight.dim() != 5:
        raise ConversionError(
            f'{key}: a CAKES branch weight must be (C_out, C_in, T, H, W), '
            f'got shape {tuple(weight.shape)}')
    try:
        return KernelShape(*(int(d) for d in weight.shape[2:]))
    except ValueError as err:
        raise ConversionError(f'{key}: {err}') from None


def parse_official(sd: Mapping[str, Any]):
    """Sort official keys into plain tensors, CAKES branches and leftovers."""
    plain: List[Tuple[str, str, torch.Tensor]] = []
    branches: Dict[str, Dict[int, Tuple[str, torch.Tensor]]] = OrderedDict()
    leftover: List[str] = []
    for key, value in sd.items():
        if not isinstance(value, torch.Tensor):
            leftover.append(f'{key}: not a tensor ({type(value).__name__})')
            continue
        head = _CLASSIFIER.match(key)
        if head:
            plain.append((key, f'cls_head.fc_cls.{head.group(1)}', value))
            continue
        if not key.startswith('base_model.'):
            leftover.append(f'{key} {tuple(value.shape)}: not part of the '
                            'official layout (base_model.* or new_fc.*)')
            continue
        sub = key[len('base_model.'):]
        match = _BRANCH.match(sub)
        if match:
            path = f'{match.group(1)}.conv2'
            branches.setdefault(path, {})[int(match.group(2))] = (key, value)
            continue
        for pattern, target in _RULES:
            if pattern.match(sub):
                plain.append(
                    (key, BACKBONE_PREFIX + pattern.sub(target, sub), value))
                break
        else:
            leftover.append(f'{key} {tuple(value.shape)}: no place for it '
                            'in ResNet3dCAKES')
    return plain, branches, leftover


def infer_assignment(branches: Mapping[str, Mapping[int, Tuple[str, Any]]]
                     ) -> Assignment:
    """Read the counts off the official branch tensors.

    Each branch weight carries its kernel shape (dims 2-4) and its count
    (dim 0), so the counts need no outside knowledge.

    Args:
        branches (Mapping): ``{layer path: {index: (key, weight)}}``.

    Returns:
        Assignment: The counts per layer.
    """
    layers = OrderedDict()
    problems = []
    for path, by_index in branches.items():
        shapes = [branch_shape(k, w) for _, (k, w) in sorted(
            by_index.items())]
        if len(set(shapes)) != len(shapes) or shapes != canonical_order(
                shapes):
            problems.append(
                f'{path}: branches {[s.name for s in shapes]} are not '
                f'distinct shapes in the official order '
                f'(3x3x3, 1x3x3, 3x1x1)')
            continue
        layers[path] = {
            s.name: int(by_index[i][1].shape[0])
            for i, s in zip(sorted(by_index), shapes)
        }
    raise_problems(problems, 'cannot infer the channel assignment')
    return Assignment(layers, dict(source='official checkpoint'),
                      'inferred from the official checkpoint')


def matching_preset(assignment: Assignment) -> Optional[str]:
    """The shipped preset with the same non-zero counts, if any."""
    ours = {p: assignment.nonzero(p) for p in assignment}
    for name in list_presets():
        preset = Assignment.preset(name)
        if {p: preset.nonzero(p) for p in preset} == ours:
            return name
    return None


def place_branches(branches, assignment: Assignment) -> Tuple[list, list]:
    """Name each official branch by the assignment's i-th non-zero shape."""
    placed, problems = [], []
    absent = [p for p in assignment if p not in branches]
    extra = [p for p in branches if p not in assignment]
    if absent or extra:  # another network: per-layer lines would be noise
        problems.append(
            f'the assignment ({assignment.source}) is for another network: '
            f'CAKES layers only in the assignment: {absent or "none"}; only '
            f'in the checkpoint: {extra or "none"}')
        return placed, problems
    for path in assignment:
        official = path[:-len('.conv2')] + '.convT'
        expected = list(assignment.nonzero(path).items())  # canonical order
        found = branches.get(path, {})
        if sorted(found) != list(range(len(expected))):
            problems.append(
                f'{path}: the assignment ({assignment.source}) has '
                f'{len(expected)} non-zero branches {dict(expected)}, the '
                f'checkpoint has {official}.convs.{sorted(found)}')
            continue
        for index, (shape, count) in enumerate(expected):
            key, weight = found[index]
            got = branch_shape(key, weight)
            if got.name != shape or int(weight.shape[0]) != count:
                problems.append(
                    f'{key}: kernel {got.name} with {int(weight.shape[0])} '
                    f'channels, but the assignment ({assignment.source}) '
                    f'expects branch {index} of {path} to be {shape} with '
                    f'{count} (non-zero branches in order: {dict(expected)})'
                )
                continue
            placed.append((key, branch_key(path, shape), weight))
    return placed, problems
