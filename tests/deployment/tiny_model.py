"""A tiny CAKES recognizer config and checkpoint for deployment tests."""
import os

import torch

from cakes_mmaction.deployment import build_recognizer

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))

TINY_CONFIG = f"""_base_ = ['{REPO}/configs/_base_/models/cakes_r50.py']
model = dict(
    backbone=dict(
        base_channels=8,
        stage_blocks=(1, 1, 1, 1),
        assignment=dict(_delete_=True, uniform=['3x3x3', '1x3x3', '3x1x1'])),
    cls_head=dict(in_channels=256, num_classes=5))
"""
SHAPE = (2, 3, 4, 32, 32)


def write_tiny(tmp_path, seed=0):
    """Write the config and a checkpoint of random (non-trivial) weights.

    Returns:
        tuple[str, str]: Config path, checkpoint path.
    """
    config = str(tmp_path / 'tiny_cakes.py')
    with open(config, 'w') as f:
        f.write(TINY_CONFIG)
    model, _ = build_recognizer(config)
    torch.manual_seed(seed)
    model.init_weights()
    with torch.no_grad():  # non-trivial BN statistics and head
        for name, value in model.state_dict().items():
            if name.endswith(('running_mean', 'fc_cls.weight', 'bias')):
                value.normal_(0, 0.1)
            elif name.endswith('running_var'):
                value.uniform_(0.5, 1.5)
    checkpoint = str(tmp_path / 'tiny_cakes.pth')
    torch.save(dict(state_dict=model.state_dict(), meta={}), checkpoint)
    return config, checkpoint
