"""tools/misc/gpu_check.py: a clear exit without CUDA, its plan, and every
step run for real in CPU mode (a tiny config; CUDA tests skip there)."""
import json
import os.path as osp
import subprocess
import sys

import pytest
import torch

from cakes_mmaction.analysis.child_env import child_env
from cakes_mmaction.analysis.gpu_check import summary_table

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOOL = osp.join(ROOT, 'tools', 'misc', 'gpu_check.py')
TINY = 'configs/demo/cakes_tiny_synthetic.py'


def gpu_check(*args, timeout=600):
    return subprocess.run([sys.executable, TOOL, *args], cwd=ROOT,
                          env=child_env(OMP_NUM_THREADS='1'),
                          capture_output=True, text=True, timeout=timeout)


@pytest.mark.skipif(torch.cuda.is_available(), reason='a CUDA machine')
def test_without_cuda_it_says_so_and_stops(tmp_path):
    proc = gpu_check('--out', str(tmp_path))
    assert proc.returncode == 2
    assert 'no CUDA device is visible' in proc.stderr
    assert '--device cpu' in proc.stderr
    assert not (tmp_path / 'gpu_check.json').exists()


def test_dry_run_plans_the_real_commands(tmp_path):
    proc = gpu_check('--out', str(tmp_path), '--dry-run')
    assert proc.returncode == 0, proc.stderr[-2000:]
    plan = dict(line.split(': ', 1) for line in proc.stdout.splitlines()
                if ': ' in line)
    assert '-m pytest -q -m cuda' in plan['cuda_tests']
    assert 'tools/train.py configs/cakes_r50_sthv1.py' in plan['train']
    assert '--amp' in plan['train'] and 'train_cfg.max_epochs=2' in \
        plan['train']
    assert f"{tmp_path}/train/epoch_2.pth" in plan['test']
    assert 'tools/dist_train.sh configs/cakes_r50_sthv1.py 1' in \
        plan['torchrun']
    assert 'benchmark' in plan
    # The generated data is in the SthV1 rawframe layout.
    lists = list((tmp_path / 'data').rglob('*.txt'))
    assert lists


def test_cpu_mode_runs_every_step(tmp_path):
    out = tmp_path / 'out'
    # A generous budget: this runs on small shared CPU machines.
    proc = gpu_check('--out', str(out), '--device', 'cpu', '--config', TINY,
                     '--epochs', '1', '--clips-per-class', '1', '--tests',
                     'tests/layers/test_cakes_conv_cuda.py', '--budget',
                     '1500', timeout=1800)
    report = json.loads((out / 'gpu_check.json').read_text())
    steps = {s['name']: s for s in report['steps']}
    assert proc.returncode == 0, proc.stdout[-3000:] + json.dumps(steps)
    assert steps['cuda_tests']['status'] == 'ok'
    assert 'skipped' in steps['cuda_tests']['detail']
    for name in ('train', 'test', 'torchrun'):
        assert steps[name]['status'] == 'ok', steps[name]
        assert osp.isfile(steps[name]['log'])
    assert '--amp' not in steps['train']['cmd']
    assert 's/iter' in steps['train']['detail']
    assert 'top-1' in steps['test']['detail']
    assert 'backend gloo' in steps['torchrun']['detail']
    assert (out / 'train' / 'epoch_1.pth').is_file()
    assert (out / 'torchrun' / 'epoch_1.pth').is_file()
    assert steps['benchmark']['status'] in ('ok', 'skipped')
    assert report['total_seconds'] <= report['budget_s'] + 5
    # The table printed last names every step.
    table = proc.stdout.strip().splitlines()[-len(steps):]
    assert [line.split()[0] for line in table] == list(steps)


def test_summary_table():
    table = summary_table([
        dict(name='train', status='ok', seconds=12.34, detail='0.2 s/iter'),
        dict(name='benchmark', status='skipped', seconds=0.0, detail=''),
    ])
    lines = table.splitlines()
    assert lines[0].split() == ['step', 'status', 'seconds', 'detail']
    assert lines[2].split() == ['train', 'ok', '12.3', '0.2', 's/iter']
    assert lines[3].split() == ['benchmark', 'skipped', '0.0']
