"""Turn a trained search supernet into a channel assignment.

:func:`export_assignment` does the whole export for
``tools/export_assignment.py``: it loads the search checkpoint, selects the
assignment (the paper's top-C rule or a budget,
:mod:`~cakes_mmaction.search.selection`) and records its cost on the
searched network (:func:`searched_geometry`).
"""
import os
from collections import OrderedDict
from typing import Any, Dict, Mapping, Optional, Sequence, Union

import torch

from ..assignment import Assignment, AssignmentError
from ..cost import LayerGeometry
from ..cost import cost_table as cost_rows
from ..layers.sites import trace_geometry
from .measured_cost import ShapeCostTable
from .selection import (assignment_total, parse_budget, parse_latency_budget,
                        select_budget, select_top_c)
from .taylor import taylor_importance

__all__ = [
    'select_top_c', 'select_budget', 'parse_budget', 'parse_latency_budget',
    'assignment_total', 'searched_geometry', 'export_assignment',
    'DEFAULT_INPUT_SHAPE', 'SCORES', 'SCORE_SPLITS'
]

#: The clip the paper's costs refer to: 8 frames of 224 x 224.
DEFAULT_INPUT_SHAPE = (1, 3, 8, 224, 224)


def searched_geometry(backbone_cfg: Mapping[str, Any],
                      assignment: Assignment,
                      input_shape: Sequence[int] = DEFAULT_INPUT_SHAPE
                      ) -> Dict[str, LayerGeometry]:
    """Geometry of the CAKES layers of the network a search produces.

    Builds the supernet of ``backbone_cfg`` and its searched sibling
    (:meth:`ResNet3dCAKESSupernet.searched_backbone` with ``assignment``,
    which also validates the assignment against it) on the ``meta``
    device, and records the sibling's geometry with one hooked forward
    (:func:`~cakes_mmaction.layers.sites.trace_geometry`) that computes
    nothing. The geometry does not depend on the counts.

    Args:
        backbone_cfg (Mapping): The supernet backbone's config.
        assignment (Assignment): Any assignment of the searched layers.
        input_shape (Sequence[int]): ``(N, C, T, H, W)`` or ``(C, T, H, W)``.
            Defaults to ``(1, 3, 8, 224, 224)``.

    Returns:
        dict[str, LayerGeometry]: By layer path.
    """
    from mmaction.registry import MODELS
    with torch.device('meta'):
        supernet = MODELS.build(dict(backbone_cfg, pretrained=None))
    return _searched_geometry(supernet, assignment, input_shape)


def _searched_geometry(supernet, assignment: Assignment,
                       input_shape: Sequence[int]
                       ) -> Dict[str, LayerGeometry]:
    """Geometry of a built supernet's searched sibling (meta device)."""
    if not hasattr(supernet, 'searched_backbone'):
        raise AssignmentError(
            f'{type(supernet).__name__} is not a search supernet '
            f'(ResNet3dCAKESSupernet): it has no searched network')
    with torch.device('meta'):
        searched = supernet.searched_backbone(assignment, pretrained=None)
    return trace_geometry(searched, input_shape)


#: Candidate importances export can rank by.
SCORES = ('gamma', 'contribution', 'taylor')
#: Data loaders the ``'taylor'`` score can read.
SCORE_SPLITS = ('val', 'train', 'test')


def _taylor_scores(model, cfg, config_name: Optional[str], split: str,
                   max_batches: Optional[int]):
    """Taylor importances on one of the config's data loaders."""
    from mmengine.registry import init_default_scope
    from mmengine.runner import Runner
    key = f'{split}_dataloader'
    if cfg.get(key) is None:
        raise ValueError(f'{config_name}: the taylor score reads {key}, '
                         f'which the config does not define')
    init_default_scope(cfg.get('default_scope', 'mmaction'))
    loader = Runner.build_dataloader(cfg[key], seed=0)
    return taylor_importance(model, loader, max_batches)


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
                      score_split: str = 'val',
                      score_batches: Optional[int] = None,
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
        score (str): Candidate importance, ``'gamma'`` (the paper),
            ``'contribution'`` (see
            :meth:`ResNet3dCAKESSupernet.importance`) or ``'taylor'``
            (the loss change each candidate's removal would cause,
            measured on data: :func:`~cakes_mmaction.search.taylor.
            taylor_importance`). Defaults to ``'gamma'``.
        score_split (str): For ``'taylor'``: the config's data loader to
            score on, ``'val'`` (held out from the search), ``'train'`` or
            ``'test'``. Defaults to ``'val'``.
        score_batches (int, optional): For ``'taylor'``: at most this many
            batches. Defaults to None (the whole split).
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
    if score not in SCORES:
        raise ValueError(f'score must be one of {SCORES}, got {score!r}')
    if score == 'taylor' and score_split not in SCORE_SPLITS:
        raise ValueError(f'score_split must be one of {SCORE_SPLITS}, got '
                         f'{score_split!r}')
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
    if score == 'taylor':
        importances = _taylor_scores(model, cfg, config_name, score_split,
                                     score_batches)
    else:
        importances = backbone.importance(score)
    paper = select_top_c(importances, align)
    geometries = _searched_geometry(backbone, paper, input_shape)
    # cost_rows's ``ref_*`` columns: the same geometry, all 3x3x3.
    reference = cost_rows(paper, geometries)[-1]
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
        assignment = paper
    total = cost_rows(assignment, geometries)[-1]
    meta = OrderedDict(
        source='cakes_mmaction.search.export_assignment',
        scheme=backbone.scheme,
        shape_set=list(backbone.shapes),
        config=config_name,
        checkpoint=os.fspath(checkpoint))
    if score != 'gamma':
        meta['score'] = score
    if score == 'taylor':
        meta['score_split'] = score_split
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
