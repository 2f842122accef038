"""validate_config rejects bad configs and assignments before training."""
import json
import os.path as osp

import pytest
import torch
from mmaction.registry import MODELS
from mmengine.config import Config
from mmengine.registry import DefaultScope

from cakes_mmaction import Assignment
from cakes_mmaction.harness.engine import (ConfigValidationError,
                                           validate_config)
from tests.helpers.media import write_frames, write_list

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


@pytest.fixture(scope='module')
def data(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('data'))
    write_frames(osp.join(root, 'v0'), 4)
    write_list(osp.join(root, 'train.txt'), ['v0 4 0', 'v0 4 2'])
    write_list(osp.join(root, 'bad.txt'), ['v0 4 0', 'v0 4 3', 'v0 4 x'])
    return root


def config(root, assignment=None):
    cfg = Config.fromfile(osp.join(REPO, 'configs/_base_/models/cakes_r50.py'))
    cfg.model.backbone.update(
        depth=18,
        base_channels=8,
        assignment=dict(
            uniform=['3x3x3', '1x3x3']) if assignment is None else assignment)
    cfg.model.cls_head.update(in_channels=64, num_classes=3)
    cfg.merge_from_dict(
        dict(
            default_scope='mmaction',
            train_dataloader=dict(
                batch_size=2,
                num_workers=0,
                persistent_workers=False,
                dataset=dict(
                    type='RobustRawframeDataset',
                    ann_file=osp.join(root, 'train.txt'),
                    data_prefix=dict(img=root),
                    pipeline=[
                        dict(
                            type='SampleFrames',
                            clip_len=4,
                            frame_interval=1,
                            num_clips=1),
                        dict(type='RawFrameDecode'),
                        dict(type='FormatShape', input_format='NCTHW'),
                        dict(type='PackActionInputs')
                    ])),
            train_cfg=dict(type='EpochBasedTrainLoop', max_epochs=2),
            optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01)),
            env_cfg=dict(dist_cfg=dict(backend='gloo', timeout=600)),
            load_from=None,
            resume=False))
    return cfg


def problems_of(cfg):
    with pytest.raises(ConfigValidationError) as info:
        validate_config(cfg)
    return info.value.problems


def test_good_config_passes(data, tmp_path):
    cfg = config(data)
    validate_config(cfg)
    with DefaultScope.overwrite_default_scope('mmaction'):
        model = MODELS.build(cfg.model)
    cfg.load_from = str(tmp_path / 'own.pth')
    torch.save({'state_dict': model.state_dict()}, cfg.load_from)
    validate_config(cfg)


def test_wrong_types_and_ranges_all_reported(data):
    cfg = config(data)
    cfg.model.cls_head.num_classes = '400'
    cfg.train_dataloader.batch_size = 0
    cfg.train_cfg.max_epochs = 2.5
    cfg.optim_wrapper.optimizer.lr = -0.1
    cfg.env_cfg.dist_cfg.timeout = '60'
    cfg.train_dataloader.persistent_workers = True
    problems = problems_of(cfg)
    text = '\n'.join(problems)
    for words in [
            "model.cls_head.num_classes must be a positive int, got '400'",
            'train_dataloader.batch_size must be a positive int, got 0',
            'train_cfg.max_epochs must be a positive int, got 2.5',
            'optim_wrapper.optimizer.lr must be a positive number',
            "env_cfg.dist_cfg.timeout must be a positive number, got '60'",
            'persistent_workers=True needs num_workers > 0'
    ]:
        assert words in text
    assert len(problems) == 6


def _widths(data):
    with DefaultScope.overwrite_default_scope('mmaction'):
        model = MODELS.build(config(data).model)
    return {p: c.out_channels for p, c in model.backbone.cakes_layers.items()}


@pytest.mark.parametrize('case', [
    'wrong_width', 'unknown_layer', 'missing_layer', 'big_shape', 'negative',
    'string_count', 'not_mapping', 'missing_file', 'preset', 'wrong_type'
])
def test_bad_assignments_are_rejected_naming_the_file(data, tmp_path, case):
    layers = Assignment.uniform(_widths(data), ['3x3x3', '1x3x3']).to_layers()
    path = str(tmp_path / f'{case}.json')
    spec, words = path, None
    if case == 'wrong_width':
        layers['layer2.0.conv1']['3x3x3'] += 1
        words = "layer 'layer2.0.conv1'"
    elif case == 'unknown_layer':
        layers['layer9.0.conv1'] = {'3x3x3': 8}
        words = "'layer9.0.conv1' is not a CAKES layer"
    elif case == 'missing_layer':
        del layers['layer4.0.conv2']
        words = "no counts for layer 'layer4.0.conv2'"
    elif case == 'big_shape':
        layers['layer1.0.conv1'] = {'5x5x5': 8}
        words = '5x5x5'
    elif case == 'negative':
        layers['layer1.0.conv1'] = {'3x3x3': 12, '1x3x3': -4}
        words = 'layer1.0.conv1'
    elif case == 'string_count':
        layers['layer1.0.conv1'] = {'3x3x3': '4', '1x3x3': 4}
        words = 'layer1.0.conv1'
    elif case == 'not_mapping':
        layers = ['layer1.0.conv1']
        words = 'expected a mapping'
    elif case == 'missing_file':
        spec = path = str(tmp_path / 'nowhere.json')
        words = 'assignment file not found'
    elif case == 'preset':
        spec, path, words = 'cakes99d_p', 'cakes99d_p', 'neither a preset'
    elif case == 'wrong_type':
        spec, path, words = 42, '42', 'got int: 42'
    if case not in ('missing_file', 'preset', 'wrong_type'):
        payload = {'layers': layers} if case != 'not_mapping' else layers
        json.dump(payload, open(path, 'w'))
    problems = problems_of(config(data, assignment=spec))
    assert len(problems) == 1
    assert problems[0].startswith('model.backbone.assignment=')
    assert path in problems[0] and words in problems[0], problems[0]


def test_labels_lines_and_transforms_checked(data):
    cfg = config(data)
    cfg.train_dataloader.dataset.ann_file = osp.join(data, 'bad.txt')
    cfg.train_dataloader.dataset.pipeline.insert(1,
                                                 dict(type='NoSuchTransform'))
    problems = problems_of(cfg)
    text = '\n'.join(problems)
    assert "transform 'NoSuchTransform' is not registered" in text
    assert 'bad.txt:2: ' in text and 'label 3 is outside [0, 3)' in text
    assert 'bad.txt:3: ' in text and "label 'x' is not an integer" in text


def test_load_from_problems(data, tmp_path):
    cfg = config(data)
    cfg.load_from = str(tmp_path / 'absent.pth')
    assert problems_of(cfg) == [f'load_from: {cfg.load_from} not found']
    cfg.load_from = str(tmp_path / 'cut.pth')
    torch.save({'state_dict': {'w': torch.rand(2048)}}, cfg.load_from)
    open(cfg.load_from, 'r+b').truncate(3000)
    assert 'truncated' in problems_of(cfg)[0]
    # Another assignment: the CAKES message, before any training.
    with DefaultScope.overwrite_default_scope('mmaction'):
        other = MODELS.build(
            config(data, assignment=dict(uniform=['1x3x3', '3x1x1'])).model)
    cfg.load_from = str(tmp_path / 'other.pth')
    torch.save({'state_dict': other.state_dict()}, cfg.load_from)
    problem = problems_of(cfg)[0]
    assert problem.startswith(f'load_from: {cfg.load_from}: ')
    assert 'another channel assignment' in problem
    # Another model altogether.
    torch.save({'state_dict': torch.nn.Linear(3, 3).state_dict()},
               cfg.load_from)
    assert 'not a checkpoint of this model' in problems_of(cfg)[0]


def test_value_and_assignment_problems_come_in_one_error(data):
    # A bad batch size does not hide a bad assignment (and vice versa).
    cfg = config(data, assignment='cakes99d_p')
    cfg.train_dataloader.batch_size = 0
    problems = problems_of(cfg)
    assert len(problems) == 2, problems
    assert problems[0].startswith('train_dataloader.batch_size must be')
    assert problems[1].startswith("model.backbone.assignment='cakes99d_p'")
