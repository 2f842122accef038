"""Command-line smoke tests, one per tool, on tiny generated data:
tools/train.py, tools/test.py --dump, tools/dist_train.sh (2 CPU processes,
gloo), tools/demo.py on an mp4, tools/data/generate_synthetic.py and
tools/run_demo.py (parallel training in spawned processes)."""
import os
import os.path as osp
import pickle
import socket
import subprocess
import sys

import pytest
import torch
from mmengine.config import Config

from cakes_mmaction.analysis.gpu_check import cli_options
from cakes_mmaction.checkpoints.safe_load import safe_torch_load
from cakes_mmaction.harness.apis.data_options import synthetic_cfg_options
from cakes_mmaction.harness.apis.inference import (recognize_video,
                                                   video_test_pipeline)
from cakes_mmaction.harness.synthetic import (generate_synthetic_dataset,
                                              order_blind_ceiling)

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DEMO = osp.join(ROOT, 'configs/demo/cakes_tiny_synthetic.py')
ENV = dict(os.environ, OMP_NUM_THREADS='1', PYTHONWARNINGS='ignore')


def run(args, **kwargs):
    proc = subprocess.run(args, env=kwargs.pop('env', ENV), cwd=ROOT,
                          capture_output=True, text=True, **kwargs)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    return proc.stdout


@pytest.fixture(scope='module')
def data(tmp_path_factory):
    # All 5 pairs, one clip each: 10 training and 10 test videos.
    return generate_synthetic_dataset(
        str(tmp_path_factory.mktemp('syn')), num_per_class=1, size=32)


@pytest.fixture(scope='module')
def options(data):
    opts = synthetic_cfg_options(Config.fromfile(DEMO), data)
    opts.update({
        'train_dataloader.batch_size': 5,
        'val_dataloader.batch_size': 10,
        'train_cfg.max_epochs': 1,
        'train_cfg.val_interval': 1,
        'default_hooks.checkpoint.interval': 1,
    })
    return opts


@pytest.fixture(scope='module')
def trained(data, options, tmp_path_factory):
    work_dir = tmp_path_factory.mktemp('train')
    out = run([sys.executable, 'tools/train.py', DEMO, '--work-dir',
               str(work_dir), '--cfg-options'] + cli_options(options))
    return work_dir, out


def test_train_tool(trained):
    work_dir, _ = trained
    ckpt = safe_torch_load(str(work_dir / 'epoch_1.pth'))
    assert ckpt['meta']['epoch'] == 1 and ckpt['meta']['iter'] == 2
    logs = list(work_dir.glob('*/*.log'))
    assert logs and 'acc/top1' in logs[0].read_text()


def test_test_tool_dump(trained, options, tmp_path):
    work_dir, _ = trained
    dump = tmp_path / 'preds.pkl'
    run([sys.executable, 'tools/test.py', DEMO,
         str(work_dir / 'epoch_1.pth'), '--work-dir', str(tmp_path), '--dump',
         str(dump), '--cfg-options'] + cli_options(options))
    with open(dump, 'rb') as f:
        preds = pickle.load(f)
    assert len(preds) == 10
    assert all(p['pred_score'].shape == (10, ) for p in preds)


def _free_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def test_dist_train_two_cpu_processes(data, options, tmp_path):
    env = dict(ENV, PYTHON=sys.executable, PORT=str(_free_port()))
    run(['bash', 'tools/dist_train.sh', DEMO, '2', '--work-dir',
         str(tmp_path), '--cfg-options'] + cli_options(options), env=env)
    # 10 videos, batch 5 per process, 2 processes: one iteration.
    ckpt = safe_torch_load(str(tmp_path / 'epoch_1.pth'))
    assert ckpt['meta']['iter'] == 1
    log = next(tmp_path.glob('*/*.log')).read_text()
    assert 'Distributed training: True' in log
    if not torch.cuda.is_available():
        assert "backend='gloo'" in log  # chosen by itself


def test_demo_tool_on_mp4(trained, data):
    work_dir, _ = trained
    video = osp.join(data.videos, 'val_003_00000.mp4')
    out = run([sys.executable, 'tools/demo.py', video, DEMO,
               str(work_dir / 'epoch_1.pth'), '--label-map', data.class_file])
    lines = out.strip().splitlines()[-5:]
    names = open(data.class_file).read().splitlines()
    scores = [float(line.split()[1]) for line in lines]
    assert [line.split(maxsplit=2)[2] in names for line in lines] == [True] * 5
    assert scores == sorted(scores, reverse=True) and sum(scores) <= 1.0001


def test_video_pipeline_of_frame_configs():
    for name in ('cakes_tiny_synthetic.py', '../cakes_r50_sthv1.py'):
        cfg = Config.fromfile(osp.join(ROOT, 'configs/demo', name))
        types = [s['type'] for s in video_test_pipeline(cfg)]
        assert types[0] == 'CheckedDecordInit'
        assert 'CheckedRawFrameDecode' not in types
        assert types[types.index('SegmentSampleFrames') + 1] == \
            'CheckedDecordDecode'
    cfg = Config.fromfile(osp.join(ROOT, 'configs/cakes_r50_k400.py'))
    assert [s['type'] for s in video_test_pipeline(cfg)] == [
        s['type'] for s in cfg.test_pipeline
    ]


def test_demo_missing_video(tmp_path):
    with pytest.raises(FileNotFoundError, match='nothing.mp4'):
        recognize_video(str(tmp_path / 'nothing.mp4'), DEMO, DEMO)


def test_generate_synthetic_tool(tmp_path):
    run([sys.executable, 'tools/data/generate_synthetic.py', str(tmp_path),
         '--train-per-class', '1', '--val-per-class', '1', '--pairs', '2',
         '--size', '32', '40', '--formats', 'rawframes'])
    lines = (tmp_path / 'val_list_rawframes.txt').read_text().splitlines()
    assert len(lines) == 4
    assert not (tmp_path / 'videos').exists()
    assert order_blind_ceiling(
        str(tmp_path / 'val_list_rawframes.txt'),
        str(tmp_path / 'rawframes'))[0] == 0.5


def test_run_demo_tool_tiny(tmp_path):
    out = run([sys.executable, 'tools/run_demo.py', '--work-dir',
               str(tmp_path), '--train-per-class', '2', '--test-per-class',
               '2', '--pairs', '2', '--cfg-options', 'train_cfg.max_epochs=1',
               'train_dataloader.batch_size=4'])
    assert 'frame-order-blind ceiling: 50.0% top-1' in out
    rows = {line.split()[0]: line for line in out.splitlines()
            if line.startswith(('c2d_tiny', 'cakes_tiny'))
            and not line.split()[0].endswith(':')}
    assert set(rows) == {'c2d_tiny_synthetic', 'cakes_tiny_synthetic'}
    c2d_top1 = float(rows['c2d_tiny_synthetic'].split()[1].rstrip('%'))
    assert c2d_top1 <= 50.0  # exact: it cannot tell twins apart
    assert 'as it must be' in out


FAKE_SRUN = """#!/usr/bin/env bash
# Stand-in for Slurm's srun: drops srun's options, runs one task.
while [ $# -gt 0 ]; do
  case "$1" in
    -p) shift 2 ;;
    --*) shift ;;
    *) break ;;
  esac
done
export SLURM_PROCID=0 SLURM_NTASKS=1 SLURM_LOCALID=0 SLURM_NODELIST=localhost
export MASTER_ADDR=127.0.0.1
exec "$@"
"""


def test_slurm_train_script(options, tmp_path):
    srun = tmp_path / 'bin' / 'srun'
    srun.parent.mkdir()
    srun.write_text(FAKE_SRUN)
    srun.chmod(0o755)
    env = dict(ENV, PATH=f'{srun.parent}:{os.environ["PATH"]}',
               PYTHON=sys.executable, GPUS='1', GPUS_PER_NODE='1', GRES='',
               MASTER_PORT=str(_free_port()))
    work_dir = tmp_path / 'work'
    run(['bash', 'tools/slurm_train.sh', 'partition', 'job', DEMO,
         '--work-dir', str(work_dir), '--cfg-options'] + cli_options(options),
        env=env)
    assert (work_dir / 'epoch_1.pth').is_file()
    log = next(work_dir.glob('*/*.log')).read_text()
    assert 'Distributed launcher: slurm' in log


# -- on a GPU ----------------------------------------------------------------
@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(),
                    reason='needs a CUDA device')
def test_dist_train_one_gpu_nccl(data, options, tmp_path):
    env = dict(ENV, PYTHON=sys.executable, PORT=str(_free_port()))
    run(['bash', 'tools/dist_train.sh', DEMO, '1', '--work-dir',
         str(tmp_path), '--cfg-options'] + cli_options(options), env=env)
    # 10 videos, batch 5, one process: two iterations.
    ckpt = safe_torch_load(str(tmp_path / 'epoch_1.pth'))
    assert ckpt['meta']['iter'] == 2
    log = next(tmp_path.glob('*/*.log')).read_text()
    assert 'Distributed training: True' in log
    assert "backend='nccl'" in log


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(),
                    reason='needs a CUDA device')
def test_demo_tool_on_gpu_matches_cpu(trained, data):
    work_dir, _ = trained
    video = osp.join(data.videos, 'val_003_00000.mp4')
    outs = {
        device: run([sys.executable, 'tools/demo.py', video, DEMO,
                     str(work_dir / 'epoch_1.pth'), '--label-map',
                     data.class_file, '--device', device])
        for device in ('cuda:0', 'cpu')
    }
    top = {d: [ln.split(maxsplit=2) for ln in out.strip().splitlines()[-5:]]
           for d, out in outs.items()}
    assert [r[2] for r in top['cuda:0']] == [r[2] for r in top['cpu']]
    for gpu, cpu in zip(top['cuda:0'], top['cpu']):
        assert float(gpu[1]) == pytest.approx(float(cpu[1]), abs=2e-3)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(),
                    reason='needs a CUDA device')
def test_gpu_checkpoint_on_cpu_and_back(trained, options, tmp_path):
    # `trained` ran on the GPU here (with gpu_fit: AMP, channels-last).
    from mmaction.apis import init_recognizer
    from mmengine.runner.checkpoint import load_checkpoint
    work_dir, _ = trained
    gpu_ckpt = str(work_dir / 'epoch_1.pth')
    state = safe_torch_load(gpu_ckpt, map_location='cpu')
    tensors = list(state['state_dict'].values()) + [
        t for s in state['optimizer']['state'].values() for t in s.values()
        if torch.is_tensor(t)
    ]
    assert tensors and all(t.device.type == 'cpu' for t in tensors)
    cpu_ckpt = str(tmp_path / 'on_cpu.pth')
    torch.save(state, cpu_ckpt)
    cfg = Config.fromfile(DEMO)
    cfg.merge_from_dict(options)
    models = {}
    for device, ckpt in (('cpu', gpu_ckpt), ('cuda:0', cpu_ckpt)):
        models[device] = init_recognizer(cfg, ckpt, device=device)
    back = {k: v.cpu() for k, v in models['cuda:0'].state_dict().items()}
    for key, value in models['cpu'].state_dict().items():
        assert torch.equal(back[key], value), key
    # And back onto the GPU weights a GPU model can load again.
    load_checkpoint(models['cuda:0'], gpu_ckpt, map_location='cuda:0')
