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
from typing import (Any, Dict, List, Mapping, Optional, Sequence, Tuple,
                    Union)

import torch

from ..assignment import Assignment, AssignmentError
from ..cost import LayerGeometry
from ..cost import cost_table as cost_rows
from ..cost import layer_cost
from ..layers.geometry import capture_geometry
from ..shapes import canonical_order, parse_shape
from .measured_cost import ShapeCostTable
from .supernet_conv import top_c_indices

__all__ = [
    'select_top_c', 'select_budget', 'parse_budget', 'parse_latency_budget',
    'assignment_total', 'searched_geometry', 'export_assignment',
    'DEFAULT_INPUT_SHAPE'
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


def _align_counts(path: str, ranked: Sequence[Sequence[float]],
                  counts: Sequence[int], width: int,
                  align: int) -> List[int]:
    """Round counts to multiples of ``align``, keeping the width.

    Each shape keeps the whole blocks of ``align`` it already has; the
    remaining blocks go, one at a time, to the shape whose next block of
    candidates (by ``|gamma|``) sums to the most importance.
    """
    if width % align:
        raise AssignmentError(
            f'layer {path!r}: width {width} is not a multiple of align='
            f'{align}; counts in blocks of {align} cannot fill it')
    out = [(c // align) * align for c in counts]
    while sum(out) < width:
        best = max(
            (i for i in range(len(out)) if out[i] + align <= width),
            key=lambda i: (sum(ranked[i][out[i]:out[i] + align]), -i))
        out[best] += align
    return out


def _ranked(flat: torch.Tensor, shapes: Sequence[str],
            width: int) -> List[List[float]]:
    """Scores of each shape's candidates, best first."""
    ranked = []
    for i in range(len(shapes)):
        block = flat[i * width:(i + 1) * width]
        ranked.append(block[top_c_indices(block, width)].tolist())
    return ranked


def _check_align(align: int) -> int:
    if isinstance(align, bool) or not isinstance(align, int) or align < 1:
        raise ValueError(f'align must be an int >= 1, got {align!r}')
    return align


def select_top_c(importances: Importances, align: int = 1) -> Assignment:
    """The paper's rule: per layer, the top-``C`` candidates by ``|gamma|``.

    Ties keep the earlier candidate (shape order, then filter index), so
    exactly ``C`` channels are kept.

    Args:
        importances (Mapping): ``{path: {shape: scores}}`` with ``C``
            scores (``|gamma|``; signs are ignored) per shape, e.g.
            :meth:`ResNet3dCAKESSupernet.importance`.
        align (int): Round every count to a multiple of ``align`` (e.g.
            16 for tensor-core tiles): each shape keeps its whole blocks
            and the rest of the width goes block by block to the shape
            whose next ``align`` candidates are the most important.
            Every width must be a multiple. Defaults to 1 (no rounding).

    Returns:
        Assignment: Counts per layer and shape.
    """
    _check_align(align)
    layers = OrderedDict()
    for path, scores in importances.items():
        shapes, width, flat = _layer_scores(path, scores)
        kept = top_c_indices(flat, width)
        counts = torch.bincount(
            torch.div(kept, width, rounding_mode='floor'),
            minlength=len(shapes)).tolist()
        if align > 1:
            counts = _align_counts(path, _ranked(flat, shapes, width),
                                   counts, width, align)
        layers[path] = OrderedDict(zip(shapes, counts))
    meta = dict(rule='top_c')
    if align > 1:
        meta['align'] = align
    return Assignment(layers, meta, source='search export')


METRICS = ('flops', 'params', 'latency')


def _unit_costs(path: str, geometry: LayerGeometry, shapes: Sequence[str],
                metric: str,
                cost_table: Optional[ShapeCostTable]) -> List[float]:
    """Cost of one output channel of each shape of a layer."""
    if metric == 'latency':
        return cost_table.unit_costs(path, shapes)
    costs = layer_cost(geometry, {s: 1 for s in shapes}).values()
    return [c.flops if metric == 'flops' else c.params for c in costs]


def assignment_total(assignment: Mapping[str, Mapping[str, int]],
                     geometries: Mapping[str, LayerGeometry],
                     metric: str = 'flops',
                     cost_table: Optional[ShapeCostTable] = None
                     ) -> Union[int, float]:
    """Summed cost of the CAKES layers of an assignment.

    Args:
        assignment (Mapping): ``{path: {shape: count}}``.
        geometries (Mapping[str, LayerGeometry]): Geometry by path.
        metric (str): ``'flops'``, ``'params'`` or ``'latency'``.
            Defaults to ``'flops'``.
        cost_table (ShapeCostTable, optional): Measured costs, needed for
            ``'latency'``. Defaults to None.

    Returns:
        int | float: The total (seconds per clip for ``'latency'``).
    """
    total = 0
    for path, counts in assignment.items():
        shapes = list(counts)
        units = _unit_costs(path, geometries[path], shapes, metric,
                            cost_table)
        total += sum(u * counts[s] for u, s in zip(units, shapes))
    return total


def select_budget(importances: Importances,
                  geometries: Mapping[str, LayerGeometry],
                  budget: Union[int, float],
                  metric: str = 'flops',
                  *,
                  cost_table: Optional[ShapeCostTable] = None,
                  align: int = 1,
                  match: bool = False) -> Assignment:
    """Meet a global cost budget, spending it by importance per unit cost.

    Starts from :func:`select_top_c`. While the CAKES layers cost more than
    ``budget``, it applies the single move (in one layer, drop the weakest
    ``align`` kept candidates of a costlier shape and keep the strongest
    ``align`` dropped candidates of a cheaper shape) with the smallest
    ``importance lost / cost saved``; ties go to the earlier layer, then
    the earlier shapes. Widths never change.

    With ``match``, a result under the budget is then raised towards it:
    while some move fits, it applies the opposite move (a cheaper shape's
    weakest kept block for a costlier shape's strongest dropped one) with
    the largest ``importance gained / cost added``, so that networks can be
    compared at equal cost.

    Args:
        importances (Mapping): ``{path: {shape: scores}}`` as for
            :func:`select_top_c`.
        geometries (Mapping[str, LayerGeometry]): Geometry of every layer
            of the searched network (``out_channels`` = ``C``).
        budget (int | float): Upper bound on the summed cost of the CAKES
            layers.
        metric (str): ``'flops'`` (multiply-adds), ``'params'`` or
            ``'latency'`` (seconds per clip from ``cost_table``).
            Defaults to ``'flops'``.
        cost_table (ShapeCostTable, optional): Measured per-channel costs
            of each shape and layer; required for ``'latency'``.
            Defaults to None.
        align (int): Counts in multiples of ``align``. Defaults to 1.
        match (bool): Also spend an unused budget (see above). Defaults
            to False.

    Returns:
        Assignment: Counts, with ``meta['budget']`` holding the metric,
        the budget and the ``reached`` cost.

    Raises:
        AssignmentError: The budget is below the cheapest assignment.
    """
    if metric not in METRICS:
        raise ValueError(f'metric must be one of {METRICS}, got {metric!r}')
    if metric == 'latency' and cost_table is None:
        raise ValueError("metric 'latency' needs a measured cost_table")
    _check_align(align)
    start = select_top_c(importances, align)
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
        unit = _unit_costs(path, geometry, shapes, metric, cost_table)
        layers.append((path, shapes, unit, _ranked(flat, shapes, width),
                       [start[path][s] for s in shapes]))
    total = assignment_total(start, geometries, metric, cost_table)
    cheapest = sum(min(unit) * sum(counts)
                   for _, _, unit, _, counts in layers)
    if budget < cheapest:
        raise AssignmentError(
            f'{metric} budget {budget:,} cannot be met: the cheapest '
            f'assignment of these layers costs {cheapest:,} (every channel '
            f'on its cheapest shape); the paper\'s top-C rule costs '
            f'{total:,}')
    step = align
    while total > budget:
        best = None  # ((ratio, layer, from, to), saved)
        for li, (_, shapes, unit, ranked, counts) in enumerate(layers):
            for a in range(len(shapes)):
                if counts[a] < step:
                    continue
                for b in range(len(shapes)):
                    saved = (unit[a] - unit[b]) * step
                    if saved <= 0 or counts[b] + step > len(ranked[b]):
                        continue
                    lost = sum(ranked[a][counts[a] - step:counts[a]]) - \
                        sum(ranked[b][counts[b]:counts[b] + step])
                    key = (lost / saved, li, a, b)
                    if best is None or key < best[0]:
                        best = (key, saved)
        if best is None:  # pragma: no cover - excluded by `cheapest`
            raise AssignmentError(f'{metric} budget {budget:,} not reached')
        (_, li, a, b), saved = best
        layers[li][4][a] -= step
        layers[li][4][b] += step
        total -= saved
    while match:
        best = None  # ((-ratio, layer, from, to), added)
        for li, (_, shapes, unit, ranked, counts) in enumerate(layers):
            for a in range(len(shapes)):
                if counts[a] < step:
                    continue
                for b in range(len(shapes)):
                    added = (unit[b] - unit[a]) * step
                    if added <= 0 or total + added > budget or \
                            counts[b] + step > len(ranked[b]):
                        continue
                    gained = sum(ranked[b][counts[b]:counts[b] + step]) - \
                        sum(ranked[a][counts[a] - step:counts[a]])
                    key = (-gained / added, li, a, b)
                    if best is None or key < best[0]:
                        best = (key, added)
        if best is None:
            break
        (_, li, a, b), added = best
        layers[li][4][a] -= step
        layers[li][4][b] += step
        total += added
    result = OrderedDict(
        (path, OrderedDict(zip(shapes, counts)))
        for path, shapes, _, _, counts in layers)
    total = assignment_total(result, geometries, metric, cost_table)
    meta = dict(
        rule='budget',
        budget=OrderedDict(metric=metric, budget=budget, reached=total))
    if match:
        meta['budget']['match'] = True
    if align > 1:
        meta['align'] = align
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


def parse_latency_budget(spec: Union[str, float], reference: float) -> float:
    """Read a latency budget: seconds (``0.004``, ``'4ms'``) or ``'40%'``.

    Args:
        spec (str | float): Seconds, a number with an ``s``/``ms``/``us``
            suffix, or a percentage of ``reference``.
        reference (float): The all-3x3x3 latency, for percentages.

    Returns:
        float: The budget in seconds per clip.
    """
    text = str(spec).strip()
    match = re.fullmatch(
        r'([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*(%|s|ms|us)?', text,
        flags=re.IGNORECASE)
    if not match:
        raise ValueError(
            f"latency budget must be seconds (0.004), a number with s/ms/us "
            f"('4ms') or a percentage such as '40%', got {spec!r}")
    value, unit = float(match.group(1)), (match.group(2) or 's').lower()
    value = value / 100 * reference if unit == '%' else value * {
        's': 1.0, 'ms': 1e-3, 'us': 1e-6}[unit]
    if value <= 0:
        raise ValueError(f'latency budget must be positive, got {spec!r}')
    return value


def searched_geometry(backbone_cfg: Mapping[str, Any],
                      assignment: Assignment,
                      input_shape: Sequence[int] = DEFAULT_INPUT_SHAPE
                      ) -> Dict[str, LayerGeometry]:
    """Geometry of the CAKES layers of the network a search produces.

    Builds the searched backbone (:class:`ResNet3dCAKES` with the
    supernet's other arguments and ``assignment``) on the ``meta`` device,
    which also validates the assignment against it, and records its
    geometry with one hooked forward
    (:func:`~cakes_mmaction.layers.geometry.capture_geometry`) that
    computes nothing. The geometry does not depend on the counts.

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
                      latency_budget: Optional[Union[str, float]] = None,
                      cost_table: Optional[Union[str,
                                                 ShapeCostTable]] = None,
                      align: int = 1,
                      match: bool = False,
                      score: str = 'gamma',
                      input_shape: Sequence[int] = DEFAULT_INPUT_SHAPE,
                      cfg_options: Optional[dict] = None) -> Assignment:
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
        latency_budget (str | float, optional): The same on the latency
            modelled from ``cost_table`` (see
            :func:`parse_latency_budget`). Defaults to None.
        cost_table (str | ShapeCostTable, optional): Measured per-shape
            costs (:class:`ShapeCostTable` or its file); required by
            ``latency_budget``, and with it the file's ``meta`` also holds
            the modelled ``latency``. Defaults to None.
        align (int): Counts in multiples of ``align``. Defaults to 1.
        match (bool): Spend the budget (:func:`select_budget`), for
            comparisons at equal cost. Defaults to False.
        score (str): Candidate importance, ``'gamma'`` (the paper) or
            ``'contribution'`` (see
            :meth:`ResNet3dCAKESSupernet.importance`). Defaults to
            ``'gamma'``.
        input_shape (Sequence[int]): Clip the costs refer to.
            Defaults to ``(1, 3, 8, 224, 224)``.
        cfg_options (dict, optional): Overrides merged into the config, as
            ``--cfg-options`` does. Defaults to None.

    Returns:
        Assignment: With ``meta``: ``source``, ``scheme``, ``shape_set``,
        ``config``, ``checkpoint``, ``rule`` (and ``budget``, ``align``),
        ``input_shape``, ``cost_scope``, ``params``, ``flops`` and
        ``reference`` (all-3x3x3 params and FLOPs; and ``latency`` with a
        cost table).
    """
    from mmaction.registry import MODELS
    from mmengine.config import Config
    from mmengine.runner import load_checkpoint
    given = [b for b in (flops_budget, params_budget, latency_budget)
             if b is not None]
    if len(given) > 1:
        raise ValueError('give one budget (FLOPs, parameters or latency), '
                         'not several')
    if latency_budget is not None and cost_table is None:
        raise ValueError('a latency budget needs a measured cost table '
                         '(tools/analysis/measure_shape_cost.py)')
    table = None if cost_table is None else ShapeCostTable.coerce(cost_table)
    cfg = Config.fromfile(config) if isinstance(config,
                                                (str, os.PathLike)) else config
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
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
    importances = backbone.importance(score)
    top_c = select_top_c(importances, align)
    geometries = searched_geometry(cfg.model.backbone, top_c, input_shape)
    # cost_rows's ``ref_*`` columns: the same geometry, all 3x3x3.
    reference = cost_rows(top_c, geometries)[-1]
    ref_counts = OrderedDict(
        (p, {'x'.join(map(str, g.kernel_size)): g.out_channels})
        for p, g in geometries.items())
    if given:
        spec = given[0]
        if flops_budget is not None or params_budget is not None:
            metric = 'flops' if flops_budget is not None else 'params'
            budget = parse_budget(spec, reference['ref_' + metric])
        else:
            metric = 'latency'
            budget = parse_latency_budget(
                spec, assignment_total(ref_counts, geometries, metric,
                                       table))
        assignment = select_budget(
            importances, geometries, budget, metric, cost_table=table,
            align=align, match=match)
        assignment.meta['budget']['spec'] = str(spec)
    elif match:
        raise ValueError('match spends a budget; give one')
    else:
        assignment = top_c
    total = cost_rows(assignment, geometries)[-1]
    meta = OrderedDict(
        source='cakes_mmaction.search.export_assignment',
        scheme=backbone.scheme,
        shape_set=list(backbone.shapes),
        config=config_name,
        checkpoint=os.fspath(checkpoint))
    if score != 'gamma':
        meta['score'] = score
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
    if table is not None:
        meta['latency'] = assignment_total(assignment, geometries,
                                           'latency', table)
        meta['reference']['latency'] = assignment_total(
            ref_counts, geometries, 'latency', table)
        meta['cost_table'] = OrderedDict(
            file=table.source, device=table.meta.get('device'))
    return Assignment(assignment.to_layers(), meta, source=checkpoint)
