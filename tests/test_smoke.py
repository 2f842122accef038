import torch
from mmaction.registry import MODELS
from mmengine.config import Config


def test_base_config_builds_recognizer():
    cfg = Config.fromfile('configs/_base_/models/cakes_r50.py')
    model = MODELS.build(cfg.model)
    assert type(model).__name__ == 'Recognizer3D'
    assert type(model.backbone).__name__ == 'ResNet3dCAKES'
    assert len(model.backbone.cakes_layers) == 16
    feats = model.backbone(torch.zeros(1, 3, 2, 32, 32))
    assert feats.shape == (1, 2048, 2, 1, 1)
