import os

import pytest
import torch
from mmaction.registry import MODELS
from mmengine.analysis import parameter_count
from mmengine.config import Config

from cakes_mmaction.analysis.preset_meta import (COST_KEYS, PRESET_INPUT_SHAPE,
                                                 PRESET_NUM_CLASSES,
                                                 preset_cost_meta)
from cakes_mmaction.assignment import Assignment, list_presets
from cakes_mmaction.cost import capture_geometry, cost_table

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
CONFIG = os.path.join(ROOT, 'configs', '_base_', 'models', 'cakes_r50.py')


def _meta_model(name):
    """The paper's recognizer on the meta device: shapes, no arithmetic."""
    cfg = Config.fromfile(CONFIG)
    cfg.merge_from_dict({'model.backbone.assignment': name,
                         'model.cls_head.num_classes': PRESET_NUM_CLASSES})
    with torch.device('meta'):
        return MODELS.build(cfg.model)


def test_stored_cost_is_consistent_for_every_preset():
    """Analytic check of all six (fast): CAKES part, params, reference."""
    remainders = set()
    for name in list_presets():
        meta = Assignment.preset(name).meta
        assert set(COST_KEYS) <= set(meta), name
        assert meta['input_shape'] == list(PRESET_INPUT_SHAPE)
        model = _meta_model(name)
        geometries = capture_geometry(model.backbone, PRESET_INPUT_SHAPE)
        total = cost_table(model.backbone.assignment, geometries)[-1]
        assert meta['cakes_layers'] == dict(params=total['params'],
                                            flops=total['flops']), name
        assert meta['params'] == parameter_count(model)[''], name
        # Same skeleton: everything outside the CAKES layers is identical,
        # and the reference swaps only the CAKES part.
        rest = (meta['params'] - total['params'],
                meta['flops'] - total['flops'])
        assert meta['reference']['params'] == rest[0] + total['ref_params']
        assert meta['reference']['flops'] == rest[1] + total['ref_flops']
        remainders.add(rest)
    assert len(remainders) == 1


def test_stored_cost_equals_what_the_tool_computes():
    """One full mmengine recount at 1x3x8x224x224 (the others differ only
    in the CAKES part, checked above)."""
    name = 'cakes123d_p'
    meta = Assignment.preset(name).meta
    computed = preset_cost_meta(name, CONFIG)
    assert list(computed) == list(COST_KEYS)
    assert {k: meta[k] for k in COST_KEYS} == dict(computed)
    assert computed['config'].startswith('configs/_base_/models/cakes_r50')


@pytest.mark.parametrize('name', ['cakes_x'])
def test_unknown_preset(name):
    from cakes_mmaction.analysis.preset_meta import update_preset_files
    with pytest.raises(KeyError, match="unknown preset 'cakes_x'"):
        update_preset_files(CONFIG, [name], write=False)
