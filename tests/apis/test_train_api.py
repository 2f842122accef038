"""cakes_mmaction.harness.apis.train: the options of tools/train.py and
tools/test.py, training, testing with --dump, and resuming after SIGKILL."""
import os.path as osp
import pickle
import subprocess
import sys

import numpy as np
import pytest
import torch
from mmengine.config import Config

from cakes_mmaction.analysis.child_env import child_env
from cakes_mmaction.checkpoints.safe_load import safe_torch_load
from cakes_mmaction.harness.apis import build_test_cfg, build_train_cfg
from cakes_mmaction.harness.apis import test as run_test
from cakes_mmaction.harness.apis import train
from cakes_mmaction.harness.apis.data_options import synthetic_cfg_options
from cakes_mmaction.harness.synthetic import generate_synthetic_dataset

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DEMO = osp.join(ROOT, 'configs/demo/cakes_tiny_synthetic.py')


@pytest.fixture(autouse=True)
def one_thread():
    # Tiny models on a shared 2-core machine: one thread avoids barrier
    # stalls, and equal thread counts keep runs bitwise comparable.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(False)


@pytest.fixture(scope='module')
def data(tmp_path_factory):
    # One pair, two clips each: 4 training and 4 test videos.
    return generate_synthetic_dataset(
        str(tmp_path_factory.mktemp('syn')), num_per_class=2, size=32,
        num_pairs=1, formats=('rawframes', ))


def tiny_options(data, **extra):
    options = synthetic_cfg_options(Config.fromfile(DEMO), data)
    options.update({
        'model.cls_head.num_classes': data.num_classes,
        'train_dataloader.batch_size': 2,
        'val_dataloader.batch_size': 4,
        'train_cfg.max_epochs': 2,
        'train_cfg.val_interval': 2,
        'default_hooks.checkpoint.interval': 1,
        'default_hooks.checkpoint.max_keep_ckpts': -1,
        'log_level': 'WARNING',
    })
    options.update(extra)
    return options


def test_train_options(tmp_path):
    cfg = build_train_cfg(DEMO)
    assert cfg.work_dir == osp.join('./work_dirs', 'cakes_tiny_synthetic')
    assert cfg.resume is False and cfg.launcher == 'none'
    assert cfg.randomness == dict(seed=0, deterministic=False)
    cfg = build_train_cfg(
        DEMO, work_dir=str(tmp_path), resume='auto', no_validate=True,
        auto_scale_lr=True, seed=7, deterministic=True,
        cfg_options={'train_cfg.max_epochs': 3})
    assert cfg.work_dir == str(tmp_path)
    assert (cfg.resume, cfg.load_from) == (True, None)
    assert cfg.val_cfg is None and cfg.val_dataloader is None
    assert cfg.auto_scale_lr.enable is True
    assert cfg.randomness == dict(seed=7, deterministic=True)
    assert cfg.train_cfg.max_epochs == 3
    ckpt = tmp_path / 'epoch_1.pth'
    ckpt.write_bytes(b'')
    cfg = build_train_cfg(DEMO, resume=str(ckpt))
    assert (cfg.resume, cfg.load_from) == (True, str(ckpt))


def test_train_option_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match='nope.py'):
        build_train_cfg(str(tmp_path / 'nope.py'))
    with pytest.raises(FileNotFoundError, match='gone.pth'):
        build_train_cfg(DEMO, resume=str(tmp_path / 'gone.pth'))
    with pytest.raises(ValueError, match='launcher'):
        build_train_cfg(DEMO, launcher='torchrun')
    cfg = Config.fromfile(DEMO)
    cfg.auto_scale_lr = dict(enable=False)
    with pytest.raises(ValueError, match='base_batch_size'):
        build_train_cfg(cfg, auto_scale_lr=True)
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match='--amp'):
            build_train_cfg(DEMO, amp=True)


def test_test_options(tmp_path):
    ckpt = tmp_path / 'w.pth'
    ckpt.write_bytes(b'')
    cfg = build_test_cfg(DEMO, str(ckpt), dump=str(tmp_path / 'p.pkl'))
    assert cfg.load_from == str(ckpt)
    assert cfg.test_evaluator == [
        dict(type='AccMetric'),
        dict(type='DumpResults', out_file_path=str(tmp_path / 'p.pkl'))
    ]
    with pytest.raises(ValueError, match='.pkl'):
        build_test_cfg(DEMO, str(ckpt), dump=str(tmp_path / 'p.txt'))
    with pytest.raises(FileNotFoundError, match='none.pth'):
        build_test_cfg(DEMO, str(tmp_path / 'none.pth'))


def test_train_then_test_with_dump(data, tmp_path):
    runner = train(
        build_train_cfg(
            DEMO, work_dir=str(tmp_path), no_validate=True,
            auto_scale_lr=True,
            cfg_options=tiny_options(data, **{'train_cfg.max_epochs': 1})))
    assert runner.epoch == 1
    # --auto-scale-lr: lr 4e-3 set for a batch of 16, here 1 x 2.
    base = Config.fromfile(DEMO).optim_wrapper.optimizer.lr
    group = runner.optim_wrapper.optimizer.param_groups[0]
    assert group['initial_lr'] == pytest.approx(base * 2 / 16)
    ckpt = tmp_path / 'epoch_1.pth'
    assert ckpt.is_file()
    dump = tmp_path / 'preds.pkl'
    metrics = run_test(
        build_test_cfg(
            DEMO, str(ckpt), work_dir=str(tmp_path / 'test'), dump=str(dump),
            cfg_options=tiny_options(data)))
    with open(dump, 'rb') as f:
        preds = pickle.load(f)
    labels = [int(line.split()[2]) for line in open(data.rawframe_list(
        'val'))]
    assert len(preds) == len(labels) == 4
    # The dumped scores give the reported top-1 (an independent count).
    hits = [
        int(np.argmax(p['pred_score'])) == int(p['gt_label']) == label
        for p, label in zip(preds, labels)
    ]
    assert metrics['acc/top1'] == pytest.approx(np.mean(hits))


def _weights(path):
    return safe_torch_load(str(path), map_location='cpu')['state_dict']


def _same_weights(got, expected, exact):
    """Exact on CPU; on CUDA within a tolerance: a few backward kernels
    (MaxPool3d, AdaptiveAvgPool3d) have no deterministic CUDA version, so
    a deterministic run still sums some gradients in varying order."""
    assert got.keys() == expected.keys()
    for key, value in expected.items():
        if exact:
            assert torch.equal(got[key], value), key
        else:
            torch.testing.assert_close(got[key], value, rtol=1e-3,
                                       atol=1e-5, msg=key)


def _resume_after_sigkill(data, tmp_path, gpu_fit):
    options = tiny_options(data)
    # 1. Uninterrupted: 2 epochs, deterministic.
    full = tmp_path / 'full'
    runner = train(build_train_cfg(DEMO, work_dir=str(full),
                                   deterministic=True, cfg_options=options,
                                   gpu_fit=gpu_fit))
    device = next(runner.model.parameters()).device
    # 2. The same run in a fresh process, SIGKILLed right after epoch 1.
    crashed = tmp_path / 'crashed'
    crash_cfg = tmp_path / 'crash_cfg.py'
    crash_cfg.write_text(
        f'_base_ = [{DEMO!r}]\n'
        "custom_imports = dict(imports=['cakes_mmaction', 'crash_hook'], "
        'allow_failed_imports=False)\n'
        "custom_hooks = [dict(type='CrashAfterEpochHook', epoch=1)]\n")
    cmd = [sys.executable, osp.join(ROOT, 'tools/train.py'), str(crash_cfg),
           '--work-dir', str(crashed), '--deterministic', '--gpu-fit',
           gpu_fit, '--cfg-options']
    cmd += [f'{k}={v}' for k, v in options.items()
            if not isinstance(v, dict)]
    cmd += [f'{k}.{kk}={vv}' for k, v in options.items()
            if isinstance(v, dict) for kk, vv in v.items()]
    # Extend the environment (a PYTHONPATH that carries the stack stays).
    env = child_env(osp.join(ROOT, 'tests', 'apis'), OMP_NUM_THREADS='1')
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    assert proc.returncode == -9, proc.stderr[-3000:]
    assert (crashed / 'epoch_1.pth').is_file()
    assert not (crashed / 'epoch_2.pth').exists()
    # 3. --resume (auto) continues from epoch 1 to the end.
    runner = train(build_train_cfg(
        DEMO, work_dir=str(crashed), resume='auto', deterministic=True,
        cfg_options=options, gpu_fit=gpu_fit))
    assert runner.epoch == 2
    # 4. --resume PATH into another work dir does the same.
    other = tmp_path / 'other'
    train(build_train_cfg(
        DEMO, work_dir=str(other), resume=str(crashed / 'epoch_1.pth'),
        deterministic=True, cfg_options=options, gpu_fit=gpu_fit))
    expected = _weights(full / 'epoch_2.pth')
    exact = device.type == 'cpu'
    with pytest.raises(AssertionError):  # training moved the weights
        _same_weights(_weights(full / 'epoch_1.pth'), expected, exact)
    for run in (crashed, other):
        _same_weights(_weights(run / 'epoch_2.pth'), expected, exact)
    return device


def test_resume_after_sigkill_ends_with_the_same_weights(data, tmp_path):
    _resume_after_sigkill(data, tmp_path, gpu_fit='off')


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(),
                    reason='needs a CUDA device')
def test_resume_after_sigkill_on_cuda_with_gpu_fit(data, tmp_path):
    # bf16/fp16 AMP (its loss scaler state is resumed too), channels-last.
    device = _resume_after_sigkill(data, tmp_path, gpu_fit='on')
    assert device.type == 'cuda'
    state = safe_torch_load(str(tmp_path / 'other' / 'epoch_2.pth'),
                            map_location='cpu')
    assert 'loss_scaler' in state['optimizer']


def test_gpu_fit_on_cpu_trains_channels_last(data, tmp_path):
    # The channels-last plumbing (preprocessor + hook) in a real run; no
    # mixed precision without CUDA.
    cfg = build_train_cfg(
        DEMO, work_dir=str(tmp_path), no_validate=True, gpu_fit='on',
        cfg_options=tiny_options(data, **{'train_cfg.max_epochs': 1}))
    if torch.cuda.is_available():  # pragma: no cover - GPU machine
        pytest.skip('CPU-only check: on CUDA the AMP variant runs')
    runner = train(cfg)
    assert runner.epoch == 1
    convs = [m for m in runner.model.modules()
             if isinstance(m, torch.nn.Conv3d)]
    assert convs and all(
        m.weight.is_contiguous(memory_format=torch.channels_last_3d)
        for m in convs if m.weight.shape[-3:].numel() > 1)
    batch = next(iter(runner.train_dataloader))
    inputs = runner.model.data_preprocessor(batch, True)['inputs']
    assert inputs.view((-1, ) + inputs.shape[2:]).is_contiguous(
        memory_format=torch.channels_last_3d)
