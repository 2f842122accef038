"""Choosing a supernet's assignment from its candidates' importances.

Two rules, both deterministic (candidates ranked by ``|gamma|`` descending,
then shape order, then filter index):

- :func:`select_top_c`, the paper's rule: per layer, keep the ``C``
  candidates with the largest ``|gamma|`` and count them per shape
  (:func:`~cakes_mmaction.search.top_c.top_c`);
- :func:`select_budget`, beyond the paper: a global parameter or FLOP
  budget over the CAKES layers. Starting from the paper's rule, it
  repeatedly moves one channel of one layer from a costlier shape to a
  cheaper one, choosing the move that loses the least importance per unit
  of cost saved, until the budget is met. Every layer keeps exactly its
  width (so at least one channel), and costs come from
  :mod:`cakes_mmaction.cost`.

Budgets are read by :func:`parse_budget` and :func:`parse_latency_budget`.
"""
import re
from collections import OrderedDict
from typing import Any, List, Mapping, Optional, Sequence, Tuple, Union

import torch

from ..assignment import Assignment, AssignmentError
from ..cost import LayerGeometry, layer_cost
from ..shapes import canonical_order, parse_shape
from .measured_cost import ShapeCostTable
from .top_c import top_c, top_c_indices

__all__ = [
    'select_top_c', 'select_budget', 'parse_budget', 'parse_latency_budget',
    'assignment_total', 'METRICS'
]

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
        counts = top_c(flat, width).counts
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
