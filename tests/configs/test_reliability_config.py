"""configs/_base_/reliability.py with a real Runner, data faults included."""
import json
import os
import os.path as osp

import pytest
from mmengine.config import Config
from mmengine.runner import Runner

from cakes_mmaction.harness.datasets import SkipLimitError
from cakes_mmaction.harness.engine import (validate_config,
                                           verify_checkpoint_file)
from tests.helpers.media import truncate_file, write_frames, write_list

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))

CONFIG = '''
_base_ = ['{repo}/configs/_base_/models/cakes_r50.py',
          '{repo}/configs/_base_/reliability.py']
model = dict(
    backbone=dict(depth=18, base_channels=8,
                  assignment=dict(_delete_=True, uniform=['3x3x3', '1x3x3'])),
    cls_head=dict(in_channels=64, num_classes=3))
pipeline = [
    dict(type='SampleFrames', clip_len=4, frame_interval=1, num_clips=1),
    dict(type='RawFrameDecode'),
    dict(type='Resize', scale=(16, 16), keep_ratio=False),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs')
]
train_dataloader = dict(
    batch_size=2, num_workers=2, persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(type='RobustRawframeDataset', ann_file='{root}/list.txt',
                 data_prefix=dict(img='{root}'), pipeline=pipeline,
                 num_classes=3, on_error='skip', max_skips={max_skips},
                 max_skip_ratio=None))
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=1, val_begin=9)
optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.01, momentum=0.9))
default_hooks = dict(logger=dict(interval=1),
                     checkpoint=dict(save_best=None))
env_cfg = dict(dist_cfg=dict(backend='gloo'))
log_level = 'WARNING'
'''


@pytest.fixture(scope='module')
def root(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('data'))
    lines = []
    for i in range(6):
        write_frames(osp.join(root, f'v{i}'), 4, seed=i)
        lines.append(f'v{i} 4 {i % 3}')
    os.remove(osp.join(root, 'v1', 'img_00004.jpg'))
    truncate_file(osp.join(root, 'v4', 'img_00002.jpg'), 0.5)
    write_list(osp.join(root, 'list.txt'), lines)
    return root


def load(root, tmp_path, max_skips):
    path = str(tmp_path / 'cfg.py')
    open(path,
         'w').write(CONFIG.format(repo=REPO, root=root, max_skips=max_skips))
    cfg = Config.fromfile(path)
    cfg.work_dir = str(tmp_path / 'work')
    return cfg


def test_fragment_switches_everything_on(root, tmp_path):
    cfg = load(root, tmp_path, 5)
    assert cfg.default_hooks.checkpoint.type == 'AtomicCheckpointHook'
    assert cfg.default_hooks.checkpoint.interval == 1  # mmaction's, kept
    assert [h.type for h in cfg.custom_hooks] == [
        'DistWatchdogHook', 'DataFaultHook', 'NonFiniteGuardHook'
    ]
    assert cfg.env_cfg.dist_cfg.timeout == 600
    validate_config(cfg)
    runner = Runner.from_cfg(cfg)
    runner.train()
    work = cfg.work_dir
    assert verify_checkpoint_file(osp.join(work, 'epoch_1.pth')) is None
    report = json.load(open(osp.join(work, 'skipped_samples.json')))
    assert report[0]['skipped'] == 2
    assert sorted((s['ann_line'], s['media']) for s in report[0]['samples']) \
        == [(2, osp.join(root, 'v1')), (5, osp.join(root, 'v4'))]
    assert runner.message_hub.get_info('skipped_samples') == 2


def test_skip_limit_stops_the_run(root, tmp_path):
    runner = Runner.from_cfg(load(root, tmp_path, 1))
    with pytest.raises(SkipLimitError) as info:
        runner.train()
    message = str(info.value)
    assert 'more than the limit of 1' in message
    assert osp.join(root, 'v1') in message or osp.join(root, 'v4') in message
