"""gpu_fit resolves into mmengine's own config: AMP wrapper, channels-last
preprocessor and hook, cuDNN autotuning; off without CUDA by default."""
import os.path as osp

import pytest
import torch
from mmengine.config import Config

from cakes_mmaction.harness.apis import build_test_cfg, build_train_cfg
from cakes_mmaction.harness.engine.gpu_fit import resolve_gpu_fit
from cakes_mmaction.models.channels_last_preprocessor import \
    to_channels_last_3d

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
STHV1 = osp.join(ROOT, 'configs', 'cakes_r50_sthv1.py')


@pytest.fixture
def cfg():
    return Config.fromfile(STHV1)


def _fit_parts(cfg):
    return (cfg.optim_wrapper.to_dict(), cfg.model.data_preprocessor.type,
            [h['type'] for h in cfg.get('custom_hooks') or []],
            cfg.env_cfg.get('cudnn_benchmark'))


def test_the_paper_config_asks_for_auto(cfg):
    assert cfg.gpu_fit == dict(enable='auto', amp='auto',
                               channels_last=True, cudnn_benchmark=True)


def test_auto_without_cuda_changes_nothing(cfg):
    before = _fit_parts(cfg)
    applied = resolve_gpu_fit(cfg, cuda_available=False)
    assert applied == dict(enable=False, amp=None, channels_last=False,
                           cudnn_benchmark=False)
    assert _fit_parts(cfg) == before


@pytest.mark.parametrize('bf16,dtype,scale', [
    (True, 'bfloat16', 1.0),
    (False, 'float16', 'dynamic'),
])
def test_auto_with_cuda(cfg, bf16, dtype, scale):
    lr = cfg.optim_wrapper.optimizer.lr
    applied = resolve_gpu_fit(cfg, cuda_available=True, bf16_supported=bf16)
    assert applied == dict(enable=True, amp='bf16' if bf16 else 'fp16',
                           channels_last=True, cudnn_benchmark=True)
    wrapper = cfg.optim_wrapper
    assert wrapper.type == 'AmpOptimWrapper'
    assert (wrapper.dtype, wrapper.loss_scale) == (dtype, scale)
    assert wrapper.optimizer.lr == lr  # the rest of the recipe is kept
    assert cfg.model.data_preprocessor.type == (
        'ChannelsLastActionDataPreprocessor')
    assert [h['type'] for h in cfg.custom_hooks].count('ChannelsLastHook') \
        == 1
    assert cfg.env_cfg.cudnn_benchmark is True
    # Resolving again (a resumed or re-loaded config) adds nothing.
    resolve_gpu_fit(cfg, cuda_available=True, bf16_supported=bf16)
    assert [h['type'] for h in cfg.custom_hooks].count('ChannelsLastHook') \
        == 1


def test_testing_has_no_mixed_precision(cfg):
    applied = resolve_gpu_fit(cfg, training=False, cuda_available=True)
    assert applied['amp'] is None and applied['channels_last']
    assert cfg.optim_wrapper.get('type', 'OptimWrapper') == 'OptimWrapper'


def test_switches(cfg):
    cfg.gpu_fit = dict(enable=False)
    assert not resolve_gpu_fit(cfg, cuda_available=True)['enable']
    cfg.gpu_fit = dict(enable=True, amp=False, cudnn_benchmark=False)
    applied = resolve_gpu_fit(cfg, cuda_available=True)
    assert applied == dict(enable=True, amp=None, channels_last=True,
                           cudnn_benchmark=False)
    cfg.gpu_fit = dict(enable=True, amp='bf16')
    with pytest.raises(RuntimeError, match='needs a CUDA device'):
        resolve_gpu_fit(cfg, cuda_available=False)


def test_bad_settings_name_the_file(cfg):
    cfg.gpu_fit = dict(enable='yes')
    with pytest.raises(ValueError, match='cakes_r50_sthv1.py.*enable'):
        resolve_gpu_fit(cfg)
    cfg.gpu_fit = dict(amp_dtype='bf16')
    with pytest.raises(ValueError, match='unknown keys'):
        resolve_gpu_fit(cfg)


def test_custom_optim_wrapper_keeps_its_precision_under_auto(cfg):
    cfg.optim_wrapper.type = 'MyOptimWrapper'
    assert resolve_gpu_fit(cfg, cuda_available=True)['amp'] is None
    cfg.gpu_fit = dict(amp='fp16')
    with pytest.raises(ValueError, match='MyOptimWrapper'):
        resolve_gpu_fit(cfg, cuda_available=True)


def test_tool_switch_reaches_the_config():
    train_cfg = build_train_cfg(STHV1, gpu_fit='on')
    assert train_cfg.model.data_preprocessor.type == (
        'ChannelsLastActionDataPreprocessor')
    assert train_cfg.env_cfg.cudnn_benchmark is True
    if not torch.cuda.is_available():  # auto AMP needs CUDA
        assert train_cfg.optim_wrapper.get('type') != 'AmpOptimWrapper'
    off = build_train_cfg(STHV1, gpu_fit='off')
    assert off.model.data_preprocessor.type == 'ActionDataPreprocessor'
    assert off.env_cfg.cudnn_benchmark is False
    with pytest.raises(ValueError, match='gpu_fit'):
        build_train_cfg(STHV1, gpu_fit='fast')


def test_test_cfg_switch(tmp_path):
    ckpt = tmp_path / 'w.pth'
    ckpt.write_bytes(b'')
    cfg = build_test_cfg(STHV1, str(ckpt), gpu_fit='on')
    assert cfg.model.data_preprocessor.type == (
        'ChannelsLastActionDataPreprocessor')


@pytest.mark.parametrize('shape', [(2, 3, 4, 5, 6), (2, 1, 3, 4, 5, 6)])
def test_clips_become_channels_last(shape):
    x = torch.randn(shape)
    y = to_channels_last_3d(x)
    assert torch.equal(x, y) and y.shape == x.shape
    # What Recognizer3D does with a batch before the backbone.
    flat = y.view((-1, ) + y.shape[-4:])
    assert flat.is_contiguous(memory_format=torch.channels_last_3d)
    assert not x.view((-1, ) + x.shape[-4:]).is_contiguous(
        memory_format=torch.channels_last_3d)
