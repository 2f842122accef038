"""The search configs and the searched-network template build and run."""
import os
import sys

import pytest
import torch
from mmaction.registry import MODELS, TRANSFORMS
from mmengine.config import Config
from mmengine.registry import init_default_scope

from cakes_mmaction.layers import CAKESConv3d

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, 'tests', 'search'))
from search_testing import fake_torchvision_2d  # noqa: E402

SEARCH = [
    ('configs/search/cakes_r50_search_c_sthv1.py', 'C', 70, [50, 60]),
    ('configs/search/cakes_r50_search_p_sthv1.py', 'P', 140, [100, 120]),
    ('configs/search/cakes_search_c_demo.py', 'C', 20, [14, 17]),
    ('configs/search/cakes_search_p_demo.py', 'P', 40, [28, 34]),
]


@pytest.mark.parametrize('name,scheme,epochs,steps', SEARCH)
def test_search_config(name, scheme, epochs, steps, tmp_path):
    cfg = Config.fromfile(os.path.join(ROOT, name))
    # The flip's class names (the dataset's file is not here).
    class_file = tmp_path / 'classes.txt'
    class_file.write_text('pushing something from left to right\n'
                          'pushing something from right to left\n'
                          'rotating something clockwise\n'
                          'rotating something anticlockwise\n')
    init_default_scope('mmaction')
    assert cfg.train_cfg.max_epochs == epochs
    assert cfg.param_scheduler[-1].milestones == steps
    hooks = [h['type'] for h in cfg.custom_hooks]
    # The runtime base's guards are kept next to the search's own hook.
    assert hooks == [
        'DistWatchdogHook', 'DataFaultHook', 'NonFiniteGuardHook'
    ] + (
        ['CAKESSparsityHook'] if scheme == 'C' else [])
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        for step in cfg[loader].dataset.pipeline:
            if 'class_file' in step:
                step.class_file = str(class_file)
            TRANSFORMS.build(step)
    cfg.model.backbone.shapes = '23d'  # the shape set is a choice
    model = MODELS.build(cfg.model)
    assert model.scheme == scheme
    assert model.backbone.shapes == ('3x3x3', '1x3x3')
    assert (model.sparsity is not None) == (scheme == 'C')
    out = model.backbone(torch.zeros(1, 3, 2, 32, 32))
    assert out.shape[1] == cfg.model.cls_head.in_channels


def test_searched_template_inflates_a_local_2d_checkpoint(tmp_path):
    cfg = Config.fromfile(os.path.join(ROOT, 'configs/cakes_r50_searched.py'))
    assert cfg.model.backbone.assignment.endswith('assignment.json')
    cfg.model.backbone.assignment = 'cakes12d_c'
    model = MODELS.build(cfg.model)
    state = fake_torchvision_2d(model.backbone)
    path = str(tmp_path / 'resnet50_2d.pth')
    torch.save(state, path)
    cfg.model.backbone.pretrained = path
    model = MODELS.build(cfg.model)
    model.init_weights()
    site = model.backbone.layer3[2].conv2
    assert isinstance(site.conv, CAKESConv3d)
    n = site.conv.counts['1x3x3']
    w2d = state['layer3.2.conv2.weight']
    torch.testing.assert_close(site.conv.branches['1x3x3'].weight[:, :, 0],
                               w2d[:n])
    torch.testing.assert_close(
        site.conv.branches['3x1x1'].weight[:, :, 1, 0, 0],
        w2d[n:].sum(dim=(2, 3)) / 3)
    torch.testing.assert_close(site.bn.weight, state['layer3.2.bn2.weight'])
    assert cfg.param_scheduler[0].type == 'LinearLR'
    assert cfg.optim_wrapper.paramwise_cfg.norm_decay_mult == 0


def test_demo_search_and_retraining_share_one_skeleton():
    # The demo search's supernet and the network its result is trained in
    # have the same CAKES layers and widths (the demo network with
    # bottleneck blocks), and the same data.
    search = Config.fromfile(
        os.path.join(ROOT, 'configs/search/cakes_search_c_demo.py'))
    train = Config.fromfile(
        os.path.join(ROOT, 'configs/search/cakes_demo_train.py'))
    demo = Config.fromfile(
        os.path.join(ROOT, 'configs/demo/cakes_tiny_synthetic.py'))
    supernet = MODELS.build(search.model).backbone
    network = MODELS.build(train.model).backbone
    widths = {p: layer.width for p, layer in supernet.supernet_layers.items()}
    assert widths == {
        p: sum(counts.values())
        for p, counts in network.assignment.items()
    } == {
        'layer1.0.conv2': 16,
        'layer2.0.conv2': 32,
        'layer3.0.conv2': 64
    }
    clip = torch.zeros(1, 3, 8, 32, 32)
    assert supernet(clip).shape == network(clip).shape == (1, 256, 8, 2, 2)
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        assert search[key] == train[key] == demo[key]
    assert train.optim_wrapper == demo.optim_wrapper
    assert train.param_scheduler == demo.param_scheduler
    assert train.train_cfg == demo.train_cfg
