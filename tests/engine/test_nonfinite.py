"""NaN never passes silently: losses in training, weights at load, scores
at test and in the demo."""
import os.path as osp

import pytest
import torch
from mmaction.apis import init_recognizer
from mmaction.registry import HOOKS
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.runner import Runner

from cakes_mmaction.checkpoints.nonfinite import nonfinite_tensors
from cakes_mmaction.checkpoints.safe_load import safe_torch_load
from cakes_mmaction.harness.apis import build_test_cfg
from cakes_mmaction.harness.apis import test as run_test
from cakes_mmaction.harness.apis.inference import load_recognizer
from cakes_mmaction.harness.engine import (ConfigValidationError,
                                           NonFiniteError, NonFiniteGuardHook,
                                           NonFiniteLossError)
from cakes_mmaction.harness.synthetic import generate_synthetic_dataset
from tests.helpers.toy import toy_config

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DEMO = osp.join(ROOT, 'configs/demo/cakes_tiny_synthetic.py')
GUARD = dict(type='NonFiniteGuardHook')


@HOOKS.register_module(force=True)
class NaNInputHook(Hook):
    """Turn the inputs of one training iteration (1-based) into NaN."""

    def __init__(self, at_iter: int) -> None:
        self.at_iter = at_iter

    def before_train_iter(self, runner, batch_idx, data_batch=None) -> None:
        if runner.iter + 1 == self.at_iter:
            for x in data_batch['inputs']:
                x.fill_(float('nan'))


def _train(work_dir, hooks, checkpoint=None, epochs=3):
    # 16 samples, batch 4: 4 iterations per epoch; iteration 6 is in
    # epoch 2, after epoch_1.pth was saved.
    cfg = toy_config(str(work_dir), max_epochs=epochs, checkpoint=checkpoint)
    cfg.custom_hooks = [dict(type='NaNInputHook', at_iter=6)] + hooks
    runner = Runner.from_cfg(cfg)
    runner.train()
    return runner


def _finite(path):
    state = safe_torch_load(path, map_location='cpu')['state_dict']
    return not nonfinite_tensors(state.items())


def test_upstream_trains_on_and_saves_nan_checkpoints(tmp_path):
    _train(tmp_path, [], checkpoint=dict(type='CheckpointHook', interval=1))
    assert _finite(str(tmp_path / 'epoch_1.pth'))
    assert not _finite(str(tmp_path / 'epoch_3.pth'))


def test_a_nan_loss_stops_training_naming_the_iteration(tmp_path):
    with pytest.raises(NonFiniteLossError) as info:
        _train(tmp_path, [GUARD])
    message = str(info.value)
    assert 'the loss is nan at iteration 6 (epoch 2, batch 2)' in message
    assert 'epoch_1.pth, was saved before it and is kept' in message
    assert not osp.exists(tmp_path / 'epoch_2.pth')
    with open(tmp_path / 'last_checkpoint') as f:
        assert f.read() == str(tmp_path / 'epoch_1.pth')
    assert _finite(str(tmp_path / 'epoch_1.pth'))


def test_tolerated_nan_losses_stop_once_the_weights_are_nan(tmp_path):
    guard = dict(GUARD, max_nonfinite_losses=3)
    with pytest.raises(NonFiniteLossError, match='wrote it into the model'):
        _train(tmp_path, [guard])
    with pytest.raises(ValueError, match='max_nonfinite_losses'):
        NonFiniteGuardHook(max_nonfinite_losses=0)


def test_the_checkpoint_hook_never_saves_nan_weights(tmp_path):
    # Without the guard, AtomicCheckpointHook still refuses to replace the
    # last good checkpoint with NaN weights.
    with pytest.raises(NonFiniteError, match='refusing to save'):
        _train(tmp_path, [])
    with open(tmp_path / 'last_checkpoint') as f:
        assert f.read() == str(tmp_path / 'epoch_1.pth')
    assert not osp.exists(tmp_path / 'epoch_2.pth')


def test_nan_weights_are_refused_at_load(tmp_path):
    _train(tmp_path / 'run', [], epochs=1)
    good = str(tmp_path / 'run' / 'epoch_1.pth')
    saved = safe_torch_load(good, map_location='cpu')
    saved['state_dict']['fc1.weight'][0, 0] = float('nan')
    bad = str(tmp_path / 'nan.pth')
    torch.save(saved, bad)
    cfg = toy_config(str(tmp_path / 'w'), max_epochs=1)
    cfg.load_from = bad
    with pytest.raises(NonFiniteError) as info:
        Runner.from_cfg(cfg).train()
    assert bad in str(info.value)
    assert "'fc1.weight': 1 of 128 values" in str(info.value)


@pytest.fixture(scope='module')
def demo_data(tmp_path_factory):
    return generate_synthetic_dataset(
        str(tmp_path_factory.mktemp('syn')),
        num_per_class=1,
        size=32,
        num_pairs=1,
        formats=('rawframes', 'videos'))


def _demo_options(data, **extra):
    from cakes_mmaction.harness.apis.data_options import synthetic_cfg_options
    options = synthetic_cfg_options(Config.fromfile(DEMO), data)
    options.update({
        'model.cls_head.num_classes': data.num_classes,
        'test_dataloader.batch_size': 2,
        'log_level': 'WARNING'
    })
    options.update(extra)
    return options


def _demo_checkpoint(path, num_classes, edit=None):
    cfg = Config.fromfile(DEMO)
    cfg.model.cls_head.num_classes = num_classes
    model = init_recognizer(cfg, None, device='cpu')
    state = model.state_dict()
    if edit:
        edit(state)
    torch.save(dict(state_dict=state, meta={}), path)
    return path


def test_nan_checkpoint_fails_test_and_demo(demo_data, tmp_path):
    def poison(state):
        state['cls_head.fc_cls.weight'][0, 0] = float('nan')

    ckpt = _demo_checkpoint(
        str(tmp_path / 'nan.pth'), demo_data.num_classes, poison)
    with pytest.raises(ConfigValidationError) as info:
        run_test(
            build_test_cfg(
                DEMO,
                ckpt,
                work_dir=str(tmp_path / 't'),
                cfg_options=_demo_options(demo_data)))
    assert ckpt in str(info.value) and 'NaN or infinite' in str(info.value)
    cfg = Config.fromfile(DEMO)
    cfg.merge_from_dict(_demo_options(demo_data))
    with pytest.raises(NonFiniteError, match='NaN or infinite'):
        load_recognizer(cfg, ckpt)


def test_nan_scores_fail_the_test_and_the_demo(demo_data, tmp_path):
    # Finite weights, NaN outputs: a negative BatchNorm variance.
    def break_bn(state):
        state['backbone.conv1.bn.running_var'].fill_(-1.0)

    ckpt = _demo_checkpoint(
        str(tmp_path / 'bn.pth'), demo_data.num_classes, break_bn)
    with pytest.raises(NonFiniteError, match='test: non-finite class scores'):
        run_test(
            build_test_cfg(
                DEMO,
                ckpt,
                work_dir=str(tmp_path / 't'),
                cfg_options=_demo_options(demo_data)))
    from cakes_mmaction.harness.apis.inference import recognize_video
    video = osp.join(demo_data.videos,
                     open(demo_data.video_list('val')).read().split()[0])
    cfg = Config.fromfile(DEMO)
    cfg.merge_from_dict(_demo_options(demo_data))
    with pytest.raises(NonFiniteError, match='non-finite class scores'):
        recognize_video(video, cfg, ckpt)
