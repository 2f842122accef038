import itertools
import random

import pytest
import torch
import torch.nn as nn
from mmengine.analysis import FlopAnalyzer, parameter_count

from cakes_mmaction.cost import (BranchCost, LayerGeometry, assignment_cost,
                                 branch_cost, capture_geometry, cost_table,
                                 dense_cost, dense_network_cost, layer_cost,
                                 reference_counts)
from cakes_mmaction.layers import CAKESConv3d
from cakes_mmaction.models import ResNet3dCAKES


def _mmengine_flops(module, x, path=''):
    analyzer = FlopAnalyzer(module, (x, ))
    analyzer.unsupported_ops_warnings(False)
    analyzer.uncalled_modules_warnings(False)
    return analyzer.by_module()[path]


@pytest.mark.parametrize('shape,stride,groups,bias', [
    ('3x3x3', (1, 1, 1), 1, False),
    ('1x3x3', (1, 2, 2), 1, True),
    ('3x1x1', (2, 1, 1), 2, False),
    ('1x1x3', (2, 2, 2), 1, True),
    ('1x1x1', (1, 1, 1), 1, False),
])
def test_branch_cost_matches_torch_and_mmengine(shape, stride, groups, bias):
    dims = tuple(int(d) for d in shape.split('x'))
    conv = nn.Conv3d(4, 6, dims, stride=stride, groups=groups, bias=bias,
                     padding=tuple(d // 2 for d in dims))
    x = torch.zeros(1, 4, 5, 9, 7)
    out = conv(x)
    cost = branch_cost(4, 6, shape, out.shape[2:], groups=groups, bias=bias)
    assert cost.params == sum(p.numel() for p in conv.parameters())
    assert cost.flops == _mmengine_flops(conv, x)


def test_layer_and_reference_cost():
    geo = LayerGeometry('l', 8, 12, (2, 3, 4))
    costs = layer_cost(geo, {'3x3x3': 4, '1x3x3': 0, '3x1x1': 8})
    assert list(costs) == ['3x3x3', '1x3x3', '3x1x1']
    assert costs['1x3x3'] == BranchCost()
    assert costs['3x1x1'] == branch_cost(8, 8, '3x1x1', (2, 3, 4))
    assert reference_counts(geo) == {'3x3x3': 12}
    assert reference_counts(LayerGeometry('l', 8, 12, (2, 3, 4),
                                          (5, 5, 5))) == {'5x5x5': 12}
    both = costs['3x3x3'] + costs['3x1x1']
    assert both.params == 8 * 4 * 27 + 8 * 8 * 3
    table = assignment_cost({'l': {'3x3x3': 12}}, {'l': geo})
    assert table['l']['3x3x3'] == branch_cost(8, 12, '3x3x3', (2, 3, 4))


def _random_counts(width, shapes, rng):
    cuts = sorted(rng.randint(0, width) for _ in shapes[1:])
    return dict(zip(shapes, [b - a for a, b in zip([0] + cuts,
                                                   cuts + [width])]))


def _tiny_backbone(seed, **kwargs):
    rng = random.Random(seed)
    probe = ResNet3dCAKES(assignment=dict(uniform=['3x3x3']), **kwargs)
    layers = {
        p: _random_counts(m.out_channels, ['3x3x3', '1x3x3', '3x1x1'], rng)
        for p, m in probe.cakes_layers.items()
    }
    return ResNet3dCAKES(assignment=dict(layers=layers), **kwargs)


def test_every_cakes_layer_matches_mmengine():
    # Temporal strides, dilation and spatial strides change out_thw.
    net = _tiny_backbone(
        0, depth=18, base_channels=8, temporal_strides=(1, 2, 1, 2),
        dilations=(1, 1, 2, 1))
    net.eval()  # ResNet3d.train() returns None: no chaining
    shape = (2, 3, 8, 32, 32)
    x = torch.randn(shape)
    geometries = capture_geometry(net, shape)
    assert list(geometries) == list(net.cakes_layers)
    analyzer = FlopAnalyzer(net, (x, ))
    analyzer.unsupported_ops_warnings(False)
    analyzer.uncalled_modules_warnings(False)
    by_module = analyzer.by_module()
    params = parameter_count(net)
    rows = cost_table(net.assignment, geometries)
    for row in rows[:-1]:
        path = row['path']
        # FLOPs of cost.py are per sample; mmengine counts the batch.
        assert row['flops'] * shape[0] == by_module[path + '.conv'], path
        assert row['params'] == params[path + '.conv'], path
        layer = net.cakes_layers[path]
        assert {s: c.flops for s, c in layer.cost(
            geometries[path].out_thw).items()} == row['flops_by_shape']
        dense = nn.Conv3d(layer.in_channels, layer.out_channels, 3)
        assert row['ref_params'] == dense.weight.numel()
    assert rows[-1]['flops'] == sum(r['flops'] for r in rows[:-1])
    assert rows[-1]['ref_params'] == sum(r['ref_params'] for r in rows[:-1])


def test_capture_geometry_shapes():
    net = _tiny_backbone(1, depth=18, base_channels=8,
                         temporal_strides=(1, 2, 1, 1))
    net.train()
    geometries = capture_geometry(net, (3, 8, 32, 32))  # 4-tuple: batch 1
    assert net.training  # the mode is restored
    expect = {'layer1': (8, 8, 8), 'layer2': (4, 4, 4), 'layer3': (4, 2, 2),
              'layer4': (4, 1, 1)}
    for path, geo in geometries.items():
        assert geo.out_thw == expect[path.split('.')[0]], path
        layer = net.cakes_layers[path]
        assert (geo.in_channels, geo.out_channels) == (layer.in_channels,
                                                       layer.out_channels)
        assert geo.kernel_size == (3, 3, 3) and not geo.bias
    for h in itertools.chain.from_iterable(
            m._forward_hooks.values() for m in net.modules()):
        raise AssertionError(f'hook left behind: {h}')  # pragma: no cover


def test_capture_geometry_of_a_bare_layer():
    layer = CAKESConv3d(4, {'3x3x3': 2, '3x1x1': 3}, spatial_stride=2,
                        bias=True)
    geo = capture_geometry(layer, (1, 4, 4, 6, 6))
    assert geo[''] == LayerGeometry('', 4, 5, (4, 3, 3), (3, 3, 3), 1, True)


def test_dense_cost_of_layers():
    first = LayerGeometry('a', 8, 12, (2, 3, 4))
    second = LayerGeometry('b', 12, 6, (1, 3, 3), (3, 3, 3), 2)
    # Default: each layer's own k x k x k, the row reference of cost_table.
    rows = cost_table({'a': {'1x3x3': 12}, 'b': {'3x1x1': 6}},
                      {'a': first, 'b': second})
    assert dense_cost([first, second]) == BranchCost(
        rows[-1]['ref_params'], rows[-1]['ref_flops'])
    assert dense_cost([first], '1x3x3') == branch_cost(8, 12, '1x3x3',
                                                       (2, 3, 4))
    assert dense_cost([]) == BranchCost()


def test_dense_network_cost_equals_the_built_dense_twin():
    kwargs = dict(depth=18, base_channels=8, temporal_strides=(1, 2, 1, 1))
    net = _tiny_backbone(2, **kwargs)
    shape = (2, 3, 4, 16, 16)
    geometries = capture_geometry(net, shape)

    def whole(backbone):
        backbone.eval()
        analyzer = FlopAnalyzer(backbone, (torch.zeros(shape), ))
        analyzer.unsupported_ops_warnings(False)
        analyzer.uncalled_modules_warnings(False)
        return BranchCost(parameter_count(backbone)[''], analyzer.total())

    total = cost_table(net.assignment, geometries)[-1]
    cakes = BranchCost(total['params'], total['flops'] * shape[0])
    for shape_name in (None, '1x3x3'):
        twin = ResNet3dCAKES(
            assignment=dict(uniform=[shape_name or '3x3x3']), **kwargs)
        assert dense_network_cost(whole(net), cakes, geometries.values(),
                                  shape_name,
                                  batch=shape[0]) == whole(twin), shape_name
