"""The Taylor importance: a candidate's first-order effect on the loss,
measured on real batches of the synthetic dataset."""
import os

import pytest
import torch
from mmaction.registry import MODELS
from mmengine.registry import init_default_scope
from mmengine.runner import Runner
from search_testing import demo_config

from cakes_mmaction.assignment import Assignment
from cakes_mmaction.layers.sites import find_cakes_layers
from cakes_mmaction.search import (CAKESSupernetConv3d, export_assignment,
                                   select_top_c)
from cakes_mmaction.search.taylor import taylor_importance


def _model_and_loader(scheme, tiny_data, tmp_path):
    cfg = demo_config(f'configs/search/cakes_search_{scheme}_demo.py',
                      tiny_data, str(tmp_path / 'work'), batch=4)
    cfg.model.cls_head.num_classes = tiny_data.num_classes
    init_default_scope('mmaction')
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    loader = Runner.build_dataloader(cfg.val_dataloader, seed=0)
    return cfg, model, loader


def _only_3x1x1_feeds_the_output(model):
    """Zero every conv3 column but those of the 3x1x1 candidates."""
    with torch.no_grad():
        for path, layer in find_cakes_layers(
                model.backbone, (CAKESSupernetConv3d, )).items():
            conv3 = model.backbone.get_submodule(
                path.rsplit('.', 1)[0]).conv3.conv
            keep = list(layer.shapes).index('3x1x1')
            for i in range(len(layer.shapes)):
                if i != keep:
                    conv3.weight[:, i * layer.width:(i + 1) *
                                 layer.width] = 0


def test_candidates_that_feed_nothing_score_zero(tiny_data, tmp_path):
    _, model, loader = _model_and_loader('c', tiny_data, tmp_path)
    _only_3x1x1_feeds_the_output(model)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    scores = taylor_importance(model, loader)
    assert list(scores) == list(model.backbone.importance())
    for path, by_shape in scores.items():
        assert by_shape['3x3x3'].abs().sum() == 0, path
        assert by_shape['1x3x3'].abs().sum() == 0, path
        assert (by_shape['3x1x1'] > 0).sum() > 0, path
    # Nothing learned, nothing left in training mode.
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert not any(m.training for m in model.modules())
    assert all(p.grad is None for p in model.parameters())


def test_p_scheme_scores_only_the_candidates_it_drew(tiny_data, tmp_path):
    _, model, loader = _model_and_loader('p', tiny_data, tmp_path)
    torch.manual_seed(1)
    state = torch.get_rng_state()
    scores = taylor_importance(model, loader, max_batches=1)
    # The draws are seeded on a forked generator: the same scores again,
    # and the caller's random state untouched.
    assert torch.equal(torch.get_rng_state(), state)
    again = taylor_importance(model, loader, max_batches=1)
    assert all(torch.equal(scores[p][k], again[p][k])
               for p in scores for k in scores[p])
    layers = find_cakes_layers(model.backbone, (CAKESSupernetConv3d, ))
    for path, layer in layers.items():
        flat = torch.cat(list(scores[path].values()))
        drawn = layer.last_mask.cpu()
        assert int(drawn.sum()) == layer.width
        assert flat[~drawn].abs().sum() == 0, path
        assert (flat[drawn] > 0).any(), path
        assert not layer.training
    with pytest.raises(ValueError, match='max_batches'):
        taylor_importance(model, loader, max_batches=0)
    with pytest.raises(ValueError, match='no batch'):
        taylor_importance(model, [])


def test_export_with_the_taylor_score(tiny_data, tmp_path):
    cfg, model, loader = _model_and_loader('c', tiny_data, tmp_path)
    _only_3x1x1_feeds_the_output(model)
    checkpoint = str(tmp_path / 'search.pth')
    torch.save(dict(state_dict=model.state_dict(), meta=dict()), checkpoint)
    out = export_assignment(
        cfg, checkpoint, score='taylor', input_shape=(1, 3, 8, 24, 24))
    # The paper's top-C rule on the scores of the config's val split; every
    # 3x1x1 candidate that matters is kept.
    scores = taylor_importance(model, loader)
    assert dict(out) == dict(select_top_c(scores))
    for path, counts in out.items():
        assert counts['3x1x1'] >= int((scores[path]['3x1x1'] > 0).sum())
    assert out.meta['score'] == 'taylor'
    assert out.meta['score_split'] == 'val'
    path = str(tmp_path / 'a.json')
    out.save(path)
    assert Assignment.load(path) == out
    with pytest.raises(ValueError, match="score_split must be one of"):
        export_assignment(cfg, checkpoint, score='taylor',
                          score_split='holdout')
    with pytest.raises(ValueError, match='score must be one of'):
        export_assignment(cfg, checkpoint, score='grad')
    assert os.path.isfile(checkpoint)
