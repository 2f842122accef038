"""Turn a trained search supernet into a channel assignment.

Two rules, both deterministic (candidates ranked by ``|gamma|`` descending,
then shape order, then filter index):

- :func:`select_top_c`, the paper's rule: per layer, keep the ``C``
  candidates with the largest ``|gamma|`` and count them per shape;
- :func:`select_budget`, beyond the paper: a global parameter or FLOP
  budget over the CAKES layers. Starting from the paper's rule, it
  repeatedly moves one channel of one layer from a costlier shape to a
  cheaper one, choosing the move that loses the least importance per unit
  of cost saved, until the budget is met. Every layer keeps exactly its
  width (so at least one channel), and costs come from
  :mod:`cakes_mmaction.cost`.

:func:`export_assignment` does the whole export for
``tools/export_assignment.py``.
"""
import os
import re
from collections import OrderedDict
from typing import Any, Dict, Mapping, Optional, Sequence, Tuple, Union

import torch

from ..assignment import Assignment, AssignmentError
from ..cost import (BranchCost, LayerGeometry, capture_geometry, cost_table,
                    layer_cost)
from ..shapes import canonical_order, parse_shape
from .supernet_conv import top_c_indices

__all__ = [
    'select_top_c', 'select_budget', 'parse_budget', 'searched_geometry',
    'export_assignment', 'DEFAULT_INPUT_SHAPE'
]

#: The clip the paper's costs refer to: 8 frames of 224 x 224.
DEFAULT_INPUT_SHAPE = (1, 3, 8, 224, 224)

Importances = Mapping[str, Mapping[str, Any]]


def _layer_scores(path: str, scores: Mapping[str, Any]
                  ) -> Tuple[Tuple[str, ...], int, torch.Tensor]:
    """Shapes (canonical order), width and the flat score vector."""
    by_name = {
        parse_shape(k).name:
        torch.as_tensor(v, dtype=torch.float64).reshape(-1).abs()
        for k, v in scores.items()
    }
    shapes = tuple(s.name for s in canonical_order(by_name))
    widths = {s: by_name[s].numel() for s in shapes}
    width = widths[shapes[0]]
    if len(set(widths.values())) != 1 or width == 0:
        raise AssignmentError(
            f'layer {path!r}: every shape needs the same number of '
            f'candidates (the layer width), got {widths}')
    flat = torch.cat([by_name[s] for s in shapes])
    if torch.isnan(flat).any():
        raise AssignmentError(
            f'layer {path!r}: importances contain NaN (the search '
            f'diverged); nothing can be exported')
    return shapes, width, flat


def select_top_c(importances: Importances) -> Assignment:
    """The paper's rule: per layer, the top-``C`` candidates by ``|gamma|``.

    Ties keep the earlier candidate (shape order, then filter index), so
    exactly ``C`` channels are kept.

    Args:
        importances (Mapping): ``{path: {shape: scores}}`` with ``C``
            scores (``|gamma|``; signs are ignored) per shape, e.g.
            :meth:`ResNet3dCAKESSupernet.importance`.

    Returns:
        Assignment: Counts per layer and shape.
    """
    layers = OrderedDict()
    for path, scores in importances.items():
        shapes, width, flat = _layer_scores(path, scores)
        kept = top_c_indices(flat, width)
        counts = torch.bincount(
            torch.div(kept, width, rounding_mode='floor'),
            minlength=len(shapes)).tolist()
        layers[path] = OrderedDict(zip(shapes, counts))
    return Assignment(layers, dict(rule='top_c'), source='search export')


def _metric(cost: BranchCost, metric: str) -> int:
    return cost.flops if metric == 'flops' else cost.params


def _total(assignment: Mapping[str, Mapping[str, int]],
           geometries: Mapping[str, LayerGeometry], metric: str) -> int:
    return sum(
        _metric(sum(layer_cost(geometries[p], c).values(), BranchCost()),
                metric) for p, c in assignment.items())


def select_budget(importances: Importances,
                  geometries: Mapping[str, LayerGeometry],
                  budget: int,
                  metric: str = 'flops') -> Assignment:
    """Meet a global cost budget, spending it by importance per unit cost.

    Starts from :func:`select_top_c`. While the CAKES layers cost more than
    ``budget``, it applies the single move (in one layer, drop the weakest
    kept candidate of a costlier shape and keep the strongest dropped
    candidate of a cheaper shape) with the smallest
    ``importance lost / cost saved``; ties go to the earlier layer, then
    the earlier shapes. Widths never change.

    Args:
        importances (Mapping): ``{path: {shape: scores}}`` as for
            :func:`select_top_c`.
        geometries (Mapping[str, LayerGeometry]): Geometry of every layer
            of the searched network (``out_channels`` = ``C``).
        budget (int): Upper bound on the summed cost of the CAKES layers.
        metric (str): ``'flops'`` (multiply-adds) or ``'params'``.
            Defaults to ``'flops'``.

    Returns:
        Assignment: Counts, with ``meta['budget']`` holding the metric,
        the budget and the ``reached`` cost.

    Raises:
        AssignmentError: The budget is below the cheapest assignment.
    """
    if metric not in ('flops', 'params'):
        raise ValueError(f"metric must be 'flops' or 'params', got {metric!r}")
    start = select_top_c(importances)
    layers = []  # (path, shapes, unit costs, sorted scores, counts)
    for path, scores in importances.items():
        if path not in geometries:
            raise AssignmentError(f'no geometry for layer {path!r}')
        shapes, width, flat = _layer_scores(path, scores)
        geometry = geometries[path]
        if geometry.out_channels != width:
            raise AssignmentError(
                f'layer {path!r}: geometry has {geometry.out_channels} '
                f'output channels, the supernet {width} per shape')
        unit = [
            _metric(c, metric)
            for c in layer_cost(geometry, {s: 1
                                           for s in shapes}).values()
        ]
        ranked = []
        for i in range(len(shapes)):
            block = flat[i * width:(i + 1) * width]
            order = top_c_indices(block, width)
            ranked.append(block[order].tolist())
        layers.append(
            (path, shapes, unit, ranked, [start[path][s] for s in shapes]))
    total = _total(start, geometries, metric)
    cheapest = sum(min(unit) * sum(counts)
                   for _, _, unit, _, counts in layers)
    if budget < cheapest:
        raise AssignmentError(
            f'{metric} budget {budget:,} cannot be met: the cheapest '
            f'assignment of these layers costs {cheapest:,} (every channel '
            f'on its cheapest shape); the paper\'s top-C rule costs '
            f'{total:,}')
    while total > budget:
        best = None  # ((ratio, layer, from, to), saved)
        for li, (_, shapes, unit, ranked, counts) in enumerate(layers):
            for a in range(len(shapes)):
                if counts[a] == 0:
                    continue
                for b in range(len(shapes)):
                    saved = unit[a] - unit[b]
                    if saved <= 0 or counts[b] == len(ranked[b]):
                        continue
                    lost = ranked[a][counts[a] - 1] - ranked[b][counts[b]]
                    key = (lost / saved, li, a, b)
                    if best is None or key < best[0]:
                        best = (key, saved)
        if best is None:  # pragma: no cover - excluded by `cheapest`
            raise AssignmentError(f'{metric} budget {budget:,} not reached')
        (_, li, a, b), saved = best
        layers[li][4][a] -= 1
        layers[li][4][b] += 1
        total -= saved
    result = OrderedDict(
        (path, OrderedDict(zip(shapes, counts)))
        for path, shapes, _, _, counts in layers)
    meta = dict(
        rule='budget',
        budget=OrderedDict(metric=metric, budget=int(budget), reached=total))
    return Assignment(result, meta, source='search export')


def parse_budget(spec: Union[str, int, float], reference: int) -> int:
    """Read a budget: absolute (``3.2e9``, ``'450M'``) or ``'40%'``.

    Args:
        spec (str | int | float): A number, a number with a ``K``/``M``/
            ``G`` suffix, or a percentage of ``reference``.
        reference (int): The all-3x3x3 cost, for percentages.

    Returns:
        int: The budget.
    """
    text = str(spec).strip()
    match = re.fullmatch(r'([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*([%KMG]?)',
                         text, flags=re.IGNORECASE)
    if not match:
        raise ValueError(
            f"budget must be a number, a number with K/M/G, or a "
            f"percentage such as '40%', got {spec!r}")
    value, unit = float(match.group(1)), match.group(2).upper()
    if unit == '%':
        value = value / 100 * reference
    else:
        value *= {'': 1, 'K': 1e3, 'M': 1e6, 'G': 1e9}[unit]
    if value <= 0:
        raise ValueError(f'budget must be positive, got {spec!r}')
    return int(value)


def searched_geometry(backbone_cfg: Mapping[str, Any],
                      assignment: Assignment,
                      input_shape: Sequence[int] = DEFAULT_INPUT_SHAPE
                      ) -> Dict[str, LayerGeometry]:
    """Geometry of the CAKES layers of the network a search produces.

    Builds the searched backbone (:class:`ResNet3dCAKES` with the
    supernet's other arguments and ``assignment``) on the ``meta`` device,
    which also validates the assignment against it, and records its
    geometry with one hooked forward
    (:func:`~cakes_mmaction.cost.capture_geometry`) that computes nothing.
    The geometry does not depend on the counts.

    Args:
        backbone_cfg (Mapping): The supernet backbone's config.
        assignment (Assignment): Any assignment of the searched layers.
        input_shape (Sequence[int]): ``(N, C, T, H, W)`` or ``(C, T, H, W)``.
            Defaults to ``(1, 3, 8, 224, 224)``.

    Returns:
        dict[str, LayerGeometry]: By layer path.
    """
    from mmaction.registry import MODELS
    cfg = dict(backbone_cfg)
    for key in ('scheme', 'shapes', '_scope_'):
        cfg.pop(key, None)
    cfg.update(type='ResNet3dCAKES', assignment=assignment, pretrained=None)
    with torch.device('meta'):
        backbone = MODELS.build(cfg)
    return capture_geometry(backbone, input_shape)


def export_assignment(config: Any,
                      checkpoint: str,
                      *,
                      flops_budget: Optional[Union[str, float]] = None,
                      params_budget: Optional[Union[str, float]] = None,
                      input_shape: Sequence[int] = DEFAULT_INPUT_SHAPE
                      ) -> Assignment:
    """Export the assignment of a search checkpoint, with cost metadata.

    Args:
        config (str | Config): The search config (its model must be a
            :class:`CAKESSearchRecognizer` or have a supernet backbone).
        checkpoint (str): The search checkpoint, loaded through mmengine's
            (safe, weights-only) loader.
        flops_budget (str | float, optional): Use :func:`select_budget`
            on multiply-adds of the CAKES layers (see :func:`parse_budget`).
            Defaults to None.
        params_budget (str | float, optional): The same on parameters.
            Defaults to None.
        input_shape (Sequence[int]): Clip the costs refer to.
            Defaults to ``(1, 3, 8, 224, 224)``.

    Returns:
        Assignment: With ``meta``: ``source``, ``scheme``, ``shape_set``,
        ``config``, ``checkpoint``, ``rule`` (and ``budget``),
        ``input_shape``, ``cost_scope``, ``params``, ``flops`` and
        ``reference`` (all-3x3x3 params and FLOPs).
    """
    from mmaction.registry import MODELS
    from mmengine.config import Config
    from mmengine.runner import load_checkpoint
    if flops_budget is not None and params_budget is not None:
        raise ValueError('give either a FLOP or a parameter budget, not both')
    cfg = Config.fromfile(config) if isinstance(config,
                                                (str, os.PathLike)) else config
    config_name = os.fspath(config) if isinstance(
        config, (str, os.PathLike)) else getattr(cfg, 'filename', None)
    model = MODELS.build(cfg.model)
    backbone = getattr(model, 'backbone', model)
    if not hasattr(backbone, 'importance'):
        raise AssignmentError(
            f'{config_name}: the model\'s backbone is '
            f'{type(backbone).__name__}, not a search supernet '
            f'(ResNet3dCAKESSupernet); there is nothing to export')
    if not os.path.isfile(checkpoint):
        raise FileNotFoundError(f'{checkpoint}: checkpoint not found')
    load_checkpoint(model, checkpoint, map_location='cpu', strict=True)
    model.eval()
    importances = backbone.importance()
    top_c = select_top_c(importances)
    geometries = searched_geometry(cfg.model.backbone, top_c, input_shape)
    # cost_table's ``ref_*`` columns: the same geometry, all 3x3x3.
    reference = cost_table(top_c, geometries)[-1]
    if flops_budget is not None or params_budget is not None:
        metric = 'flops' if flops_budget is not None else 'params'
        spec = flops_budget if flops_budget is not None else params_budget
        budget = parse_budget(spec, reference['ref_' + metric])
        assignment = select_budget(importances, geometries, budget, metric)
        assignment.meta['budget']['spec'] = str(spec)
    else:
        assignment = top_c
    total = cost_table(assignment, geometries)[-1]
    meta = OrderedDict(
        source='cakes_mmaction.search.export_assignment',
        scheme=backbone.scheme,
        shape_set=list(backbone.shapes),
        config=config_name,
        checkpoint=os.fspath(checkpoint))
    meta.update(assignment.meta)
    meta.update(
        input_shape=[int(v) for v in (
            (1, ) + tuple(input_shape) if len(input_shape) == 4 else
            input_shape)],
        cost_scope='CAKES layers only (the part an assignment changes); '
        'flops = multiply-adds per clip',
        params=total['params'],
        flops=total['flops'],
        reference=OrderedDict(
            counts='all ' + 'x'.join(
                map(str, next(iter(geometries.values())).kernel_size)),
            params=total['ref_params'],
            flops=total['ref_flops']))
    return Assignment(assignment.to_layers(), meta, source=checkpoint)
