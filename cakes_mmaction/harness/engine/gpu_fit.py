"""GPU fit: mixed precision, channels-last and cuDNN autotuning on CUDA.

The runtime base (``configs/_base_/default_runtime.py``) sets::

    gpu_fit = dict(enable='auto', amp='auto', channels_last=True,
                   cudnn_benchmark=True)

``enable='auto'`` switches it on when CUDA is available (``True`` / ``False``
force it; ``tools/train.py --gpu-fit on|off|auto`` sets it). Switched on,
:func:`resolve_gpu_fit` turns the settings into mmengine's own config:

- ``amp``: ``AmpOptimWrapper`` with ``dtype='bfloat16'`` where the device
  supports bf16 (static loss scale 1.0: bf16 has float32's exponent range),
  else ``dtype='float16'`` with dynamic loss scaling; ``'bf16'``,
  ``'fp16'`` or ``False`` choose. Training only; it needs CUDA.
- ``channels_last``: ``ChannelsLastActionDataPreprocessor`` for the clips
  and ``ChannelsLastHook`` for the weights (``torch.channels_last_3d``).
- ``cudnn_benchmark``: ``env_cfg.cudnn_benchmark`` (``--deterministic``
  still wins: mmengine then switches it off).
"""
import copy
from typing import Optional

import torch
from mmengine.config import Config

__all__ = ['GPU_FIT_DEFAULTS', 'resolve_gpu_fit']

GPU_FIT_DEFAULTS = dict(
    enable='auto', amp='auto', channels_last=True, cudnn_benchmark=True)
_AMP_DTYPES = dict(bf16='bfloat16', fp16='float16')
_PREPROCESSORS = ('ActionDataPreprocessor',
                  'ChannelsLastActionDataPreprocessor')


def _bf16_supported() -> bool:
    return torch.cuda.is_available() and torch.cuda.is_bf16_supported()


def _settings(cfg: Config) -> dict:
    settings = dict(GPU_FIT_DEFAULTS)
    given = cfg.get('gpu_fit') or {}
    unknown = sorted(set(given) - set(GPU_FIT_DEFAULTS))
    if unknown:
        raise ValueError(f'{cfg.filename}: gpu_fit has unknown keys '
                         f'{unknown}; expected {sorted(GPU_FIT_DEFAULTS)}')
    settings.update(given)
    if settings['enable'] not in ('auto', True, False):
        raise ValueError(f"{cfg.filename}: gpu_fit.enable must be 'auto', "
                         f"True or False, got {settings['enable']!r}")
    if settings['amp'] not in ('auto', 'bf16', 'fp16', False, None):
        raise ValueError(f"{cfg.filename}: gpu_fit.amp must be 'auto', "
                         f"'bf16', 'fp16' or False, got {settings['amp']!r}")
    return settings


def _set_amp(cfg: Config, amp: str, asked: bool) -> bool:
    wrapper = cfg.optim_wrapper
    kind = wrapper.get('type', 'OptimWrapper')
    if kind not in ('OptimWrapper', 'AmpOptimWrapper'):
        if not asked:  # 'auto': a custom wrapper keeps its precision
            return False
        raise ValueError(
            f'{cfg.filename}: gpu_fit.amp needs optim_wrapper.type '
            f'OptimWrapper or AmpOptimWrapper, got {kind}; set '
            'gpu_fit.amp=False for this config')
    wrapper.type = 'AmpOptimWrapper'
    wrapper.setdefault('dtype', _AMP_DTYPES[amp])
    wrapper.setdefault('loss_scale', 1.0 if amp == 'bf16' else 'dynamic')
    return True


def _set_channels_last(cfg: Config) -> bool:
    preprocessor = cfg.model.get('data_preprocessor')
    kind = str((preprocessor or {}).get('type', '')).split('.')[-1]
    if kind not in _PREPROCESSORS:
        return False  # a custom preprocessor: leave its layout alone
    preprocessor.type = 'ChannelsLastActionDataPreprocessor'
    hooks = list(cfg.get('custom_hooks') or [])
    if not any(h.get('type') == 'ChannelsLastHook' for h in hooks):
        hooks.append(dict(type='ChannelsLastHook'))
    cfg.custom_hooks = hooks
    return True


def resolve_gpu_fit(cfg: Config,
                    training: bool = True,
                    cuda_available: Optional[bool] = None,
                    bf16_supported: Optional[bool] = None) -> dict:
    """Apply ``cfg.gpu_fit`` to the config, in place.

    Args:
        cfg (Config): A loaded config (its options already merged).
        training (bool): Whether the config is for training (mixed precision
            applies to training only). Defaults to True.
        cuda_available (bool, optional): Defaults to
            ``torch.cuda.is_available()``.
        bf16_supported (bool, optional): Defaults to
            ``torch.cuda.is_bf16_supported()``.

    Returns:
        dict: What was applied: ``enable`` (bool), ``amp`` (``'bf16'``,
        ``'fp16'`` or None), ``channels_last`` and ``cudnn_benchmark``.
    """
    settings = _settings(cfg)
    cuda = (torch.cuda.is_available()
            if cuda_available is None else cuda_available)
    enable = cuda if settings['enable'] == 'auto' else settings['enable']
    applied = dict(enable=bool(enable), amp=None, channels_last=False,
                   cudnn_benchmark=False)
    if not enable:
        return applied
    amp = settings['amp'] if training else None
    asked = amp in _AMP_DTYPES
    if amp == 'auto':
        if not cuda:
            amp = None  # mixed precision here needs CUDA
        elif bf16_supported is None:
            amp = 'bf16' if _bf16_supported() else 'fp16'
        else:
            amp = 'bf16' if bf16_supported else 'fp16'
    elif amp and not cuda:
        raise RuntimeError(
            f'{cfg.filename}: gpu_fit.amp={amp!r} needs a CUDA device and '
            "this machine has none; use gpu_fit.amp='auto' or False")
    if amp and _set_amp(cfg, amp, asked):
        applied['amp'] = amp
    if settings['channels_last']:
        applied['channels_last'] = _set_channels_last(cfg)
    if settings['cudnn_benchmark']:
        env_cfg = cfg.get('env_cfg') or {}
        env_cfg['cudnn_benchmark'] = True
        cfg.env_cfg = env_cfg
        applied['cudnn_benchmark'] = True
    return copy.deepcopy(applied)
