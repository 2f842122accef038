"""Check assignments before they are plotted or tabulated.

A plot reads assignment files as every other reader does: each is checked
against the network it records (``meta['config']``, the config it was
exported from or written for), or, when it records none that can be
found, structurally (ResNet layer paths, no gaps in a stage, one width per
stage, stage widths doubling). Assignments of different networks are not
mixed unless asked for. Layers are ordered as the network orders them.
"""
import os.path as osp
import re
from collections import OrderedDict
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

from ..assignment import Assignment, AssignmentError

__all__ = [
    'CheckedAssignment', 'check_assignment', 'recorded_config',
    'network_widths', 'structural_problems', 'layer_order_key',
    'check_same_network'
]

_REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
_PATH = re.compile(r'^layer(\d+)\.(\d+)\.(conv\d+)$')


@dataclass
class CheckedAssignment:
    """An assignment with the network it was checked against.

    Args:
        assignment (Assignment): The assignment.
        widths (OrderedDict[str, int]): Width of every layer, in network
            order (the recorded network's, or the assignment's own sorted
            by :func:`layer_order_key` when checked structurally).
        network (str): The config it was checked against, or
            ``'structural check'``.
    """
    assignment: Assignment
    widths: 'OrderedDict[str, int]'
    network: str


def layer_order_key(path: str) -> Tuple:
    """Sort key of layer paths in network order (numbers as numbers).

    Args:
        path (str): E.g. ``'layer3.10.conv2'``.

    Returns:
        tuple: ``'layer3.10.conv2'`` sorts after ``'layer3.9.conv2'``.
    """
    return tuple((0, int(part)) if part.isdigit() else (1, part)
                 for part in re.split(r'(\d+)', path) if part)


def recorded_config(assignment: Assignment) -> Optional[str]:
    """The config file an assignment records in ``meta['config']``.

    Presets record ``'configs/... .py (model.cls_head...)'``; exports the
    search config. A relative path is looked up from the working directory,
    then from the repository.

    Args:
        assignment (Assignment): The assignment.

    Returns:
        str | None: An existing config file, or None.
    """
    text = assignment.meta.get('config')
    if not isinstance(text, str) or not text.strip():
        return None
    path = text.split(' (')[0].strip()
    for candidate in (path, osp.join(_REPO, path)):
        if osp.isfile(candidate):
            return candidate
    return None


def network_widths(config: str) -> 'OrderedDict[str, int]':
    """Width of every CAKES layer of a config's network, in module order.

    The backbone is built on the ``meta`` device (no weights, no compute);
    a search supernet stands for the network it searches.

    Args:
        config (str): A recognizer or search config.

    Returns:
        OrderedDict[str, int]: Layer path to output width.
    """
    import torch
    from mmaction.registry import MODELS
    from mmengine.config import Config
    from mmengine.registry import DefaultScope
    cfg = Config.fromfile(config)
    backbone_cfg = dict(cfg.model.get('backbone') or {})
    if 'CAKES' not in str(backbone_cfg.get('type', '')):
        raise AssignmentError(
            f'{config}: the model has no CAKES backbone '
            f'({backbone_cfg.get("type")!r})')
    for key in ('scheme', 'shapes', '_scope_'):
        backbone_cfg.pop(key, None)
    backbone_cfg.update(
        type='ResNet3dCAKES',
        assignment=dict(uniform=['3x3x3']),
        pretrained=None)
    with DefaultScope.overwrite_default_scope('mmaction'), torch.device(
            'meta'):
        backbone = MODELS.build(backbone_cfg)
    return OrderedDict(
        (path, backbone.assignment.width(path))
        for path in backbone.assignment)


def structural_problems(assignment: Assignment) -> List[str]:
    """What cannot be right in an assignment of a ResNet, without its config.

    Every layer path is ``layer<stage>.<block>.conv<k>``; blocks of a stage
    run from 0 without gaps and hold the same convs; every layer of a stage
    has the stage's width (the most common one); each stage is twice as
    wide as the one before.

    Args:
        assignment (Assignment): The assignment.

    Returns:
        list[str]: One line per problem, naming the layer and what was
        expected.
    """
    problems = []
    stages: Dict[int, Dict[int, Dict[str, int]]] = {}
    for path in assignment:
        match = _PATH.match(path)
        if not match:
            problems.append(
                f'layer {path!r} is not a layer of a CAKES ResNet '
                "(expected 'layer<stage>.<block>.conv<k>', e.g. "
                "'layer1.0.conv2')")
            continue
        stage, block, conv = int(match[1]), int(match[2]), match[3]
        stages.setdefault(stage, {}).setdefault(
            block, {})[conv] = assignment.width(path)
    previous = None
    for stage in sorted(stages):
        blocks = stages[stage]
        gaps = sorted(set(range(max(blocks) + 1)) - set(blocks))
        if gaps:
            problems.append(
                f'stage layer{stage}: no counts for block(s) {gaps} (the '
                f'stage has blocks up to {max(blocks)}, so these layers are '
                f'missing)')
        convs = sorted({c for b in blocks.values() for c in b})
        for block, found in sorted(blocks.items()):
            for conv in convs:
                if conv not in found:
                    problems.append(f'layer{stage}.{block}.{conv}: missing '
                                    f'(other blocks of the stage have it)')
        widths = [w for b in blocks.values() for w in b.values()]
        width = max(set(widths), key=widths.count)
        for block, found in sorted(blocks.items()):
            for conv, got in found.items():
                if got != width:
                    path = f'layer{stage}.{block}.{conv}'
                    problems.append(
                        f'layer {path!r}: counts '
                        f'{assignment.nonzero(path)} sum to {got}, '
                        f'expected the stage width {width}')
        if previous is not None and width != 2 * previous[1] and (
                stage == previous[0] + 1):
            problems.append(
                f'stage layer{stage} is {width} wide, expected twice '
                f'layer{previous[0]}\'s {previous[1]}')
        previous = (stage, width)
    if stages:
        first = min(stages)
        missing = sorted(set(range(first, max(stages) + 1)) - set(stages))
        if missing:
            problems.append(f'no counts for stage(s) '
                            f'{["layer%d" % s for s in missing]}')
    return problems


def check_assignment(assignment: Assignment) -> CheckedAssignment:
    """Check an assignment against its recorded network, or structurally.

    Args:
        assignment (Assignment): The assignment (already parsed, so its
            counts are non-negative integers, one per shape).

    Returns:
        CheckedAssignment: With the widths in network order.

    Raises:
        AssignmentError: Naming the file, the layer and what was expected.
    """
    config = recorded_config(assignment)
    if config is not None:
        widths = network_widths(config)
        try:
            assignment.validated(widths)
        except AssignmentError as err:
            raise AssignmentError(
                f'{err} (checked against {config}, the network the file '
                f'records)') from None
        return CheckedAssignment(assignment, widths, config)
    problems = structural_problems(assignment)
    if problems:
        where = f'{assignment.source}: ' if assignment.source else ''
        raise AssignmentError(
            f'{where}{len(problems)} problem(s) (the file records no '
            f'network config, so it was checked structurally):\n' +
            '\n'.join(f'  - {p}' for p in problems))
    order = sorted(assignment, key=layer_order_key)
    return CheckedAssignment(
        assignment, OrderedDict((p, assignment.width(p)) for p in order),
        'structural check')


def check_same_network(checked: Sequence[CheckedAssignment],
                       labels: Sequence[str]) -> Optional[str]:
    """Whether assignments belong to one network (same layers and widths).

    Args:
        checked (Sequence[CheckedAssignment]): The checked assignments.
        labels (Sequence[str]): Their names, for the message.

    Returns:
        str | None: None when they match, else what differs, naming both
        assignments and the first differing layer.
    """
    first = checked[0]
    for other, label in zip(checked[1:], labels[1:]):
        mine = dict(first.widths)
        theirs = dict(other.widths)
        if mine == theirs:
            continue
        only_a = [p for p in mine if p not in theirs]
        only_b = [p for p in theirs if p not in mine]
        wider = [p for p in mine if p in theirs and mine[p] != theirs[p]]
        if only_a or only_b:
            what = (f'layers only in {labels[0]}: {only_a[:4]}, only in '
                    f'{label}: {only_b[:4]}')
        else:
            what = (f'layer {wider[0]!r} is {mine[wider[0]]} wide in '
                    f'{labels[0]} and {theirs[wider[0]]} in {label}')
        return (f'{labels[0]} ({first.network}) and {label} '
                f'({other.network}) are assignments of different networks: '
                f'{what}')
    return None
