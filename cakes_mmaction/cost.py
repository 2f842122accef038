"""The one cost formula of the project: parameters and multiply-adds.

Conventions follow ``mmengine.analysis`` (and fvcore): "FLOPs" are
multiply-adds, a convolution's bias is not counted in FLOPs, and the cost of
a branch with ``n`` outputs over ``C_in`` inputs with kernel volume ``|k|``
is ``params = C_in * n * |k|`` and ``flops = params * T_out * H_out * W_out``.

Everything that prints or compares a cost (``CAKESConv3d.cost``, the FLOP
tool, budget export, file metadata, the benchmark) calls this module.

The formulas are pure arithmetic on :class:`LayerGeometry`: this module
imports no torch and walks no model. The geometry of a built model comes
from :func:`cakes_mmaction.layers.sites.trace_geometry` (still
importable from here as ``capture_geometry``), and whole-model counts from
:mod:`cakes_mmaction.analysis.complexity`.
"""
from collections import OrderedDict
from dataclasses import dataclass
from typing import (Any, Dict, Iterable, List, Mapping, Optional, Sequence,
                    Tuple)

from .shapes import parse_shape

__all__ = [  # noqa: F822 (capture_geometry: see __getattr__)
    'BranchCost', 'LayerGeometry', 'branch_cost', 'layer_cost',
    'assignment_cost', 'reference_counts', 'capture_geometry', 'cost_table',
    'dense_cost', 'dense_network_cost'
]


@dataclass(frozen=True)
class BranchCost:
    """Cost of one branch (or a sum of branches).

    Args:
        params (int): Number of parameters.
        flops (int): Multiply-adds for one sample.
    """

    params: int = 0
    flops: int = 0

    def __add__(self, other: 'BranchCost') -> 'BranchCost':
        return BranchCost(self.params + other.params,
                          self.flops + other.flops)


@dataclass(frozen=True)
class LayerGeometry:
    """What the cost of a CAKES layer depends on, besides its counts.

    Args:
        path (str): Module path of the layer (``'layer1.0.conv2'``).
        in_channels (int): Input channels (all branches see all of them).
        out_channels (int): Output width.
        out_thw (tuple[int, int, int]): Output ``(T, H, W)`` for the input
            the geometry was captured with.
        kernel_size (tuple[int, int, int]): The dense kernel (k, k, k).
        groups (int): Convolution groups. Defaults to 1.
        bias (bool): Whether branches have a bias. Defaults to False.
    """

    path: str
    in_channels: int
    out_channels: int
    out_thw: Tuple[int, int, int]
    kernel_size: Tuple[int, int, int] = (3, 3, 3)
    groups: int = 1
    bias: bool = False

    @property
    def positions(self) -> int:
        """int: Output positions ``T * H * W``."""
        t, h, w = self.out_thw
        return t * h * w


def branch_cost(in_channels: int,
                out_channels: int,
                shape: str,
                out_thw: Sequence[int],
                groups: int = 1,
                bias: bool = False) -> BranchCost:
    """Cost of one convolution branch.

    Args:
        in_channels (int): Input channels.
        out_channels (int): Output channels of this branch.
        shape (str): Kernel shape ``'TxHxW'``.
        out_thw (Sequence[int]): Output ``(T, H, W)``.
        groups (int): Convolution groups. Defaults to 1.
        bias (bool): Count a bias in the parameters. Defaults to False.

    Returns:
        BranchCost: Parameters and multiply-adds.
    """
    volume = parse_shape(shape).volume
    weights = (in_channels // groups) * out_channels * volume
    t, h, w = out_thw
    params = weights + (out_channels if bias else 0)
    return BranchCost(params=params, flops=weights * t * h * w)


def layer_cost(geometry: LayerGeometry,
               counts: Mapping[str, int]) -> Dict[str, BranchCost]:
    """Cost of each branch of a CAKES layer.

    Args:
        geometry (LayerGeometry): The layer's geometry.
        counts (Mapping[str, int]): Output channels per shape.

    Returns:
        dict[str, BranchCost]: Cost per shape (zero counts cost 0).
    """
    return OrderedDict(
        (shape,
         branch_cost(geometry.in_channels, n, shape, geometry.out_thw,
                     geometry.groups, geometry.bias) if n else BranchCost())
        for shape, n in counts.items())


def reference_counts(geometry: LayerGeometry) -> Dict[str, int]:
    """Counts of the dense layer a CAKES layer replaces (all k x k x k)."""
    t, h, w = geometry.kernel_size
    return {f'{t}x{h}x{w}': geometry.out_channels}


def dense_cost(geometries: Iterable[LayerGeometry],
               shape: Optional[str] = None) -> BranchCost:
    """Cost of layers with every output channel of one dense shape.

    Args:
        geometries (Iterable[LayerGeometry]): The layers.
        shape (str, optional): The kernel shape of every channel, e.g.
            ``'1x3x3'``. Defaults to each layer's own ``k x k x k``, the
            dense convolution a CAKES layer replaces.

    Returns:
        BranchCost: Summed over the layers (FLOPs for one sample).
    """
    total = BranchCost()
    for geometry in geometries:
        counts = (reference_counts(geometry) if shape is None else
                  {shape: geometry.out_channels})
        total = sum(layer_cost(geometry, counts).values(), total)
    return total


def dense_network_cost(network: BranchCost,
                       cakes: BranchCost,
                       geometries: Iterable[LayerGeometry],
                       shape: Optional[str] = None,
                       batch: int = 1) -> BranchCost:
    """A whole network's cost with its CAKES layers made dense.

    Everything outside the CAKES layers stays as it is, so the dense twin
    of the same skeleton costs the network, minus its CAKES layers, plus
    the same layers dense; no second network is built or counted.

    Args:
        network (BranchCost): The whole network, FLOPs for ``batch``
            samples.
        cakes (BranchCost): Its CAKES layers, FLOPs for ``batch`` samples.
        geometries (Iterable[LayerGeometry]): Those CAKES layers.
        shape (str, optional): See :func:`dense_cost`. Defaults to each
            layer's ``k x k x k`` (the all-3x3x3 network).
        batch (int): Samples the FLOPs of ``network`` and ``cakes`` are
            for. Defaults to 1.

    Returns:
        BranchCost: The dense network's parameters and FLOPs for ``batch``
        samples.
    """
    dense = dense_cost(geometries, shape)
    return BranchCost(
        params=network.params - cakes.params + dense.params,
        flops=network.flops - cakes.flops + dense.flops * batch)


def assignment_cost(
    assignment: Mapping[str, Mapping[str, int]],
    geometries: Mapping[str, LayerGeometry],
) -> Dict[str, Dict[str, BranchCost]]:
    """Per-layer, per-shape cost of a whole assignment.

    Args:
        assignment (Mapping): ``{path: {shape: count}}`` (an
            :class:`~cakes_mmaction.assignment.Assignment` works).
        geometries (Mapping[str, LayerGeometry]): Geometry by path.

    Returns:
        dict: ``{path: {shape: BranchCost}}`` in assignment order.
    """
    return OrderedDict((path, layer_cost(geometries[path], counts))
                       for path, counts in assignment.items())


def cost_table(assignment: Mapping[str, Mapping[str, int]],
               geometries: Mapping[str, LayerGeometry]) -> List[dict]:
    """Rows of a per-layer cost table, with the all-k^3 reference.

    Args:
        assignment (Mapping): ``{path: {shape: count}}``.
        geometries (Mapping[str, LayerGeometry]): Geometry by path.

    Returns:
        list[dict]: One row per layer with ``path``, ``counts``,
        ``params``, ``flops``, ``flops_by_shape``, ``ref_params``,
        ``ref_flops``; the last row (``path='total'``) sums them.
    """
    rows = []
    total = dict(params=0, flops=0, ref_params=0, ref_flops=0)
    for path, counts in assignment.items():
        geometry = geometries[path]
        costs = layer_cost(geometry, counts)
        summed = sum(costs.values(), BranchCost())
        ref = dense_cost([geometry])
        rows.append(
            dict(
                path=path,
                counts=dict(counts),
                params=summed.params,
                flops=summed.flops,
                flops_by_shape={s: c.flops
                                for s, c in costs.items()},
                ref_params=ref.params,
                ref_flops=ref.flops))
        total['params'] += summed.params
        total['flops'] += summed.flops
        total['ref_params'] += ref.params
        total['ref_flops'] += ref.flops
    rows.append(dict(path='total', counts={}, flops_by_shape={}, **total))
    return rows


def __getattr__(name: str) -> Any:
    # Tracing runs a model, so it lives with the layers, which import this
    # module; the old name resolves to it on first use.
    if name == 'capture_geometry':
        from .layers.sites import trace_geometry
        return trace_geometry
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
