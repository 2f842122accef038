"""The demo's two networks: the C2D baseline cannot see frame order (the
premise of the frame-order-blind ceiling), the CAKES network can."""
import os.path as osp

import pytest
import torch
from mmaction.registry import MODELS
from mmengine.config import Config

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def _model(name):
    cfg = Config.fromfile(osp.join(ROOT, 'configs/demo', name))
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    # Random BN statistics, so eval mode is not a near-identity.
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm3d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
    return model.eval()


def _scores(model, clip):
    with torch.no_grad():
        return model.cls_head(model.backbone(clip))


@pytest.mark.parametrize('name, blind', [('c2d_tiny_synthetic.py', True),
                                         ('cakes_tiny_synthetic.py', False)])
def test_time_reversal(name, blind):
    model = _model(name)
    assert model.cls_head.num_classes == 10
    clip = torch.randn(2, 3, 8, 32, 32)
    forward, backward = _scores(model, clip), _scores(model, clip.flip(2))
    same = torch.allclose(forward, backward, rtol=1e-4, atol=1e-5)
    assert same == blind
    if blind:  # and any other frame order too
        shuffled = _scores(model, clip[:, :, torch.randperm(8)])
        assert torch.allclose(forward, shuffled, rtol=1e-4, atol=1e-5)


def test_same_skeleton():
    c2d, cakes = _model('c2d_tiny_synthetic.py'), _model(
        'cakes_tiny_synthetic.py')
    assert list(c2d.backbone.cakes_layers) == list(
        cakes.backbone.cakes_layers) == [
            'layer1.0.conv1', 'layer1.0.conv2', 'layer2.0.conv1',
            'layer2.0.conv2', 'layer3.0.conv1', 'layer3.0.conv2'
        ]
    for path, counts in c2d.backbone.assignment.items():
        assert counts['1x3x3'] == sum(cakes.backbone.assignment[path].values())
