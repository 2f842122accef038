"""Parameters and FLOPs of a CAKES network, and of its all-3x3x3 twin.

The totals are mmengine's (``mmengine.analysis``): FLOPs are multiply-adds,
batch norms are counted, max-pool, 3D average-pool and residual additions
are not (mmengine has no handle for them). The CAKES layers are split by
kernel shape with the analytic formula of :mod:`cakes_mmaction.cost`, which
counts exactly what mmengine counts for a convolution.

The all-3x3x3 reference is the same skeleton with every CAKES layer dense
``k x k x k``. It is computed, not built: ``reference = total - CAKES
layers + the CAKES layers at {'3x3x3': width}``
(:func:`~cakes_mmaction.cost.dense_network_cost`).

This module is where whole models are costed: the model zoo
(:mod:`cakes_mmaction.model_zoo`) and the presets' stored metadata
(:mod:`.preset_meta`) read their figures from :func:`complexity_report`.
"""
import copy
from collections import OrderedDict
from dataclasses import asdict, dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import torch
import torch.nn as nn

from ..cost import (BranchCost, LayerGeometry, cost_table, dense_network_cost,
                    layer_cost)
from ..layer_keys import BACKBONE_PREFIX, conv_module_name
from ..layers.sites import trace_geometry
from .flops import FlopCount, count_flops

__all__ = [
    'ComplexityReport', 'complexity_report', 'config_complexity',
    'cakes_geometry', 'format_report'
]


@dataclass
class ComplexityReport:
    """Cost of one network for one input.

    Args:
        input_shape (tuple[int, ...]): ``(N, C, T, H, W)`` of the input.
        params (int): Parameters of the whole model.
        flops (int): Multiply-adds of the whole model for the whole input,
            as mmengine counts them.
        cakes_params (int): Parameters of the CAKES layers.
        cakes_flops (int): Multiply-adds of the CAKES layers.
        ref_params (int): Parameters of the all-3x3x3 network.
        ref_flops (int): Multiply-adds of the all-3x3x3 network.
        layers (list[dict]): One row per CAKES layer: ``path``, ``counts``,
            ``params``, ``flops``, ``params_by_shape``, ``flops_by_shape``,
            ``ref_params``, ``ref_flops`` (FLOPs for the whole input).
        unsupported_ops (dict[str, int]): Operators mmengine did not count,
            with how often they ran.
    """

    input_shape: Tuple[int, ...]
    params: int
    flops: int
    cakes_params: int
    cakes_flops: int
    ref_params: int
    ref_flops: int
    layers: List[Dict[str, Any]] = field(default_factory=list)
    unsupported_ops: Dict[str, int] = field(default_factory=dict)

    @property
    def params_ratio(self) -> float:
        """float: Parameters relative to the all-3x3x3 network."""
        return self.params / self.ref_params

    @property
    def flops_ratio(self) -> float:
        """float: FLOPs relative to the all-3x3x3 network."""
        return self.flops / self.ref_flops

    def to_dict(self) -> Dict[str, Any]:
        """Plain dict (JSON-ready), ratios included."""
        data = asdict(self)
        data['input_shape'] = list(self.input_shape)
        data['params_ratio'] = self.params_ratio
        data['flops_ratio'] = self.flops_ratio
        return data


class _ClipForward(nn.Module):
    """Expose a recognizer's logits as ``forward(clip)`` for tracing.

    Recognizer3D expects ``(N, num_clips, C, T, H, W)`` and returns logits
    only with ``mode='tensor', stage='head'``; the tracer passes tensors
    only, so the keywords live here rather than in a patched ``forward``.
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, clip: torch.Tensor) -> Any:
        stage = 'head' if getattr(self.model, 'with_cls_head', False) \
            else 'backbone'
        return self.model(clip.unsqueeze(1), mode='tensor', stage=stage)


def cakes_geometry(model: nn.Module, input_shape: Sequence[int]
                   ) -> Dict[str, LayerGeometry]:
    """Geometry of the CAKES layers of a model's backbone for an input.

    Args:
        model (nn.Module): A recognizer with a ``backbone`` or a bare
            backbone.
        input_shape (Sequence[int]): ``(N, C, T, H, W)``.

    Returns:
        dict[str, LayerGeometry]: By layer path, from a shape-only forward
        on the ``meta`` device when every op has a meta kernel.
    """
    backbone = getattr(model, 'backbone', model)
    try:
        # The meta device computes output shapes without arithmetic, so
        # the geometry of a 224x224 clip costs no real forward.
        return trace_geometry(
            copy.deepcopy(backbone).to('meta'), input_shape)
    except Exception:  # an op without meta kernel: do the real forward
        return trace_geometry(backbone, input_shape)


def _check_layers(rows: List[dict], counted: FlopCount,
                  params: Mapping[str, int], flops_prefix: str,
                  params_prefix: str, batch: int) -> None:
    """cost.py and mmengine must agree on every CAKES layer."""
    for row in rows:
        flops_key = conv_module_name(row['path'], flops_prefix)
        params_key = conv_module_name(row['path'], params_prefix)
        if flops_key not in counted.by_module or params_key not in params:
            continue  # not a CAKES conv at its site: nothing to compare
        found = (params[params_key], counted.by_module[flops_key])
        if found != (row['params'], row['flops'] * batch):
            raise RuntimeError(
                f'layer {row["path"]!r}: cost.py gives {row["params"]} '
                f'params / {row["flops"] * batch} FLOPs, mmengine '
                f'{found[0]} / {found[1]}')


def complexity_report(model: nn.Module,
                      input_shape: Sequence[int],
                      geometries: Optional[Mapping[str, LayerGeometry]] = None
                      ) -> ComplexityReport:
    """Count parameters and multiply-adds of a CAKES model.

    The model is counted in eval mode (inference: batch norms count as
    eval-mode mmengine counts them); its mode is restored afterwards.
    mmengine's count of every CAKES layer is checked against
    :mod:`cakes_mmaction.cost`.

    Args:
        model (nn.Module): A recognizer with a ``backbone`` (e.g. mmaction's
            ``Recognizer3D``) or a bare backbone such as
            :class:`~cakes_mmaction.models.ResNet3dCAKES`.
        input_shape (Sequence[int]): ``(N, C, T, H, W)`` of one clip batch.
        geometries (Mapping[str, LayerGeometry], optional): The CAKES
            layers' geometry for this input, when the caller has it.
            Defaults to :func:`cakes_geometry`.

    Returns:
        ComplexityReport: Totals, CAKES rows by shape and the all-3x3x3
        reference.
    """
    from mmengine.analysis import parameter_count

    shape = tuple(int(s) for s in input_shape)
    if len(shape) != 5:
        raise ValueError(
            f'input_shape must be (N, C, T, H, W), got {tuple(input_shape)}')
    backbone = getattr(model, 'backbone', model)
    traced = _ClipForward(model) if backbone is not model else model
    counted = count_flops(traced, shape)
    params_by_module = parameter_count(model)
    params = int(params_by_module[''])

    assignment = backbone.assignment
    if geometries is None:
        geometries = cakes_geometry(backbone, shape)
    batch = shape[0]
    table = cost_table(assignment, geometries)[:-1]
    # Module names: the backbone is ``model.backbone``, and the traced
    # wrapper holds the recognizer as ``model``.
    in_model = BACKBONE_PREFIX if backbone is not model else ''
    _check_layers(table, counted, params_by_module,
                  'model.' + in_model if traced is not model else '',
                  in_model, batch)
    rows = []
    for row in table:
        costs = layer_cost(geometries[row['path']], row['counts'])
        rows.append(
            OrderedDict(
                path=row['path'],
                counts=row['counts'],
                params=row['params'],
                flops=row['flops'] * batch,
                params_by_shape={s: c.params
                                 for s, c in costs.items()},
                flops_by_shape={
                    s: f * batch
                    for s, f in row['flops_by_shape'].items()
                },
                ref_params=row['ref_params'],
                ref_flops=row['ref_flops'] * batch))
    cakes = BranchCost(
        params=sum(r['params'] for r in rows),
        flops=sum(r['flops'] for r in rows))
    reference = dense_network_cost(
        BranchCost(params, counted.total), cakes,
        [geometries[r['path']] for r in rows], batch=batch)
    return ComplexityReport(
        input_shape=shape,
        params=params,
        flops=counted.total,
        cakes_params=cakes.params,
        cakes_flops=cakes.flops,
        ref_params=reference.params,
        ref_flops=reference.flops,
        layers=rows,
        unsupported_ops=counted.unsupported_ops)


def config_complexity(config: Any,
                      input_shape: Sequence[int] = (1, 3, 8, 224, 224),
                      cfg_options: Optional[dict] = None
                      ) -> ComplexityReport:
    """Build ``config.model`` through mmaction's registry and count it.

    Args:
        config (str | Config): A config file or a loaded config.
        input_shape (Sequence[int]): ``(N, C, T, H, W)``. Defaults to
            ``(1, 3, 8, 224, 224)``.
        cfg_options (dict, optional): Overrides merged into the config, as
            ``--cfg-options`` does. Defaults to None.

    Returns:
        ComplexityReport: The model's cost.
    """
    from mmaction.registry import MODELS
    from mmengine.config import Config

    cfg = Config.fromfile(config) if isinstance(config, str) else config
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    model = MODELS.build(cfg.model)
    return complexity_report(model, input_shape)


_UNITS = ((1e9, 'G'), (1e6, 'M'), (1e3, 'K'), (1, ''))


def _unit(values: Sequence[int]) -> Tuple[float, str]:
    """The largest unit in which every non-zero value reads >= 0.1.

    With three decimals every figure then keeps at least three significant
    digits: the 224x224 ResNet-50 reads in G, a 32x32 toy in M or K, and
    nothing prints as 0.000.
    """
    nonzero = [abs(v) for v in values if v]
    smallest = min(nonzero) if nonzero else 0
    for scale, name in _UNITS:
        if smallest >= 0.1 * scale:
            return scale, name
    return 1, ''


def _fmt(x: int, scale: float) -> str:
    # A zero is exact (an empty branch): '0', never a rounded '0.000'.
    return f'{x / scale:.3f}' if scale > 1 and x else f'{x:,}'


def _exact(x: int, scale: float, name: str) -> str:
    """``'15.123 M (15,123,456)'``: the unit and the exact count."""
    if scale == 1:
        return f'{x:,}'
    return f'{x / scale:.3f} {name} ({x:,})'


def format_report(report: ComplexityReport) -> str:
    """Render a report as a plain-text table.

    Args:
        report (ComplexityReport): From :func:`complexity_report`.

    Returns:
        str: Totals (with the exact counts), the per-layer table (in the
        largest of G, M, K in which no non-zero figure reads below 0.1;
        ``all-3x3x3`` is the layer's FLOPs with every channel
        3x3x3, ``ratio`` the layer's FLOPs over that) and the ratios of
        the whole network to the all-3x3x3 network.
    """
    shapes = []
    for row in report.layers:
        for s in row['counts']:
            if s not in shapes:
                shapes.append(s)
    params_unit = _unit([report.params, report.ref_params] +
                        [r['params'] for r in report.layers])
    flops_unit = _unit([report.flops, report.ref_flops] + [
        v for r in report.layers
        for v in list(r['flops_by_shape'].values()) + [r['ref_flops']]
    ])
    lines = [
        f'Input shape: {tuple(report.input_shape)} (N, C, T, H, W)',
        'FLOPs are multiply-adds counted by mmengine.analysis; '
        f'table: params in {params_unit[1] or "units"}, FLOPs in '
        f'{flops_unit[1] or "units"}; all-3x3x3 = the same layer with '
        'every channel 3x3x3.',
        f'Params: {_exact(report.params, *params_unit)}   FLOPs: '
        f'{_exact(report.flops, *flops_unit)}',
        f'All-3x3x3 network (same skeleton): params '
        f'{_exact(report.ref_params, *params_unit)}   FLOPs '
        f'{_exact(report.ref_flops, *flops_unit)}',
        f'Ratio to all-3x3x3: params {report.params_ratio:.3f}   FLOPs '
        f'{report.flops_ratio:.3f}',
    ]
    if report.unsupported_ops:
        ops = ', '.join(f'{k} x{v}'
                        for k, v in sorted(report.unsupported_ops.items()))
        lines.append(f'Not counted by mmengine: {ops}')
    pscale, fscale = params_unit[0], flops_unit[0]
    header = (['layer'] + [f'n {s}' for s in shapes] + ['params'] +
              [f'FLOPs {s}' for s in shapes] + ['FLOPs', 'all-3x3x3',
                                                'ratio'])
    body = []
    for row in report.layers:
        body.append([row['path']] + [str(row['counts'][s]) for s in shapes] +
                    [_fmt(row['params'], pscale)] +
                    [_fmt(row['flops_by_shape'][s], fscale)
                     for s in shapes] + [
                        _fmt(row['flops'], fscale),
                        _fmt(row['ref_flops'], fscale),
                        f"{row['flops'] / row['ref_flops']:.3f}"
                    ])
    totals = {s: sum(r['counts'][s] for r in report.layers) for s in shapes}
    by_shape = {
        s: sum(r['flops_by_shape'][s] for r in report.layers)
        for s in shapes
    }
    ref = sum(r['ref_flops'] for r in report.layers)
    body.append(['CAKES layers'] + [str(totals[s]) for s in shapes] +
                [_fmt(report.cakes_params, pscale)] +
                [_fmt(by_shape[s], fscale) for s in shapes] + [
                    _fmt(report.cakes_flops, fscale),
                    _fmt(ref, fscale), f'{report.cakes_flops / ref:.3f}'
                ])
    widths = [
        max(len(r[i]) for r in [header] + body) for i in range(len(header))
    ]

    def fmt(cells: List[str]) -> str:
        first = cells[0].ljust(widths[0])
        rest = [c.rjust(w) for c, w in zip(cells[1:], widths[1:])]
        return '  '.join([first] + rest)

    rule = '-' * len(fmt(header))
    lines += ['', fmt(header), rule] + [fmt(r) for r in body[:-1]]
    lines += [rule, fmt(body[-1])]
    return '\n'.join(lines) + '\n'
