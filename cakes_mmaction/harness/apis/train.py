"""Training and testing the mmaction2 way, as library functions.

``tools/train.py`` and ``tools/test.py`` only parse their arguments and call
these; tests call them directly. The command-line options are those of
mmaction2's tools (``--work-dir``, ``--resume``, ``--amp``,
``--auto-scale-lr``, ``--cfg-options``, ``--launcher``, ``--dump``); on top,
a distributed run without CUDA uses gloo by itself
(:func:`cakes_mmaction.harness.compat.init_cpu_distributed`).
"""
import contextlib
import copy
import os
import os.path as osp
from typing import Any, Dict, Iterator, Optional

import torch
from mmaction.registry import RUNNERS
from mmengine.config import Config
from mmengine.runner import Runner

from ..compat import init_cpu_distributed
from ..engine.gpu_fit import resolve_gpu_fit
from ..engine.validate import validate_config

__all__ = ['build_train_cfg', 'build_test_cfg', 'build_runner', 'train',
           'test']

LAUNCHERS = ('none', 'pytorch', 'slurm', 'mpi')
GPU_FIT = dict(auto='auto', on=True, off=False)
# cuBLAS needs this for reproducible results on CUDA >= 10.2 (torch raises
# under deterministic algorithms without it); it has no effect on CPU.
CUBLAS_DETERMINISTIC = ':4096:8'


def _load(config: Any) -> Config:
    if isinstance(config, Config):
        return copy.deepcopy(config)
    if not osp.isfile(config):
        raise FileNotFoundError(f'{config}: config file not found')
    return Config.fromfile(config)


def _default_work_dir(cfg: Config, config: Any, work_dir: Optional[str]):
    # Priority: argument > work_dir in the config > ./work_dirs/<name>.
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir') is None:
        name = osp.splitext(osp.basename(str(cfg.filename or config)))[0]
        cfg.work_dir = osp.join('./work_dirs', name)


def _check_launcher(launcher: str) -> None:
    if launcher not in LAUNCHERS:
        raise ValueError(f'launcher must be one of {LAUNCHERS}, got '
                         f'{launcher!r}')
    os.environ.setdefault('LOCAL_RANK', '0')


def _apply_gpu_fit(cfg: Config, gpu_fit: Optional[str],
                   training: bool) -> None:
    if gpu_fit is not None:
        if gpu_fit not in GPU_FIT:
            raise ValueError(f'gpu_fit must be one of {sorted(GPU_FIT)}, '
                             f'got {gpu_fit!r}')
        settings = dict(cfg.get('gpu_fit') or {})
        settings['enable'] = GPU_FIT[gpu_fit]
        cfg.gpu_fit = settings
    resolve_gpu_fit(cfg, training=training)


def _accelerator_available() -> bool:
    from mmengine.device import (is_cuda_available, is_mlu_available,
                                 is_npu_available)
    return is_cuda_available() or is_npu_available() or is_mlu_available()


def build_train_cfg(config: Any,
                    work_dir: Optional[str] = None,
                    resume: Optional[str] = None,
                    amp: bool = False,
                    no_validate: bool = False,
                    auto_scale_lr: bool = False,
                    seed: Optional[int] = None,
                    diff_rank_seed: bool = False,
                    deterministic: bool = False,
                    cfg_options: Optional[Dict[str, Any]] = None,
                    launcher: str = 'none',
                    gpu_fit: Optional[str] = None) -> Config:
    """Load a config and apply the training command-line options.

    Args:
        config (str | Config): Config file (or an already loaded one,
            copied).
        work_dir (str, optional): Where logs and checkpoints go. Defaults to
            the config's ``work_dir`` or ``./work_dirs/<config name>``.
        resume (str, optional): ``'auto'`` resumes from the latest
            checkpoint of the work dir, a path from that checkpoint.
            Defaults to None (no resume).
        amp (bool): Mixed precision (``AmpOptimWrapper``); needs a CUDA,
            NPU or MLU device. Defaults to False.
        no_validate (bool): Skip validation during training. Defaults to
            False.
        auto_scale_lr (bool): Scale the lr by the actual total batch over
            ``auto_scale_lr.base_batch_size``. Defaults to False.
        seed (int, optional): Random seed (overrides the config's).
            Defaults to None.
        diff_rank_seed (bool): Different seeds on different ranks. Defaults
            to False.
        deterministic (bool): Deterministic algorithms (for exactly
            reproducible runs). Defaults to False.
        cfg_options (dict, optional): ``key.sub=value`` overrides, applied
            first: the options above win over them. Defaults to None.
        launcher (str): ``'none'``, ``'pytorch'``, ``'slurm'`` or
            ``'mpi'``. Defaults to ``'none'``.
        gpu_fit (str, optional): ``'auto'``, ``'on'`` or ``'off'``: mixed
            precision, channels-last and cuDNN autotuning
            (:mod:`cakes_mmaction.harness.engine.gpu_fit`). Defaults to None
            (the config's ``gpu_fit``; ``'auto'`` in the runtime base: on with
            CUDA).

    Returns:
        Config: The config to give :func:`train`.
    """
    _check_launcher(launcher)
    cfg = _load(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    cfg.launcher = launcher
    _default_work_dir(cfg, config, work_dir)
    _apply_gpu_fit(cfg, gpu_fit, training=True)
    if no_validate:
        cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    if amp:
        if not _accelerator_available():
            raise RuntimeError(
                '--amp: mixed precision needs a CUDA, NPU or MLU device '
                "(mmengine's AmpOptimWrapper refuses to run on CPU) and "
                'this machine has none; train without --amp here.')
        wrapper = cfg.optim_wrapper.get('type', 'OptimWrapper')
        if wrapper not in ('OptimWrapper', 'AmpOptimWrapper'):
            raise ValueError(f'--amp works with OptimWrapper, but '
                             f'{cfg.filename} uses {wrapper}')
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')
    if resume == 'auto':
        cfg.resume, cfg.load_from = True, None
    elif resume is not None:
        if not osp.isfile(resume):
            raise FileNotFoundError(f'--resume {resume}: checkpoint not '
                                    'found')
        cfg.resume, cfg.load_from = True, resume
    if auto_scale_lr:
        if not cfg.get('auto_scale_lr', {}).get('base_batch_size'):
            raise ValueError(
                f'--auto-scale-lr: {cfg.filename} has no '
                'auto_scale_lr.base_batch_size (the total batch its lr is '
                'set for)')
        cfg.auto_scale_lr.enable = True
    randomness = dict(seed=None)  # None: mmengine draws a seed
    randomness.update(cfg.get('randomness') or {})
    if seed is not None:
        randomness['seed'] = seed
    if diff_rank_seed:
        randomness['diff_rank_seed'] = True
    if deterministic:
        randomness['deterministic'] = True
    if randomness.get('deterministic'):
        os.environ.setdefault('CUBLAS_WORKSPACE_CONFIG', CUBLAS_DETERMINISTIC)
    cfg.randomness = randomness
    return cfg


def build_test_cfg(config: Any,
                   checkpoint: str,
                   work_dir: Optional[str] = None,
                   dump: Optional[str] = None,
                   cfg_options: Optional[Dict[str, Any]] = None,
                   launcher: str = 'none',
                   gpu_fit: Optional[str] = None) -> Config:
    """Load a config and apply the testing command-line options.

    Args:
        config (str | Config): Config file (or a loaded config, copied).
        checkpoint (str): Weights to test.
        work_dir (str, optional): Where logs and metrics go. Defaults to
            the config's ``work_dir`` or ``./work_dirs/<config name>``.
        dump (str, optional): Also write every prediction to this ``.pkl``
            (mmengine's ``DumpResults``). Defaults to None.
        cfg_options (dict, optional): ``key.sub=value`` overrides.
            Defaults to None.
        launcher (str): ``'none'``, ``'pytorch'``, ``'slurm'`` or
            ``'mpi'``. Defaults to ``'none'``.
        gpu_fit (str, optional): As for :func:`build_train_cfg`, without
            mixed precision. Defaults to None.

    Returns:
        Config: The config to give :func:`test`.
    """
    _check_launcher(launcher)
    if not osp.isfile(checkpoint):
        raise FileNotFoundError(f'{checkpoint}: checkpoint not found')
    cfg = _load(config)
    cfg.launcher = launcher
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    _default_work_dir(cfg, config, work_dir)
    _apply_gpu_fit(cfg, gpu_fit, training=False)
    cfg.load_from = checkpoint
    if dump is not None:
        if not dump.endswith(('.pkl', '.pickle')):
            raise ValueError(f'--dump {dump}: the file must end with .pkl '
                             'or .pickle')
        evaluators = cfg.test_evaluator
        if not isinstance(evaluators, (list, tuple)):
            evaluators = [evaluators]
        cfg.test_evaluator = list(evaluators) + [
            dict(type='DumpResults', out_file_path=dump)
        ]
    return cfg


def build_runner(cfg: Config) -> Runner:
    """Build the Runner of a config, CPU distributed runs on gloo.

    Args:
        cfg (Config): From :func:`build_train_cfg` / :func:`build_test_cfg`.

    Returns:
        Runner: mmengine's Runner (or the config's ``runner_type``).
    """
    init_cpu_distributed(cfg, cfg.get('launcher', 'none'))
    if 'runner_type' in cfg:
        runner = RUNNERS.build(cfg)
    else:
        runner = Runner.from_cfg(cfg)
    if runner.deterministic and torch.cuda.is_available():
        # mmengine asks for deterministic algorithms, and several CUDA
        # backward kernels of these networks (MaxPool3d, AdaptiveAvgPool3d)
        # have no deterministic twin: torch would raise mid-step. They run
        # and warn instead; cuDNN and cuBLAS stay deterministic.
        torch.use_deterministic_algorithms(True, warn_only=True)
    return runner


def train(cfg: Config) -> Runner:
    """Train as configured.

    Args:
        cfg (Config): From :func:`build_train_cfg`.

    Returns:
        Runner: The runner after training (its ``model`` holds the final
        weights).
    """
    # A bad assignment, model, list or load_from fails here, before any
    # worker starts or data loads, with one line per problem.
    validate_config(cfg)
    runner = build_runner(cfg)
    with _named_worker_crashes(runner):
        runner.train()
    return runner


def test(cfg: Config) -> Dict[str, float]:
    """Test the checkpoint ``cfg.load_from`` as configured.

    Args:
        cfg (Config): From :func:`build_test_cfg`.

    Returns:
        dict[str, float]: The metrics, e.g. ``{'acc/top1': ...}``.
    """
    # The checkpoint must fit as trained (every weight, the config's class
    # count, finite values) before any test clip is decoded.
    validate_config(cfg, check_data=False, as_trained=True)
    runner = build_runner(cfg)
    with _named_worker_crashes(runner):
        return runner.test()


@contextlib.contextmanager
def _named_worker_crashes(runner: Runner) -> Iterator[None]:
    """Name the sample a DataLoader worker was loading when it died.

    A native crash (a decoder segfault on a bad file) kills the worker and
    PyTorch reports only its pid and signal; the robust datasets record
    what each worker is loading
    (:mod:`cakes_mmaction.harness.datasets.inflight`).
    """
    try:
        yield
    except RuntimeError as err:
        if 'DataLoader worker' not in str(err):
            raise
        from ..datasets.faults import DataFaultError
        from ..datasets.inflight import crashed_samples

        # The loops hold the built DataLoaders (the Runner keeps configs).
        loaders = [
            getattr(getattr(runner, name, None), 'dataloader', None)
            for name in ('_train_loop', '_val_loop', '_test_loop')
        ]
        pending = crashed_samples(
            (getattr(loader, 'dataset', None) for loader in loaders),
            str(err))
        if not pending:
            raise
        raise DataFaultError(
            f'{str(err).strip()} while loading {"; ".join(pending)}. A '
            f'decoder crashed on this file (check it with '
            f'tools/data/check_dataset.py, then fix or drop it).',
            path=pending[0].rsplit(': ', 1)[-1]) from err
