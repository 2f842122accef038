import textwrap

import pytest
import torch
from mmaction.registry import MODELS
from mmaction.structures import ActionDataSample
from mmengine.config import Config

TINY = {
    'model.backbone.depth': 18,
    'model.backbone.base_channels': 8,
    # A dict replacing the base's preset name needs mmengine's _delete_.
    'model.backbone.assignment': dict(_delete_=True, uniform='video'),
    'model.cls_head.in_channels': 64,
    'model.cls_head.num_classes': 5,
}


def _batch(n=2, t=4, size=32):
    inputs = [torch.randint(0, 256, (1, 3, t, size, size), dtype=torch.uint8)
              for _ in range(n)]
    samples = [ActionDataSample().set_gt_label(i % 5) for i in range(n)]
    return dict(inputs=inputs, data_samples=samples)


def _user_config(tmp_path):
    # What a user writes: inherit mmaction's base, swap in the backbone.
    path = tmp_path / 'my_cakes.py'
    path.write_text(textwrap.dedent("""
        _base_ = ['mmaction::_base_/models/i3d_r50.py',
                  'mmaction::_base_/default_runtime.py']
        custom_imports = dict(imports=['cakes_mmaction'],
                              allow_failed_imports=False)
        model = dict(
            backbone=dict(_delete_=True, type='ResNet3dCAKES', depth=18,
                          base_channels=8, pretrained=None,
                          assignment=dict(uniform=['3x3x3', '1x3x3'])),
            cls_head=dict(in_channels=64, num_classes=5))
    """))
    return Config.fromfile(str(path))


@pytest.mark.parametrize('source', ['base', 'user'])
def test_config_builds_recognizer3d_and_runs(tmp_path, source):
    if source == 'base':
        cfg = Config.fromfile('configs/_base_/models/cakes_r50.py')
        cfg.merge_from_dict(TINY)
    else:
        cfg = _user_config(tmp_path)
    model = MODELS.build(cfg.model)
    assert type(model).__name__ == 'Recognizer3D'
    assert type(model.backbone).__name__ == 'ResNet3dCAKES'
    model.init_weights()

    data = model.data_preprocessor(_batch(), training=True)
    assert data['inputs'].shape == (2, 1, 3, 4, 32, 32)
    losses = model(**data, mode='loss')
    assert set(losses) == {'loss_cls', 'top1_acc', 'top5_acc'}
    assert torch.isfinite(losses['loss_cls'])
    losses['loss_cls'].backward()
    no_grad = [n for n, p in model.named_parameters() if p.grad is None]
    assert not no_grad, no_grad

    model.eval()
    with torch.no_grad():
        data = model.data_preprocessor(_batch(), training=False)
        preds = model(**data, mode='predict')
    assert len(preds) == 2
    for pred in preds:
        assert pred.pred_score.shape == (5, )
        torch.testing.assert_close(pred.pred_score.sum(), torch.tensor(1.))


def test_paper_config_is_the_paper_network():
    cfg = Config.fromfile('configs/_base_/models/cakes_r50.py')
    assert 'cakes_mmaction' in cfg.custom_imports['imports']
    with torch.device('meta'):
        model = MODELS.build(cfg.model)
    backbone = model.backbone
    assert backbone.conv1.conv.kernel_size == (1, 7, 7)
    assert backbone.conv1.conv.stride == (1, 2, 2)
    assert backbone.maxpool.stride == (1, 2, 2)
    assert not backbone.with_pool2
    assert len(backbone.cakes_layers) == 16
    for path, layer in backbone.cakes_layers.items():
        assert layer.stride[0] == 1, path  # never downsample time
    assert model.cls_head.dropout_ratio == 0.3
    assert model.cls_head.in_channels == 2048


def test_in_config_mapping_survives_config_dump(tmp_path):
    """Layer paths contain dots; mmengine must keep them as plain keys,
    also in the config a Runner dumps into its work_dir."""
    layers = {
        'layer1.0.conv2': {'3x3x3': 1, '1x3x3': 3},
        'layer2.0.conv2': {'3x3x3': 8},
        'layer3.0.conv2': {'1x3x3': 16},
        'layer4.0.conv2': {'3x1x1': 30, '3x3x3': 2},
    }
    path = tmp_path / 'mapping.py'
    path.write_text(textwrap.dedent(f"""
        _base_ = ['mmaction::_base_/models/i3d_r50.py']
        custom_imports = dict(imports=['cakes_mmaction'])
        model = dict(
            backbone=dict(_delete_=True, type='ResNet3dCAKES', depth=50,
                          base_channels=4, stage_blocks=(1, 1, 1, 1),
                          pretrained=None, assignment=dict(layers={layers!r})),
            cls_head=dict(in_channels=128))
    """))
    cfg = Config.fromfile(str(path))
    cfg.dump(str(tmp_path / 'dumped.py'))
    for c in (cfg, Config.fromfile(str(tmp_path / 'dumped.py'))):
        with torch.device('meta'):
            model = MODELS.build(c.model)
        assert {p: model.backbone.assignment.nonzero(p)
                for p in layers} == layers
