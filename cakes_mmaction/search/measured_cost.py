"""Measured per-shape cost of the CAKES layers on one device.

Kernel volume (9:3:1 for 3x3x3, 1x3x3, 3x1x1) is what the multiply-add
count says a shape costs; a device may disagree (a 3x1x1 conv reads its
input with a stride the spatial kernels do not, and libraries tune some
shapes better than others). A :class:`ShapeCostTable` holds what one
output channel of each shape costs, per layer, as measured on a device:

.. code-block:: json

    {"format": "cakes-shape-cost", "version": 1,
     "unit": "seconds per output channel per clip",
     "device": "cpu: ...", "input_shape": [1, 3, 8, 32, 32],
     "layers": {"layer1.0.conv2": {"3x3x3": 2.1e-06, "1x3x3": 8.0e-07,
                                   "3x1x1": 5.5e-07}}}

It replaces kernel volume in two places: the C-scheme penalty weights
(``sparsity=dict(cost_table=FILE)`` of
:class:`~cakes_mmaction.search.CAKESSearchRecognizer`) and the budget
export (``--latency-budget`` of ``tools/export_assignment.py``).
:func:`measure_shape_costs` writes one (``tools/analysis/
measure_shape_cost.py``).
"""
import json
import os
import platform
import statistics
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence

import torch
import torch.nn as nn

from ..cost import LayerGeometry
from ..shapes import canonical_order, parse_shape

__all__ = [
    'ShapeCostTable', 'measure_shape_costs', 'measure_config_costs',
    'COST_TABLE_FORMAT'
]

#: The ``format`` field of a cost table file.
COST_TABLE_FORMAT = 'cakes-shape-cost'
_UNIT = 'seconds per output channel per clip'


@dataclass
class ShapeCostTable:
    """Cost of one output channel of each shape, per CAKES layer.

    Args:
        layers (dict[str, dict[str, float]]): ``{path: {shape: cost}}``,
            costs positive (seconds per output channel per clip).
        meta (dict): Where and how it was measured (``device``,
            ``input_shape`` ...). Defaults to empty.
        source (str): File it came from, for messages. Defaults to
            ``'<memory>'``.
    """

    layers: Dict[str, Dict[str, float]]
    meta: Dict[str, Any] = field(default_factory=dict)
    source: str = '<memory>'

    def __post_init__(self) -> None:
        checked = OrderedDict()
        if not isinstance(self.layers, Mapping) or not self.layers:
            raise ValueError(f'{self.source}: a cost table needs a non-empty '
                             f'"layers" mapping {{path: {{shape: cost}}}}')
        for path, costs in self.layers.items():
            if not isinstance(costs, Mapping) or not costs:
                raise ValueError(
                    f'{self.source}: layer {path!r}: expected a mapping '
                    f'{{shape: cost}}, got {costs!r}')
            row = OrderedDict()
            for shape, value in costs.items():
                try:
                    name = parse_shape(shape).name
                except Exception as err:
                    raise ValueError(f'{self.source}: layer {path!r}: '
                                     f'{err}') from err
                if isinstance(value, bool) or not isinstance(
                        value, (int, float)) or not value > 0 or \
                        value == float('inf'):
                    raise ValueError(
                        f'{self.source}: layer {path!r}, shape {name}: '
                        f'the cost must be a positive finite number, got '
                        f'{value!r}')
                row[name] = float(value)
            checked[str(path)] = row
        self.layers = checked

    # ------------------------------------------------------------------
    def unit_costs(self, path: str, shapes: Iterable[str]) -> List[float]:
        """Cost of one output channel of each shape of a layer.

        Args:
            path (str): Layer path (``'layer1.0.conv2'``).
            shapes (Iterable[str]): The shapes, in the order wanted.

        Returns:
            list[float]: One cost per shape.

        Raises:
            KeyError: The table has no row for the layer or a shape.
        """
        if path not in self.layers:
            raise KeyError(
                f'{self.source}: no measured cost for layer {path!r}; the '
                f'table has {list(self.layers)} (measure it for this '
                f'network with tools/analysis/measure_shape_cost.py)')
        row = self.layers[path]
        out = []
        for shape in shapes:
            name = parse_shape(shape).name
            if name not in row:
                raise KeyError(
                    f'{self.source}: layer {path!r} has no cost for shape '
                    f'{name}; it has {list(row)}')
            out.append(row[name])
        return out

    def penalty_weights(self, path: str,
                        shapes: Iterable[str]) -> Dict[str, float]:
        """C-scheme penalty weights of a layer: cost over summed cost.

        The measured counterpart of kernel volume over summed volume
        (:func:`~cakes_mmaction.search.shape_penalty_weights`).

        Args:
            path (str): Layer path.
            shapes (Iterable[str]): The layer's candidate shapes.

        Returns:
            dict[str, float]: Weight per shape, canonical order, sum 1.
        """
        names = [s.name for s in canonical_order(shapes)]
        costs = self.unit_costs(path, names)
        total = sum(costs)
        return OrderedDict((s, c / total) for s, c in zip(names, costs))

    def network_penalty_weights(
            self, layers: Mapping[str, Iterable[str]]
    ) -> Dict[str, Dict[str, float]]:
        """C-scheme penalty weights that compare layers, not only shapes.

        :meth:`penalty_weights` makes every layer's weights sum to 1, so a
        channel of an early, high-resolution layer weighs what a channel of
        a late, low-resolution one does. Here each cost is divided by the
        mean over ``layers`` of a layer's summed shape costs instead: the
        weights keep the same average size, and a layer whose channels cost
        four times as much is pulled four times as hard.

        Args:
            layers (Mapping[str, Iterable[str]]): Candidate shapes of each
                layer to weigh, by path.

        Returns:
            dict[str, dict[str, float]]: Weight per path and shape
            (canonical order).
        """
        costs = OrderedDict()
        for path, shapes in layers.items():
            names = [s.name for s in canonical_order(shapes)]
            costs[path] = OrderedDict(
                zip(names, self.unit_costs(path, names)))
        if not costs:
            raise ValueError('no layers to weigh')
        mean = sum(sum(row.values()) for row in costs.values()) / len(costs)
        return OrderedDict(
            (path, OrderedDict((s, c / mean) for s, c in row.items()))
            for path, row in costs.items())

    # ------------------------------------------------------------------
    def to_dict(self) -> Dict[str, Any]:
        """The JSON layout of the file."""
        data = OrderedDict(format=COST_TABLE_FORMAT, version=1, unit=_UNIT)
        data.update(self.meta)
        data['layers'] = self.layers
        return data

    def save(self, path: str) -> None:
        """Write the table as JSON.

        Args:
            path (str): Output file.
        """
        folder = os.path.dirname(os.path.abspath(path))
        os.makedirs(folder, exist_ok=True)
        with open(path, 'w') as f:
            json.dump(self.to_dict(), f, indent=1)
            f.write('\n')

    @classmethod
    def load(cls, path: str) -> 'ShapeCostTable':
        """Read and check a table file.

        Args:
            path (str): A file written by :meth:`save`.

        Returns:
            ShapeCostTable: The table.

        Raises:
            FileNotFoundError: No such file.
            ValueError: Not JSON, not a cost table, or a bad entry (the
                message names the file and the layer).
        """
        path = os.fspath(path)
        if not os.path.isfile(path):
            raise FileNotFoundError(f'{path}: cost table not found')
        try:
            with open(path) as f:
                data = json.load(f)
        except (ValueError, UnicodeDecodeError) as err:
            raise ValueError(f'{path}: not a JSON cost table ({err})') \
                from err
        if not isinstance(data, dict) or \
                data.get('format') != COST_TABLE_FORMAT:
            raise ValueError(
                f'{path}: expected a JSON object with "format": '
                f'"{COST_TABLE_FORMAT}" (written by tools/analysis/'
                f'measure_shape_cost.py)')
        if data.get('version') != 1:
            raise ValueError(f'{path}: unsupported cost table version '
                             f'{data.get("version")!r}, expected 1')
        meta = {
            k: v
            for k, v in data.items()
            if k not in ('format', 'version', 'unit', 'layers')
        }
        return cls(data.get('layers'), meta, source=path)

    @classmethod
    def coerce(cls, table: Any) -> 'ShapeCostTable':
        """A table from a table, a file path or a ``layers`` mapping."""
        if isinstance(table, ShapeCostTable):
            return table
        if isinstance(table, (str, os.PathLike)):
            return cls.load(table)
        return cls(table)


def _device_name(device: torch.device) -> str:
    if device.type == 'cuda':
        return f'cuda: {torch.cuda.get_device_name(device)}'
    return (f'cpu: {platform.processor() or platform.machine()}, '
            f'{torch.get_num_threads()} torch threads')


def measure_shape_costs(geometries: Mapping[str, LayerGeometry],
                        shapes: Sequence[str],
                        batch: int = 1,
                        device: Optional[str] = None,
                        repeats: int = 5,
                        warmup: int = 2,
                        statistic: str = 'min') -> ShapeCostTable:
    """Time each shape of each CAKES layer on this device.

    For every layer and shape, a convolution with the layer's input
    channels, its full width of output channels and that kernel runs on a
    clip at the layer's output resolution (stride 1, ``same`` padding, so
    every shape sees the same positions); the fastest (or median) forward
    time over ``repeats`` rounds, divided by the width, is the cost of one
    output channel. Shapes are timed round-robin, so a busy phase of a
    shared machine hits them alike; the minimum is the default because
    other processes only ever add time (on the shared 2-core machine one
    median of 15 rounds came out 50x too slow, the minimum did not).

    Args:
        geometries (Mapping[str, LayerGeometry]): The layers, e.g. from
            :func:`~cakes_mmaction.search.searched_geometry`.
        shapes (Sequence[str]): Shapes to time (each layer's dense
            kernel, the reference of relative budgets, is added).
        batch (int): Clips per forward; the cost is per clip.
            Defaults to 1.
        device (str, optional): Defaults to CUDA when available, else CPU.
        repeats (int): Timed rounds. Defaults to 5.
        warmup (int): Untimed rounds first. Defaults to 2.
        statistic (str): ``'min'`` or ``'median'`` over the rounds.
            Defaults to ``'min'``.

    Returns:
        ShapeCostTable: Seconds per output channel per clip.
    """
    from ..analysis.timing import interleaved_times
    if statistic not in ('min', 'median'):
        raise ValueError(f"statistic must be 'min' or 'median', got "
                         f'{statistic!r}')
    reduce = min if statistic == 'min' else statistics.median
    dev = torch.device(device or ('cuda' if torch.cuda.is_available()
                                  else 'cpu'))
    names = [s.name for s in canonical_order(shapes)]
    layers = OrderedDict()
    # The dense kernel too: budgets in percent refer to the all-dense net.
    names = [s.name for s in canonical_order(names + [
        'x'.join(map(str, g.kernel_size)) for g in geometries.values()])]
    with torch.no_grad():
        for path, g in geometries.items():
            x = torch.randn((batch, g.in_channels) + tuple(g.out_thw),
                            device=dev)
            convs = OrderedDict()
            for name in names:
                shape = parse_shape(name)
                convs[name] = nn.Conv3d(
                    g.in_channels,
                    g.out_channels,
                    shape.dims,
                    padding=shape.padding,
                    groups=g.groups,
                    bias=g.bias).to(dev).eval()
            times = interleaved_times(
                {n: (lambda c=c: c(x))
                 for n, c in convs.items()}, dev, warmup, repeats)
            layers[path] = OrderedDict(
                (n, reduce(t) / (g.out_channels * batch))
                for n, t in times.items())
    meta = OrderedDict(
        device=_device_name(dev),
        torch=torch.__version__,
        method=f'{statistic} of {repeats} round-robin forward timings of a '
        f'stride-1 conv with the full width at the output resolution, '
        f'batch {batch}, divided by width x batch',
        geometry={
            p: dict(
                in_channels=g.in_channels,
                out_channels=g.out_channels,
                out_thw=list(g.out_thw))
            for p, g in geometries.items()
        })
    return ShapeCostTable(layers, meta)


def measure_config_costs(config: Any,
                         input_shape: Sequence[int] = (1, 3, 8, 224, 224),
                         cfg_options: Optional[dict] = None,
                         **kwargs) -> ShapeCostTable:
    """Measure the cost table of the CAKES layers of a model config.

    A search config (supernet backbone) is measured for its candidate
    shapes, any other CAKES config for the shapes of its assignment; the
    layer geometry comes from a shape-only forward on the ``meta`` device.

    Args:
        config (str | Config): Model config (search or training).
        input_shape (Sequence[int]): ``(N, C, T, H, W)``; ``N`` clips
            per timed forward. Defaults to ``(1, 3, 8, 224, 224)``.
        cfg_options (dict, optional): Overrides, as ``--cfg-options``.
            Defaults to None.
        **kwargs: ``device``, ``repeats``, ``warmup`` of
            :func:`measure_shape_costs`.

    Returns:
        ShapeCostTable: With ``meta['config']`` and ``input_shape``.
    """
    from mmaction.registry import MODELS
    from mmengine.config import Config

    from ..layers.sites import trace_geometry
    from .export import searched_geometry
    cfg = Config.fromfile(config) if isinstance(config,
                                                (str, os.PathLike)) else config
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    backbone_cfg = cfg.model.get('backbone', cfg.model)
    shape = tuple(int(v) for v in input_shape)
    if backbone_cfg.get('type') == 'ResNet3dCAKESSupernet':
        from ..shapes import SHAPE_SETS
        shapes = backbone_cfg.get('shapes', 'video')
        shapes = list(SHAPE_SETS.get(shapes, shapes)) if isinstance(
            shapes, str) else list(shapes)
        geometries = searched_geometry(backbone_cfg, dict(uniform=shapes),
                                       shape)
    else:
        with torch.device('meta'):
            backbone = MODELS.build(backbone_cfg)
        geometries = trace_geometry(backbone, shape)
        shapes = list(backbone.assignment.shapes)
    table = measure_shape_costs(geometries, shapes, batch=shape[0], **kwargs)
    table.meta['config'] = getattr(cfg, 'filename', None)
    table.meta['input_shape'] = list(shape)
    return table
