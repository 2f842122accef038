import importlib.util
import os
import pickle
import socket
import subprocess
import sys

import pytest
import torch
from mmaction.structures import ActionDataSample
from mmengine.config import Config
from mmengine.logging import HistoryBuffer
from mmengine.runner import Runner
from mmengine.runner.checkpoint import load_checkpoint
from torch.utils.data import Dataset

import cakes_mmaction
from cakes_mmaction.analysis.child_env import child_env
from cakes_mmaction.assignment import AssignmentError
from cakes_mmaction.checkpoints import safe_load
from cakes_mmaction.checkpoints.safe_load import (UnsafeCheckpointError,
                                                  safe_torch_load)
from cakes_mmaction.harness import compat as _compat
from cakes_mmaction.harness.compat import init_cpu_distributed

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = child_env(ROOT, OMP_NUM_THREADS='1')


# --------------------------------------------------------------------------
# 1. The drn stub (open-mmlab/mmaction2#2714).
# --------------------------------------------------------------------------
def _wheel_lacks_drn():
    spec = importlib.util.find_spec('mmaction')
    root = list(spec.submodule_search_locations)[0]
    return not os.path.isdir(os.path.join(root, 'models', 'localizers',
                                          'drn'))


def test_drn_stub_matches_the_installed_wheel():
    import mmaction.models  # noqa: F401  (works after cakes_mmaction)
    stub = sys.modules.get('mmaction.models.localizers.drn')
    if _wheel_lacks_drn():
        assert stub is not None and stub.__path__ == []
        with pytest.raises(ImportError, match='mmaction2#2714'):
            stub.DRN()
    else:  # pragma: no cover - a fixed wheel needs no stub
        assert not hasattr(stub.DRN, '__module__') or \
            'cakes_mmaction' not in stub.DRN.__module__
    # Already repaired (or real): a second call changes nothing.
    assert _compat.install_drn_stub() is False


def test_wheel_without_the_repair_fails_to_import():
    if not _wheel_lacks_drn():  # pragma: no cover
        pytest.skip('this mmaction2 wheel ships drn: nothing to repair')
    proc = subprocess.run(
        [sys.executable, '-c', 'import mmaction.models'],
        env=ENV, capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0
    assert "No module named 'mmaction.models.localizers.drn'" in proc.stderr


@pytest.mark.parametrize('has_drn', [True, False])
def test_drn_stub_applies_only_when_needed(tmp_path, monkeypatch, has_drn):
    """Against a fake mmaction layout with or without ``drn/``."""
    localizers = tmp_path / 'mmaction' / 'models' / 'localizers'
    localizers.mkdir(parents=True)
    (tmp_path / 'mmaction' / '__init__.py').write_text('')
    if has_drn:
        (localizers / 'drn').mkdir()
    # Hide the real package and the stub; monkeypatch puts them back.
    for name in ('mmaction', 'mmaction.models.localizers.drn',
                 'mmaction.models.localizers.drn.drn'):
        monkeypatch.delitem(sys.modules, name, raising=False)
    monkeypatch.syspath_prepend(str(tmp_path))
    assert importlib.util.find_spec('mmaction').origin.startswith(
        str(tmp_path))
    assert _compat.install_drn_stub() is (not has_drn)
    assert ('mmaction.models.localizers.drn' in sys.modules) is (
        not has_drn)


# --------------------------------------------------------------------------
# 2. Checkpoints load through torch's weights-only unpickler
#    (open-mmlab/mmengine#1613) and never run code.
# --------------------------------------------------------------------------
class _Clips(Dataset):
    """Six random uint8 clips with labels, already packed."""

    def __len__(self):
        return 6

    def __getitem__(self, i):
        gen = torch.Generator().manual_seed(i)
        clip = torch.randint(0, 256, (1, 3, 4, 16, 16), generator=gen,
                             dtype=torch.uint8)
        return dict(inputs=clip,
                    data_samples=ActionDataSample().set_gt_label(i % 3))


def _model(assignment):
    return dict(
        type='Recognizer3D',
        backbone=dict(type='ResNet3dCAKES', depth=18, base_channels=4,
                      stage_blocks=(1, 1, 1, 1), assignment=assignment),
        cls_head=dict(type='I3DHead', in_channels=32, num_classes=3),
        data_preprocessor=dict(type='ActionDataPreprocessor',
                               format_shape='NCTHW'))


def _runner(work_dir, max_iters, assignment=dict(uniform='video'), **kwargs):
    return Runner(
        model=_model(assignment),
        work_dir=str(work_dir),
        train_dataloader=dict(
            dataset=_Clips(), batch_size=2, num_workers=0,
            persistent_workers=False,
            sampler=dict(type='DefaultSampler', shuffle=False),
            collate_fn=dict(type='pseudo_collate')),
        train_cfg=dict(type='IterBasedTrainLoop', max_iters=max_iters),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01,
                                          momentum=0.9)),
        param_scheduler=dict(type='ConstantLR', factor=1.0, by_epoch=False),
        default_hooks=dict(
            checkpoint=dict(type='CheckpointHook', interval=2,
                            by_epoch=False),
            logger=dict(type='LoggerHook', interval=1)),
        default_scope='mmaction',
        log_level='WARNING',
        **kwargs)


@pytest.fixture(scope='module')
def trained_checkpoint(tmp_path_factory):
    work_dir = tmp_path_factory.mktemp('run')
    runner = _runner(work_dir, max_iters=2)
    runner.train()
    path = work_dir / 'iter_2.pth'
    assert path.is_file()
    return path, runner.model.state_dict()


def test_runner_checkpoint_loads_only_through_the_allow_list(
        trained_checkpoint):
    path, state = trained_checkpoint
    # Plain weights-only loading fails on mmengine's run state: the repair
    # is needed with this torch.
    with pytest.raises(pickle.UnpicklingError):
        torch.load(path, weights_only=True)
    ckpt = safe_torch_load(str(path))
    assert {'state_dict', 'optimizer', 'message_hub', 'meta'} <= set(ckpt)
    history = ckpt['message_hub']['log_scalars']['train/loss']
    assert isinstance(history, HistoryBuffer)
    assert len(history.data[0]) == 2  # one loss per iteration
    for key, value in state.items():
        torch.testing.assert_close(ckpt['state_dict'][key], value)


def test_load_checkpoint_and_resume(trained_checkpoint, tmp_path):
    path, state = trained_checkpoint
    model = Runner.from_cfg(Config(dict(
        model=_model(dict(uniform='video')), work_dir=str(tmp_path),
        default_scope='mmaction', log_level='WARNING'))).model
    load_checkpoint(model, str(path), map_location='cpu')
    for key, value in state.items():
        torch.testing.assert_close(model.state_dict()[key], value)

    runner = _runner(tmp_path, max_iters=3, load_from=str(path),
                     resume=True)
    runner.load_or_resume()
    assert runner.iter == 2
    runner.train()
    assert runner.iter == 3 and (tmp_path / 'iter_3.pth').is_file()


def test_load_from_of_another_assignment_fails(trained_checkpoint,
                                               tmp_path):
    path, _ = trained_checkpoint
    runner = _runner(tmp_path, max_iters=1, load_from=str(path),
                     assignment=dict(uniform=['3x3x3']))
    with pytest.raises(AssignmentError, match=r"layer '.*layer1\.0\.conv1' "
                       r"has counts \{'3x3x3': 2, '1x3x3': 1, '3x1x1': 1\}"
                       r" in the checkpoint but \{'3x3x3': 4\} in the model"):
        runner.load_or_resume()


class _Payload:
    """Pickles to a call of ``func(*args)`` when unpickled."""

    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


def _payloads(marker):
    return {
        'os.system': _Payload(os.system, f'touch {marker}'),
        'open': _Payload(open, str(marker), 'w'),
        # builtins.getattr is allow-listed for mmengine's HistoryBuffer;
        # any other lookup through it must still be refused.
        'getattr': _Payload(getattr, HistoryBuffer, '__init__'),
    }


@pytest.mark.parametrize('kind', ['os.system', 'open', 'getattr'])
def test_malicious_checkpoint_is_refused_and_never_runs(tmp_path, kind):
    marker = tmp_path / 'pwned'
    path = tmp_path / 'evil.pth'
    payload = _payloads(marker)[kind]
    torch.save({'state_dict': {'w': torch.zeros(1)}, 'meta': payload}, path)
    model = torch.nn.Linear(1, 1)
    loaders = [
        lambda: safe_torch_load(str(path)),
        lambda: load_checkpoint(model, str(path), map_location='cpu'),
    ]
    for load in loaders:
        with pytest.raises(UnsafeCheckpointError) as err:
            load()
        assert str(path) in str(err.value) or 'getattr' in str(err.value)
        assert not marker.exists()
    # The payload is live: an unsafe loader would have run it.
    if kind != 'getattr':
        torch.load(path, weights_only=False)
        assert marker.exists()


def test_garbage_file_is_refused(tmp_path):
    path = tmp_path / 'junk.pth'
    path.write_bytes(b'not a checkpoint at all')
    with pytest.raises(UnsafeCheckpointError, match='junk.pth'):
        safe_torch_load(str(path))
    with pytest.raises(FileNotFoundError):
        safe_load._safe_load_from_local(str(tmp_path / 'missing.pth'))


def test_apply_all_is_idempotent():
    assert _compat.apply_all() == dict(drn_stub=False,
                                       optional_extras_off=[],
                                       safe_checkpoint_loading=False)
    assert cakes_mmaction.__version__


# --------------------------------------------------------------------------
# 3. Distributed on CPU (open-mmlab/mmengine#1329).
# --------------------------------------------------------------------------
def test_cpu_distributed_is_a_no_op_without_launcher():
    cfg = Config(dict(env_cfg=dict(dist_cfg=dict(backend='nccl'))))
    assert init_cpu_distributed(cfg, 'none') is False
    assert cfg.env_cfg.dist_cfg.backend == 'nccl'
    assert 'model_wrapper_cfg' not in cfg


def _gloo_worker(rank, port, results):
    """One rank of a 2-process CPU run (a spawned child)."""
    import torch.distributed as dist
    from mmengine.model import MMDistributedDataParallel
    try:
        os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port),
                          RANK=str(rank), LOCAL_RANK=str(rank),
                          WORLD_SIZE='2')
        cfg = Config(dict(env_cfg=dict(dist_cfg=dict(backend='nccl'))))
        assert init_cpu_distributed(cfg, 'pytorch') is True
        assert dist.get_backend() == 'gloo'
        assert cfg.env_cfg.dist_cfg.backend == 'gloo'
        assert cfg.model_wrapper_cfg == dict(
            type='MMDistributedDataParallel', device_ids=None)
        torch.manual_seed(0)
        # DDP rejects device_ids=[rank] for a CPU module; None works.
        model = MMDistributedDataParallel(
            module=torch.nn.Linear(3, 1),
            device_ids=cfg.model_wrapper_cfg['device_ids'])
        # Different data per rank; DDP averages the gradients over gloo.
        model(torch.full((2, 3), float(rank + 1))).sum().backward()
        grad = model.module.weight.grad
        assert torch.allclose(grad, torch.full_like(grad, 3.0)), grad
        dist.destroy_process_group()
        results.put((rank, 'ok'))
    except BaseException as err:  # report to the parent, never hang it
        results.put((rank, repr(err)))


def test_two_process_gloo_run():
    if torch.cuda.is_available():  # pragma: no cover
        pytest.skip('the CPU path is a no-op where CUDA is available')
    import multiprocessing as mp

    # Spawned, not forked: a fork of a test process that has run other
    # tests copies their threads' locks, and once hung a rank here.
    ctx = mp.get_context('spawn')
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]
    results = ctx.Queue()
    procs = [ctx.Process(target=_gloo_worker, args=(rank, port, results))
             for rank in range(2)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(timeout=120)
        assert proc.exitcode == 0
    assert sorted(results.get(timeout=5) for _ in procs) == [(0, 'ok'),
                                                             (1, 'ok')]
