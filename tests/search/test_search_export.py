import itertools
import os
from collections import OrderedDict

import pytest
import torch
from mmaction.registry import MODELS

from cakes_mmaction.assignment import Assignment, AssignmentError
from cakes_mmaction.checkpoints.safe_load import UnsafeCheckpointError
from cakes_mmaction.cost import LayerGeometry, capture_geometry, cost_table
from cakes_mmaction.search import (export_assignment, parse_budget,
                                   searched_geometry, select_budget,
                                   select_top_c)

TINY = dict(depth=50, stage_blocks=(1, 1, 1, 1), base_channels=8)


def test_known_gammas_export_known_counts():
    model = MODELS.build(
        dict(type='ResNet3dCAKESSupernet', scheme='P', **TINY))
    expected = OrderedDict()
    g = torch.Generator().manual_seed(0)
    for i, (path, layer) in enumerate(model.supernet_layers.items()):
        c = layer.width
        # Designed counts: shape k gets counts[k] candidates far above the
        # rest (with random signs, since only |gamma| counts).
        counts = [c // 2, c // 4 + i % 2, c - c // 2 - c // 4 - i % 2]
        values = torch.rand(3 * c, generator=g) * 0.1
        for k, n in enumerate(counts):
            values[k * c:k * c + n] += 1.0
        signs = torch.randint(0, 2, (3 * c, ), generator=g) * 2 - 1
        with torch.no_grad():
            layer.bn.weight.copy_(values * signs)
        expected[path] = dict(zip(layer.shapes, counts))
    assignment = select_top_c(model.importance())
    assert assignment.to_layers() == expected
    assert assignment.shapes == ('3x3x3', '1x3x3', '3x1x1')


def test_ties_never_keep_more_than_c():
    # All gammas equal (an untrained supernet): exactly C, first shape.
    ones = {'layer1.0.conv2': {s: torch.ones(6) for s in ('3x1x1', '3x3x3')}}
    assert select_top_c(ones).to_layers() == {
        'layer1.0.conv2': {'3x3x3': 6, '3x1x1': 0}}
    # Ties across the cut: 4 candidates at 0.5 compete for 2 places.
    scores = {'l': {'1x3x3': [0.9, 0.5, 0.1], '3x1x1': [0.5, 0.5, 0.5]}}
    result = select_top_c(scores)
    assert result.width('l') == 3
    assert result['l'] == {'1x3x3': 2, '3x1x1': 1}
    with pytest.raises(AssignmentError, match='NaN'):
        select_top_c({'l': {'1x3x3': [float('nan')], '3x1x1': [1.0]}})
    with pytest.raises(AssignmentError, match='same number'):
        select_top_c({'l': {'1x3x3': [1.0, 2.0], '3x1x1': [1.0]}})


def geometries():
    return OrderedDict(
        (f'layer{i}.0.conv2',
         LayerGeometry(f'layer{i}.0.conv2', c, c, (4, s, s)))
        for i, (c, s) in enumerate([(4, 8), (6, 4), (8, 2)], start=1))


def random_importances(seed=0):
    g = torch.Generator().manual_seed(seed)
    return OrderedDict((path, {
        s: torch.rand(geo.out_channels, generator=g)
        for s in ('3x3x3', '1x3x3', '3x1x1')
    }) for path, geo in geometries().items())


def flops(assignment):
    return cost_table(assignment, geometries())[-1]['flops']


@pytest.mark.parametrize('metric', ['flops', 'params'])
def test_budget_is_met_widths_kept_and_cost_reported(metric):
    imp = random_importances()
    top = select_top_c(imp)
    table = cost_table(top, geometries())[-1]
    top_cost, ref = table[metric], table['ref_' + metric]
    # every channel 3x1x1: volume 3 (the geometry has no bias)
    cheapest = sum(geo.out_channels * geo.in_channels * 3 *
                   (geo.positions if metric == 'flops' else 1)
                   for geo in geometries().values())
    previous = None
    for fraction in (0.9, 0.6, 0.3, 0.1):
        budget = int(cheapest + fraction * (top_cost - cheapest))
        result = select_budget(imp, geometries(), budget, metric)
        reached = cost_table(result, geometries())[-1][metric]
        assert reached <= budget
        assert result.meta['budget'] == dict(
            metric=metric, budget=budget, reached=reached)
        for path, geo in geometries().items():
            assert result.width(path) == geo.out_channels
        if previous is not None:  # tighter budget, fewer 3x3x3 channels
            assert result.totals()['3x3x3'] <= previous.totals()['3x3x3']
        previous = result
    # A loose budget changes nothing: the paper's rule already fits.
    assert select_budget(imp, geometries(), ref, metric) == top
    assert select_budget(imp, geometries(), cheapest, metric).totals() == {
        '3x3x3': 0, '1x3x3': 0, '3x1x1': 18}
    with pytest.raises(AssignmentError, match='cannot be met'):
        select_budget(imp, geometries(), cheapest - 1, metric)


def test_budget_keeps_the_most_important_per_unit_cost():
    # One layer, two shapes; 3x3x3 costs 3x the 1x3x3 per channel. With
    # room for exactly one 3x3x3 channel, the greedy keeps the 3x3x3
    # candidate whose loss per cost saved is largest.
    geo = {'l': LayerGeometry('l', 2, 3, (1, 1, 1))}
    imp = {'l': {'3x3x3': [0.9, 0.8, 0.1], '1x3x3': [0.3, 0.2, 0.05]}}
    assert select_top_c(imp)['l'] == {'3x3x3': 2, '1x3x3': 1}
    budget = 2 * (27 * 1 + 9 * 2)
    result = select_budget(imp, geo, budget, 'params')
    assert result['l'] == {'3x3x3': 1, '1x3x3': 2}
    # brute force over subsets of the same cost: the greedy's choice is
    # the best one here
    cands = [(0.9, 27), (0.8, 27), (0.1, 27), (0.3, 9), (0.2, 9), (0.05, 9)]
    best = max((sum(cands[i][0] for i in keep), keep)
               for keep in itertools.combinations(range(6), 3)
               if 2 * sum(cands[i][1] for i in keep) <= budget)
    assert sorted(best[1]) == [0, 3, 4]


def test_parse_budget():
    assert parse_budget('40%', 1000) == 400
    assert parse_budget('1.5G', 1) == 1_500_000_000
    assert parse_budget('250k', 1) == 250_000
    assert parse_budget(3e6, 1) == 3_000_000
    for bad in ('-5', 'lots', '0', '10 %%'):
        with pytest.raises(ValueError):
            parse_budget(bad, 1000)


def test_searched_geometry_is_that_of_the_searched_network():
    supernet_cfg = dict(type='ResNet3dCAKESSupernet', scheme='C', **TINY)
    model = MODELS.build(supernet_cfg)
    top_c = select_top_c(model.importance())
    found = searched_geometry(supernet_cfg, top_c, (1, 3, 4, 32, 32))
    searched = MODELS.build(
        dict(type='ResNet3dCAKES', assignment=top_c, **TINY))
    assert found == capture_geometry(searched, (1, 3, 4, 32, 32))
    assert [g.out_channels for g in found.values()] == [8, 16, 32, 64]


def test_exported_assignment_round_trips(tmp_path):
    imp = random_importances(3)
    result = select_top_c(imp)
    result.save(str(tmp_path / 'a.json'))
    assert Assignment.load(str(tmp_path / 'a.json')) == result


class Payload:
    """A pickle that would run code on load."""

    def __reduce__(self):
        return (os.system, ('echo pwned > "$PWNED_FILE"', ))


def test_export_refuses_a_checkpoint_that_runs_code(tmp_path, monkeypatch):
    checkpoint = str(tmp_path / 'evil.pth')
    torch.save(dict(state_dict={}, payload=Payload()), checkpoint)
    marker = tmp_path / 'pwned'
    monkeypatch.setenv('PWNED_FILE', str(marker))
    with pytest.raises(UnsafeCheckpointError):
        export_assignment('configs/search/cakes_search_c_demo.py',
                          checkpoint)
    assert not marker.exists()
