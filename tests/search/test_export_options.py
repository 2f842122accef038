"""Export beyond the paper: align, latency budgets, matched budgets and
the tool's --cfg-options."""
import os
import subprocess
import sys
from collections import OrderedDict

import pytest
import torch
from mmaction.registry import MODELS
from mmengine.config import Config

from cakes_mmaction.assignment import Assignment, AssignmentError
from cakes_mmaction.cost import LayerGeometry, cost_table
from cakes_mmaction.search import (ShapeCostTable, assignment_total,
                                   parse_latency_budget, select_budget,
                                   select_top_c)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
SHAPES = ('3x3x3', '1x3x3', '3x1x1')


def geometries():
    return OrderedDict(
        (f'layer{i}.0.conv2',
         LayerGeometry(f'layer{i}.0.conv2', c, c, (4, s, s)))
        for i, (c, s) in enumerate([(8, 8), (16, 4), (32, 2)], start=1))


def random_importances(seed=0):
    g = torch.Generator().manual_seed(seed)
    return OrderedDict((path, {
        s: torch.rand(geo.out_channels, generator=g)
        for s in SHAPES
    }) for path, geo in geometries().items())


def test_align_rounds_counts_and_keeps_widths():
    imp = random_importances()
    plain = select_top_c(imp)
    for align in (2, 4, 8):
        aligned = select_top_c(imp, align)
        assert aligned.meta['align'] == align
        for path, counts in aligned.items():
            assert sum(counts.values()) == plain.width(path)
            assert all(n % align == 0 for n in counts.values())
            # Whole blocks the paper's rule kept are never taken away.
            for s in SHAPES:
                assert counts[s] >= plain[path][s] // align * align
    # The extra block goes to the shape whose next candidates matter most.
    scores = {
        'l': {'1x3x3': [0.9, 0.8, 0.7, 0.6], '3x1x1': [0.95, 0.1, 0.1, 0.1]}
    }
    assert select_top_c(scores)['l'] == {'1x3x3': 3, '3x1x1': 1}
    assert select_top_c(scores, 2)['l'] == {'1x3x3': 4, '3x1x1': 0}
    with pytest.raises(AssignmentError, match=r"layer 'l': width 4 is not "
                       r'a multiple of align=3'):
        select_top_c(scores, 3)
    with pytest.raises(ValueError, match='align'):
        select_top_c(scores, 0)


def test_aligned_budget_moves_whole_blocks():
    imp = random_importances(1)
    top = select_top_c(imp, 4)
    ref = cost_table(top, geometries())[-1]['flops']
    result = select_budget(imp, geometries(), ref // 2, 'flops', align=4)
    assert result.meta['budget']['reached'] <= ref // 2
    assert all(n % 4 == 0 for c in result.values() for n in c.values())


def _table(costs_by_shape):
    return ShapeCostTable(
        OrderedDict((p, dict(costs_by_shape)) for p in geometries()))


def test_latency_budget_follows_the_measured_costs():
    imp = random_importances(2)
    top = select_top_c(imp)
    # A device on which 3x1x1 is the expensive small kernel (volume says
    # the opposite): a latency budget must shed 3x1x1, a FLOP budget
    # 1x3x3 first.
    table = _table({'3x3x3': 10.0, '1x3x3': 1.0, '3x1x1': 6.0})
    ref = assignment_total(top, geometries(), 'latency', table)
    lat = select_budget(imp, geometries(), 0.5 * ref, 'latency',
                        cost_table=table)
    assert lat.meta['budget']['metric'] == 'latency'
    assert lat.meta['budget']['reached'] <= 0.5 * ref
    assert lat.meta['budget']['reached'] == pytest.approx(
        assignment_total(lat, geometries(), 'latency', table))
    flops_top = cost_table(top, geometries())[-1]['flops']
    fl = select_budget(imp, geometries(), flops_top // 2, 'flops')
    assert lat.totals()['3x1x1'] < top.totals()['3x1x1']
    assert lat.totals()['1x3x3'] > fl.totals()['1x3x3']
    with pytest.raises(ValueError, match='cost_table'):
        select_budget(imp, geometries(), 1.0, 'latency')


def test_match_spends_the_budget():
    imp = random_importances(3)
    top = select_top_c(imp)
    top_flops = cost_table(top, geometries())[-1]['flops']
    ref = sum(
        cost_table({p: {'3x3x3': g.out_channels}}, geometries())[-1]['flops']
        for p, g in geometries().items())
    budget = (top_flops + ref) // 2  # above what the top-C rule costs
    plain = select_budget(imp, geometries(), budget, 'flops')
    assert plain == top
    matched = select_budget(imp, geometries(), budget, 'flops', match=True)
    reached = matched.meta['budget']['reached']
    assert matched.meta['budget']['match'] is True
    assert top_flops < reached <= budget
    # Within one move of the budget: the costliest single move is a
    # 3x1x1 -> 3x3x3 channel of the largest layer.
    biggest = max(g.in_channels * g.positions for g in geometries().values())
    assert budget - reached < 26 * biggest
    for path in geometries():
        assert matched.width(path) == top.width(path)


def test_parse_latency_budget():
    assert parse_latency_budget('50%', 0.01) == pytest.approx(0.005)
    assert parse_latency_budget('4ms', 1) == pytest.approx(0.004)
    assert parse_latency_budget('800us', 1) == pytest.approx(8e-4)
    assert parse_latency_budget(0.002, 1) == pytest.approx(0.002)
    for bad in ('fast', '-1ms', '0'):
        with pytest.raises(ValueError, match='latency budget'):
            parse_latency_budget(bad, 1)


def _checkpoint(tmp_path, config):
    torch.manual_seed(0)
    model = MODELS.build(Config.fromfile(os.path.join(ROOT, config)).model)
    # Another dataset: 12 classes instead of the config's 10.
    model.cls_head.fc_cls = torch.nn.Linear(
        model.cls_head.fc_cls.in_features, 12)
    with torch.no_grad():
        for layer in model.supernet_layers.values():
            layer.bn.weight.copy_(torch.randn(layer.out_channels))
    path = str(tmp_path / 'search.pth')
    torch.save(dict(state_dict=model.state_dict(), meta=dict()), path)
    return path


def test_export_tool_cfg_options_align_and_latency(tmp_path):
    config = 'configs/search/cakes_search_c_demo.py'
    checkpoint = _checkpoint(tmp_path, config)
    table = tmp_path / 'cost.json'
    run = dict(cwd=ROOT, capture_output=True, text=True, timeout=300)
    out = str(tmp_path / 'a.json')
    base = [sys.executable, 'tools/export_assignment.py', config, checkpoint,
            '--out', out, '--input-shape', '8', '32', '32']
    # Without --cfg-options the 12-class checkpoint does not fit.
    proc = subprocess.run(base, **run)
    assert proc.returncode != 0 and 'fc_cls' in proc.stderr
    proc = subprocess.run([
        sys.executable, 'tools/analysis/measure_shape_cost.py', config,
        '--shape', '1', '3', '8', '32', '32', '--repeats', '2', '--out',
        str(table)
    ], **run)
    assert proc.returncode == 0, proc.stderr[-3000:]
    proc = subprocess.run(base + [
        '--cost-table', str(table), '--latency-budget', '40%', '--align',
        '8', '--cfg-options', 'model.cls_head.num_classes=12'
    ], **run)
    assert proc.returncode == 0, proc.stderr[-3000:]
    exported = Assignment.load(out)
    meta = exported.meta
    assert meta['align'] == 8 and meta['budget']['metric'] == 'latency'
    assert meta['budget']['reached'] <= meta['budget']['budget']
    assert meta['budget']['budget'] == pytest.approx(
        0.4 * meta['reference']['latency'])
    assert all(n % 8 == 0 for c in exported.values() for n in c.values())
    assert 'modelled latency' in proc.stdout


def test_contribution_score_weighs_gamma_by_the_next_layer():
    model = MODELS.build(
        dict(type='ResNet3dCAKESSupernet', scheme='C', depth=50,
             stage_blocks=(1, 1, 1, 1), base_channels=8))
    path, layer = next(iter(model.supernet_layers.items()))
    conv3 = model.get_submodule(path.rsplit('.', 1)[0]).conv3.conv
    with torch.no_grad():
        layer.bn.weight.fill_(1.0)
        conv3.weight.fill_(0.0)
        # Only the 3x1x1 candidates feed the block's output.
        conv3.weight[:, 2 * layer.width:] = 0.5
    gamma = model.importance()[path]
    assert all(torch.equal(v, torch.ones(layer.width))
               for v in gamma.values())
    contribution = model.importance('contribution')[path]
    expected = 0.5 * conv3.out_channels**0.5
    assert torch.allclose(contribution['3x1x1'],
                          torch.full((layer.width, ), expected))
    assert contribution['3x3x3'].abs().sum() == 0
    counts = select_top_c({path: contribution})[path]
    assert counts['3x1x1'] == layer.width
    with pytest.raises(ValueError, match='score must be one of'):
        model.importance('grad')
