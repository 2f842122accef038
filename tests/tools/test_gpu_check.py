"""tools/misc/gpu_check.py: a clear exit without CUDA, its plan, and every
step run for real in CPU mode (a tiny config; CUDA tests skip there)."""
import importlib.util
import json
import os.path as osp
import subprocess
import sys

import pytest
import torch

from cakes_mmaction.analysis.child_env import child_env
from cakes_mmaction.analysis.gpu_check import benchmark_step, summary_table

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOOL = osp.join(ROOT, 'tools', 'misc', 'gpu_check.py')
TINY = 'configs/demo/cakes_tiny_synthetic.py'


def _tool():
    spec = importlib.util.spec_from_file_location('gpu_check_tool', TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def gpu_check(*args, timeout=600):
    return subprocess.run([sys.executable, TOOL, *args], cwd=ROOT,
                          env=child_env(OMP_NUM_THREADS='1'),
                          capture_output=True, text=True, timeout=timeout)


@pytest.mark.skipif(torch.cuda.is_available(), reason='a CUDA machine')
def test_without_cuda_it_says_so_and_stops(tmp_path, capsys):
    assert _tool().main(['--out', str(tmp_path)]) == 2
    stderr = capsys.readouterr().err
    assert 'no CUDA device is visible' in stderr
    assert '--device cpu' in stderr
    assert not (tmp_path / 'gpu_check.json').exists()


def test_dry_run_plans_the_real_commands(tmp_path, capsys):
    # The tool's main in this process: the plan needs no fresh interpreter
    # (the CPU-mode test runs the tool as a command).
    assert _tool().main(['--out', str(tmp_path), '--dry-run']) == 0
    plan = dict(line.split(': ', 1)
                for line in capsys.readouterr().out.splitlines()
                if ': ' in line)
    assert '-m pytest -q -m cuda' in plan['cuda_tests']
    assert 'tools/train.py configs/cakes_r50_sthv1.py' in plan['train']
    assert '--amp' in plan['train'] and 'train_cfg.max_epochs=2' in \
        plan['train']
    assert f"{tmp_path}/train/epoch_2.pth" in plan['test']
    assert 'tools/dist_train.sh configs/cakes_r50_sthv1.py 1' in \
        plan['torchrun']
    # The real widths on CUDA: no --width-scale.
    assert '--quick --device cuda' in plan['benchmark']
    assert '--dtype bf16 --channels-last' in plan['benchmark']
    assert '--width-scale' not in plan['benchmark']
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
    # The --quick code path, narrow (the plan passed the benchmark's
    # parser), and its report says so.
    assert steps['benchmark']['status'] == 'ok', steps['benchmark']
    saved = json.loads((out / 'benchmark.json').read_text())
    assert saved['options']['quick'] is True
    assert saved['options']['width_scale'] == 0.125
    assert 'NARROW networks' in (out / 'benchmark.md').read_text()
    assert report['total_seconds'] <= report['budget_s'] + 5
    # The table printed last names every step.
    table = proc.stdout.strip().splitlines()[-len(steps):]
    assert [line.split()[0] for line in table] == list(steps)


def test_benchmark_step_is_checked_by_the_benchmark_parser(tmp_path,
                                                           monkeypatch):
    step = benchmark_step('cpu', str(tmp_path))
    assert step['cmd'][1:4] == ['tools/analysis/benchmark.py', '--quick',
                                '--device']
    assert step['cmd'][-2:] == ['--width-scale', '0.125']
    # An argument the benchmark does not take: reported, not run.
    from cakes_mmaction.analysis import gpu_check as lib
    monkeypatch.setattr(lib, 'CPU_BENCHMARK_ARGS', ('--no-such-option', ))
    step = benchmark_step('cpu', str(tmp_path))
    assert step['cmd'] is None
    assert 'unrecognized arguments: --no-such-option' in step['skip']


def test_summary_table():
    table = summary_table([
        dict(name='train', status='ok', seconds=12.34, detail='0.2 s/iter'),
        dict(name='benchmark', status='skipped', seconds=0.0, detail=''),
    ])
    lines = table.splitlines()
    assert lines[0].split() == ['step', 'status', 'seconds', 'detail']
    assert lines[2].split() == ['train', 'ok', '12.3', '0.2', 's/iter']
    assert lines[3].split() == ['benchmark', 'skipped', '0.0']
