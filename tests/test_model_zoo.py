"""The model zoo table: measured cost of the shipped assignments."""
import torch
from mmaction.registry import MODELS
from mmengine.analysis import FlopAnalyzer
from mmengine.config import Config

from cakes_mmaction import list_presets
from cakes_mmaction.deployment import RecognizerForExport
from cakes_mmaction.model_zoo import (PUBLISHED_TOP1, ZooEntry,
                                      model_zoo_entries, model_zoo_markdown)

BASE_CFG = 'configs/_base_/models/cakes_r50.py'
SHAPE = (1, 3, 2, 32, 32)


def _independent_cost(assignment):
    cfg = Config.fromfile(BASE_CFG)
    cfg.model.backbone['assignment'] = assignment
    cfg.model.cls_head['num_classes'] = 174
    net = RecognizerForExport(MODELS.build(cfg.model)).eval()
    params = sum(p.numel() for p in net.parameters())
    with torch.no_grad():
        analyzer = FlopAnalyzer(net, (torch.zeros(SHAPE), ))
        analyzer.unsupported_ops_warnings(False)
        analyzer.uncalled_modules_warnings(False)
        return params, analyzer.total()


def test_entries_match_independent_counts():
    (entry, ) = model_zoo_entries(BASE_CFG, ['cakes12d_c'], frames=(2, ),
                                  size=32)
    params, flops = _independent_cost('cakes12d_c')
    assert (entry.params, entry.flops) == (params, flops)
    assert 0 < entry.cakes_flops < entry.flops
    assert entry.shares.get('3x3x3', 0) == 0
    assert entry.shares['1x3x3'] > 0.5
    assert entry.top1 is None  # published numbers are for 224 crops only
    # The derived all-3x3x3 network is the network actually built that way.
    dense = entry.baselines['all-3x3x3 (I3D-style)']
    assert (dense.params, dense.flops) == _independent_cost(
        dict(uniform=['3x3x3']))
    # All-1x3x3: the same layers with kernel volume 9 instead of 27.
    c2d = entry.baselines['all-1x3x3 (C2D)']
    rest = entry.flops - entry.cakes_flops
    assert dense.flops - rest == 3 * (c2d.flops - rest)


def test_published_numbers_belong_to_presets_and_are_shown():
    assert set(PUBLISHED_TOP1) <= set(list_presets())
    entry = ZooEntry('cakes23d_p', 8, 224, 10**7, 3 * 10**9, 10**6, 10**9,
                     {'3x3x3': .6, '1x3x3': .4})
    entry.top1 = PUBLISHED_TOP1['cakes23d_p'][8]
    from cakes_mmaction.cost import BranchCost
    entry.baselines = {'all-3x3x3 (I3D-style)': BranchCost(2, 6 * 10**9),
                       'all-1x3x3 (C2D)': BranchCost(1, 2 * 10**9)}
    table = model_zoo_markdown([entry])
    assert ('| cakes23d_p | 8x224x224 | 60% / 40% / 0% | 10.00 | 3.0 | 1.0 '
            '| 50% | 47.4 |') in table
    assert '| all-1x3x3 (C2D), same skeleton | 8x224x224 |' in table
