"""The model zoo table: every shipped assignment with its measured cost.

For each assignment and clip length the recognizer is built from a config
through the registry, and its figures are read from
:func:`~cakes_mmaction.analysis.complexity.complexity_report` (the same
report the presets' stored metadata comes from):

- parameters and multiply-adds ("FLOPs", mmengine/fvcore convention) of the
  whole deployable network (backbone + head) come from
  ``mmengine.analysis``;
- the CAKES layers' share comes from :mod:`cakes_mmaction.cost` (the
  project's one cost formula), checked layer by layer against mmengine;
- the all-3x3x3 ("I3D") and all-1x3x3 ("C2D") networks of the same
  skeleton are the same numbers with every CAKES layer costed by
  :func:`~cakes_mmaction.cost.dense_network_cost` as one dense shape, so
  no second model is built.

Published accuracies are facts of the official CAKES README.
"""
import copy
import os
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Union

from .analysis.complexity import cakes_geometry, complexity_report
from .cost import BranchCost, dense_network_cost

__all__ = [
    'PUBLISHED_TOP1', 'PUBLISHED_PROTOCOL', 'ZooEntry', 'model_zoo_entries',
    'model_zoo_markdown'
]

#: Something-Something V1 top-1 (%) in the official CAKES README, by preset
#: and number of frames.
PUBLISHED_TOP1 = {
    'cakes12d_c': {8: 46.8, 16: 48.0},
    'cakes23d_p': {8: 47.4, 16: 48.6},
    'cakes123d_p': {8: 47.2, 16: 49.4},
}
PUBLISHED_PROTOCOL = ('Something-Something V1 validation, 1 clip, 224 center '
                      'crop, top-1 (%), official CAKES README')
#: Dense networks of the same skeleton, by label: every CAKES layer one shape.
BASELINES = OrderedDict([('all-3x3x3 (I3D-style)', '3x3x3'),
                         ('all-1x3x3 (C2D)', '1x3x3')])


@dataclass
class ZooEntry:
    """Cost of one network at one input size.

    Args:
        name (str): Preset name or label of the assignment.
        frames (int): Clip length T.
        size (int): Spatial size H = W.
        params (int): Parameters of backbone + head.
        flops (int): Multiply-adds of backbone + head for one clip.
        cakes_params (int): Parameters of the CAKES layers (cost.py).
        cakes_flops (int): Multiply-adds of the CAKES layers (cost.py).
        shares (dict[str, float]): Fraction of CAKES output channels per
            shape, over all layers.
        baselines (dict[str, BranchCost]): Whole-network cost of the dense
            networks of :data:`BASELINES`.
        top1 (float, optional): Published top-1 at this clip length (224
            input only), see :data:`PUBLISHED_PROTOCOL`.
    """

    name: str
    frames: int
    size: int
    params: int
    flops: int
    cakes_params: int
    cakes_flops: int
    shares: Dict[str, float] = field(default_factory=dict)
    baselines: Dict[str, BranchCost] = field(default_factory=dict)
    top1: Optional[float] = None


def _build(cfg, spec: Any, num_classes: Optional[int]):
    from mmaction.registry import MODELS
    cfg = copy.deepcopy(cfg)
    cfg.model.backbone['assignment'] = spec
    if num_classes is not None:
        cfg.model.cls_head['num_classes'] = num_classes
    return MODELS.build(cfg.model).eval()


def _entry(model, name, frames, size) -> ZooEntry:
    shape = (1, 3, frames, size, size)
    geometries = cakes_geometry(model, shape)
    report = complexity_report(model, shape, geometries)
    network = BranchCost(report.params, report.flops)
    cakes = BranchCost(report.cakes_params, report.cakes_flops)
    totals = model.backbone.assignment.totals()
    channels = sum(totals.values())
    entry = ZooEntry(
        name=name,
        frames=frames,
        size=size,
        params=report.params,
        flops=report.flops,
        cakes_params=report.cakes_params,
        cakes_flops=report.cakes_flops,
        shares={s: n / channels
                for s, n in totals.items()},
        top1=PUBLISHED_TOP1.get(name, {}).get(frames)
        if size == 224 else None)  # the published protocol's crop
    layers = [geometries[row['path']] for row in report.layers]
    for label, dense in BASELINES.items():
        entry.baselines[label] = dense_network_cost(network, cakes, layers,
                                                    dense)
    return entry


def model_zoo_entries(config: Union[str, Any],
                      assignments: Optional[Sequence[Any]] = None,
                      frames: Sequence[int] = (8, 16),
                      size: int = 224,
                      num_classes: Optional[int] = 174) -> List[ZooEntry]:
    """Measure every (assignment, clip length) of the zoo.

    Args:
        config (str | Config): Model config (e.g.
            ``configs/_base_/models/cakes_r50.py``).
        assignments (Sequence, optional): Assignment specs (preset names,
            files, dicts). Defaults to every shipped preset.
        frames (Sequence[int]): Clip lengths. Defaults to ``(8, 16)``.
        size (int): Spatial size. Defaults to 224.
        num_classes (int, optional): Classifier width; 174 is
            Something-Something V1. None keeps the config's.
            Defaults to 174.

    Returns:
        list[ZooEntry]: One per assignment and clip length, in that order.
    """
    from mmengine.config import Config

    from .assignment import list_presets
    cfg = Config.fromfile(config) if isinstance(config, str) else config
    if assignments is None:
        assignments = list_presets()
    entries = []
    for spec in assignments:
        name = 'custom'
        if isinstance(spec, str):  # a preset, or a file named by its stem
            name = os.path.splitext(os.path.basename(spec))[0]
        model = _build(cfg, spec, num_classes)
        for t in frames:
            entries.append(_entry(model, name, t, size))
        del model
    return entries


def _g(flops: int) -> str:
    return f'{flops / 1e9:.1f}'


def _m(params: int) -> str:
    return f'{params / 1e6:.2f}'


def model_zoo_markdown(entries: Sequence[ZooEntry]) -> str:
    """The zoo as a markdown table, dense baselines last.

    Args:
        entries (Sequence[ZooEntry]): From :func:`model_zoo_entries`.

    Returns:
        str: Markdown.
    """
    lines = [
        '| assignment | frames x size | 3x3x3 / 1x3x3 / 3x1x1 channels '
        '| params (M) | GFLOPs | CAKES layers GFLOPs | vs all-3x3x3 '
        '| published top-1 |',
        '|---|---|---|---|---|---|---|---|',
    ]
    for e in entries:
        ref = e.baselines[next(iter(BASELINES))].flops
        shares = ' / '.join(
            f'{100 * e.shares.get(s, 0.0):.0f}%'
            for s in ('3x3x3', '1x3x3', '3x1x1'))
        top1 = f'{e.top1:.1f}' if e.top1 is not None else '-'
        lines.append(
            f'| {e.name} | {e.frames}x{e.size}x{e.size} | {shares} '
            f'| {_m(e.params)} | {_g(e.flops)} | {_g(e.cakes_flops)} '
            f'| {100 * e.flops / ref:.0f}% | {top1} |')
    seen = set()
    for e in entries:
        for label, cost in e.baselines.items():
            key = (label, e.frames, e.size)
            if key in seen:
                continue
            seen.add(key)
            ref = e.baselines[next(iter(BASELINES))].flops
            lines.append(
                f'| {label}, same skeleton | {e.frames}x{e.size}x{e.size} '
                f'| - | {_m(cost.params)} | {_g(cost.flops)} | - '
                f'| {100 * cost.flops / ref:.0f}% | - |')
    return '\n'.join(lines)
