"""The measured per-shape cost table and its use by the C-scheme penalty."""
import json
from collections import OrderedDict

import pytest
import torch
from mmaction.registry import MODELS

from cakes_mmaction.cost import LayerGeometry
from cakes_mmaction.search import ShapeCostTable, measure_shape_costs

TINY = dict(depth=50, stage_blocks=(1, 1, 1, 1), base_channels=8)


def test_measure_save_load_round_trip(tmp_path):
    geos = OrderedDict(
        (p, LayerGeometry(p, 8, 8, (2, 6, 6)))
        for p in ('layer1.0.conv2', 'layer2.0.conv2'))
    table = measure_shape_costs(geos, ['1x3x3', '3x1x1'], repeats=2,
                                device='cpu')
    for row in table.layers.values():
        # The dense kernel is measured too: relative budgets refer to it.
        assert list(row) == ['3x3x3', '1x3x3', '3x1x1']
        assert all(v > 0 for v in row.values())
    path = str(tmp_path / 'cost.json')
    table.save(path)
    loaded = ShapeCostTable.load(path)
    assert loaded.layers == table.layers
    assert loaded.meta['device'].startswith('cpu')
    weights = loaded.penalty_weights('layer1.0.conv2', ['3x1x1', '1x3x3'])
    assert list(weights) == ['1x3x3', '3x1x1']
    assert sum(weights.values()) == pytest.approx(1.0)
    row = loaded.layers['layer1.0.conv2']
    assert weights['1x3x3'] == pytest.approx(
        row['1x3x3'] / (row['1x3x3'] + row['3x1x1']))


def test_bad_tables_name_the_file_and_layer(tmp_path):
    with pytest.raises(FileNotFoundError, match='nope.json'):
        ShapeCostTable.load(str(tmp_path / 'nope.json'))
    bad = tmp_path / 'bad.json'
    bad.write_text('{not json')
    with pytest.raises(ValueError, match='bad.json: not a JSON cost table'):
        ShapeCostTable.load(str(bad))
    bad.write_text(json.dumps({'layers': {}}))
    with pytest.raises(ValueError, match='"format": "cakes-shape-cost"'):
        ShapeCostTable.load(str(bad))
    bad.write_text(json.dumps({
        'format': 'cakes-shape-cost', 'version': 1,
        'layers': {'layer1.0.conv2': {'3x3x3': -1.0}}}))
    with pytest.raises(ValueError, match=r"bad.json: layer 'layer1.0.conv2'"
                       r', shape 3x3x3: the cost must be a positive'):
        ShapeCostTable.load(str(bad))
    table = ShapeCostTable({'a': {'3x3x3': 1.0}}, source='t.json')
    with pytest.raises(KeyError, match="t.json: no measured cost for layer "
                       "'b'"):
        table.unit_costs('b', ['3x3x3'])
    with pytest.raises(KeyError, match="layer 'a' has no cost for shape "
                       '1x3x3'):
        table.unit_costs('a', ['1x3x3'])


def _recognizer(sparsity):
    return MODELS.build(
        dict(
            type='CAKESSearchRecognizer',
            sparsity=sparsity,
            backbone=dict(type='ResNet3dCAKESSupernet', scheme='C', **TINY),
            cls_head=dict(type='I3DHead', num_classes=4, in_channels=256),
            data_preprocessor=dict(
                type='ActionDataPreprocessor', format_shape='NCTHW'),
            _scope_='mmaction'))


def test_penalty_uses_the_measured_weights(tmp_path):
    plain = _recognizer(dict(s=1.0))
    layers = plain.supernet_layers
    # 3x1x1 measured as the most expensive shape in every layer.
    costs = {'3x3x3': 4.0, '1x3x3': 1.0, '3x1x1': 5.0}
    table = ShapeCostTable(OrderedDict((p, costs) for p in layers))
    path = str(tmp_path / 'cost.json')
    table.save(path)
    model = _recognizer(dict(s=1.0, cost_table=path))
    model.load_state_dict(plain.state_dict())
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for layer in model.supernet_layers.values():
            layer.bn.weight.copy_(torch.randn(layer.out_channels, generator=g))
    expected = 0.0
    for layer in model.supernet_layers.values():
        for i, shape in enumerate(layer.shapes):
            block = layer.bn.weight[i * layer.width:(i + 1) * layer.width]
            expected += costs[shape] / 10.0 * block.abs().sum().item()
    assert model.sparsity_loss().item() == pytest.approx(expected, rel=1e-5)
    loss = model.sparsity_loss()
    loss.backward()
    layer = next(iter(model.supernet_layers.values()))
    grad = layer.bn.weight.grad.view(3, -1).abs()
    assert torch.allclose(grad[2], torch.full_like(grad[2], 0.5))
    assert torch.allclose(grad[1], torch.full_like(grad[1], 0.1))
    # A table without every searched layer fails when the model is built.
    partial = ShapeCostTable({next(iter(layers)): costs})
    partial.save(path)
    with pytest.raises(KeyError, match='no measured cost for layer'):
        _recognizer(dict(s=1.0, cost_table=path))


def test_network_scope_pulls_costlier_layers_harder(tmp_path):
    plain = _recognizer(dict(s=1.0))
    paths = list(plain.supernet_layers)
    # The first layer's channels cost four times the others'.
    costs = OrderedDict(
        (p, {'3x3x3': 6.0 * k, '1x3x3': 3.0 * k, '3x1x1': 1.0 * k})
        for p, k in zip(paths, [4.0] + [1.0] * (len(paths) - 1)))
    path = str(tmp_path / 'cost.json')
    ShapeCostTable(costs).save(path)
    by_layer = _recognizer(dict(s=1.0, cost_table=path))
    by_net = _recognizer(
        dict(s=1.0, cost_table=path, cost_scope='network'))
    assert by_net.sparsity['cost_scope'] == 'network'
    for model in (by_layer, by_net):
        model.load_state_dict(plain.state_dict())
        with torch.no_grad():
            for layer in model.supernet_layers.values():
                layer.bn.weight.fill_(1.0)
    by_layer.sparsity_loss().backward()
    by_net.sparsity_loss().backward()
    mean_sum = 10.0 * (4.0 + len(paths) - 1) / len(paths)
    for p, k in zip(paths, [4.0] + [1.0] * (len(paths) - 1)):
        grad_layer = by_layer.supernet_layers[p].bn.weight.grad.view(3, -1)
        grad_net = by_net.supernet_layers[p].bn.weight.grad.view(3, -1)
        # Per layer: the same 6 : 3 : 1 split summing to 1 in every layer.
        assert torch.allclose(grad_layer[:, 0],
                              torch.tensor([0.6, 0.3, 0.1]))
        # Per network: the split scaled by the layer's cost over the mean.
        expected = torch.tensor([6.0, 3.0, 1.0]) * k / mean_sum
        assert torch.allclose(grad_net[:, 0], expected)
    with pytest.raises(ValueError, match='give a cost_table'):
        _recognizer(dict(s=1.0, cost_scope='network'))
    with pytest.raises(ValueError, match='cost_scope must be one of'):
        _recognizer(dict(s=1.0, cost_table=path, cost_scope='global'))


def test_bad_statistic():
    geos = {'l': LayerGeometry('l', 2, 2, (1, 4, 4))}
    with pytest.raises(ValueError, match="statistic must be 'min' or "
                       "'median'"):
        measure_shape_costs(geos, ['1x3x3', '3x1x1'], statistic='mean')
