"""Every shipped config builds, trains two iterations and validates once
on tiny generated data; only paths, sizes and loader settings are changed,
through cfg-options."""
import copy
import glob
import os.path as osp

import pytest
import torch
from mmaction.registry import MODELS
from mmengine.config import Config

from cakes_mmaction.assignment import Assignment
from cakes_mmaction.harness.apis import build_train_cfg, train
from cakes_mmaction.harness.apis.data_options import synthetic_cfg_options
from cakes_mmaction.harness.synthetic import generate_synthetic_dataset

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIGS = sorted(
    osp.relpath(p, ROOT)
    for p in glob.glob(osp.join(ROOT, 'configs', '**', '*.py'),
                       recursive=True) if '_base_' not in p)
SIZE = 32


@pytest.fixture(autouse=True)
def one_thread():
    # Tiny runs on a shared 2-core machine: one thread avoids the barrier
    # stalls of two threads competing with other processes.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope='module')
def data(tmp_path_factory):
    # One pair, one clip each: 2 training videos, 2 validation videos.
    return generate_synthetic_dataset(
        str(tmp_path_factory.mktemp('syn')), num_per_class=1, size=SIZE,
        num_frames=8, num_pairs=1)


def test_all_configs_found():
    assert set(CONFIGS) >= {
        'configs/cakes_r50_sthv1.py', 'configs/cakes_r50_sthv1_16f.py',
        'configs/cakes_r50_k400.py', 'configs/demo/cakes_tiny_synthetic.py',
        'configs/demo/c2d_tiny_synthetic.py'
    }


@pytest.mark.parametrize('config', CONFIGS)
def test_config_keeps_the_runtime_guards(config):
    # A config setting custom_hooks replaces the base's list (mmengine
    # merges lists by replacing them); the runtime base's guards must stay.
    cfg = Config.fromfile(osp.join(ROOT, config))
    hooks = [hook['type'] for hook in cfg.custom_hooks]
    assert hooks[:3] == [
        'DistWatchdogHook', 'DataFaultHook', 'NonFiniteGuardHook'
    ], hooks
    assert cfg.default_hooks.checkpoint.type == 'AtomicCheckpointHook'
    assert cfg.default_hooks.epoch_seed.type == 'EpochSeedHook'
    assert cfg.env_cfg.dist_cfg.timeout == 600


@pytest.mark.parametrize('config', CONFIGS)
def test_config_has_a_fault_policy(config):
    cfg = Config.fromfile(osp.join(ROOT, config))
    synthetic = 'synthetic' in cfg.train_dataloader.dataset.ann_file
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        dataset = cfg[loader].dataset
        assert dataset.type in ('RobustRawframeDataset', 'RobustVideoDataset')
        assert dataset.num_classes == cfg.model.cls_head.num_classes
        # Real data: a long run skips a bad clip (up to a limit); the demo's
        # generated data and every evaluation stop at the first one.
        skips = loader == 'train_dataloader' and not synthetic
        assert dataset.on_error == ('skip' if skips else 'raise')
        if skips:
            assert dataset.max_skips == 100
            assert dataset.max_skip_ratio == 0.01
        # Decoders that check the bytes they read: each file is read once.
        decoders = [
            step.type for step in dataset.pipeline
            if 'Decode' in step.type or 'Init' in step.type
        ]
        assert decoders in (['CheckedRawFrameDecode'],
                            ['CheckedDecordInit', 'CheckedDecordDecode'])


def _assignment_file_options(cfg, tmp_path):
    """Write the searched assignment a config names, if it is a file.

    A config that trains a search's result (configs/cakes_r50_searched.py)
    names the file tools/export_assignment.py writes. The test writes an
    assignment of that network, non-uniform as a search's would be, to a
    file and points the config at it: the file path is what is tested.
    """
    spec = cfg.model.backbone.get('assignment')
    if not (isinstance(spec, str) and spec.endswith(('.json', '.yaml'))):
        return {}, None
    skeleton = copy.deepcopy(cfg.model)
    skeleton.backbone.assignment = dict(uniform=['3x3x3'])
    with torch.device('meta'):
        widths = MODELS.build(skeleton).backbone.assignment.to_layers()
    layers = {}
    for i, (path, counts) in enumerate(widths.items()):
        width = counts['3x3x3']
        first = width // 4 + i % 3  # differs from layer to layer
        layers[path] = {
            '3x3x3': first,
            '1x3x3': width // 2,
            '3x1x1': width - first - width // 2
        }
    searched = Assignment(layers, meta=dict(scheme='C', rule='top_c'))
    path = str(tmp_path / osp.basename(spec))
    searched.save(path)
    return {'model.backbone.assignment': path}, searched


def _small_size_options(cfg):
    """Shrink the crops and resizes of every pipeline to SIZE pixels."""
    options = {}
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        for i, step in enumerate(cfg[loader]['dataset']['pipeline']):
            key = f'{loader}.dataset.pipeline.{i}'
            if step['type'] == 'Resize':
                scale = step['scale']
                options[f'{key}.scale'] = ((-1, SIZE + 8) if scale[0] == -1
                                           else (SIZE, SIZE))
            elif step['type'] in ('MultiScaleCrop', ):
                options[f'{key}.input_size'] = SIZE
            elif step['type'] in ('CenterCrop', 'ThreeCrop'):
                options[f'{key}.crop_size'] = SIZE
    return options


@pytest.mark.parametrize('config', CONFIGS)
def test_config_trains_two_iterations_and_validates(config, data, tmp_path):
    cfg = Config.fromfile(osp.join(ROOT, config))
    fmt = ('videos'
           if cfg.train_dataloader.dataset.type.endswith('VideoDataset') else
           'rawframes')
    options = synthetic_cfg_options(cfg, data, fmt)
    options.update(_small_size_options(cfg))
    file_options, searched = _assignment_file_options(cfg, tmp_path)
    options.update(file_options)
    options.update({
        'model.cls_head.num_classes': data.num_classes,
        'train_cfg.max_epochs': 1,
        'train_cfg.val_interval': 1,
        'default_hooks.checkpoint': None,
        'log_level': 'WARNING',
    })
    for loader, batch in (('train_dataloader', 1), ('val_dataloader', 2)):
        options.update({
            f'{loader}.batch_size': batch,
            f'{loader}.num_workers': 0,
            f'{loader}.persistent_workers': False
        })
    cfg = build_train_cfg(cfg, work_dir=str(tmp_path), cfg_options=options)
    runner = train(cfg)
    assert runner.iter == 2  # two training iterations
    assert runner.val_loop is not None
    # One validation pass ran and logged its top-1.
    top1 = runner.message_hub.get_scalar('val/acc/top1').current()
    assert 0.0 <= top1 <= 1.0
    for name, param in runner.model.named_parameters():
        assert torch.isfinite(param).all(), name
    if searched is not None:  # the network was built from the file
        assert runner.model.backbone.assignment == searched
