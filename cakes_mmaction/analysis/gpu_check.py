"""The steps of ``tools/misc/gpu_check.py``: a GPU machine checked end to end.

Each step is a real command of the project (pytest, ``tools/train.py``,
``tools/test.py``, ``tools/dist_train.sh``, ``tools/analysis/benchmark.py``)
run in a child process whose environment extends this one, with its output
in ``OUT/logs/STEP.log``:

1. ``cuda_tests``: ``pytest -m cuda`` (the CUDA-marked tests);
2. ``train``: 2 epochs of ``configs/cakes_r50_sthv1.py`` with ``--amp`` on
   generated data in the SthV1 rawframe layout (tiny), step time measured;
3. ``test``: ``tools/test.py`` on its last checkpoint;
4. ``torchrun``: ``tools/dist_train.sh CONFIG 1`` (torchrun, nccl);
5. ``benchmark``: ``benchmark.py --quick`` (on CPU: tiny and narrow).

``device='cpu'`` runs the same commands without CUDA (no ``--amp``, gloo)
to check the plumbing. Steps share one time budget; a step that would start
past it is reported as not run.
"""
import contextlib
import io
import json
import os
import os.path as osp
import re
import socket
import statistics
import subprocess
import sys
import time
from typing import Dict, List, Optional

from .child_env import child_env

__all__ = ['ROOT', 'PAPER_CONFIG', 'CPU_BENCHMARK_ARGS', 'machine_info',
           'tiny_data_options', 'plan', 'benchmark_step', 'run_checks',
           'summary_table']

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
PAPER_CONFIG = 'configs/cakes_r50_sthv1.py'
BENCHMARK = 'tools/analysis/benchmark.py'
# Seconds per step at most (the shared budget may cut them shorter).
STEP_TIMEOUTS = dict(cuda_tests=240, train=150, test=60, torchrun=90,
                     benchmark=240)
# The plumbing check on a (shared, small) CPU machine: process start-up
# alone can take tens of seconds there.
CPU_TIMEOUT_FACTOR = 5


def machine_info() -> Dict[str, object]:
    """torch, CUDA and device facts of this machine."""
    import platform

    import torch
    info = dict(python=platform.python_version(), torch=torch.__version__,
                torch_cuda=torch.version.cuda,
                cuda_available=torch.cuda.is_available())
    if torch.cuda.is_available():
        info.update(device=torch.cuda.get_device_name(0),
                    bf16=torch.cuda.is_bf16_supported(),
                    cudnn=torch.backends.cudnn.version())
    return info


def cli_options(options: dict) -> List[str]:
    """Flatten cfg-options into ``key=value`` command-line words.

    Args:
        options (dict): Keys to values; a dict value gives one word per
            sub-key (``key.sub=value``).

    Returns:
        list[str]: The words that follow ``--cfg-options``.
    """
    words = []
    for key, value in options.items():
        if isinstance(value, dict):
            words += [f'{key}.{k}={v}' for k, v in value.items()]
        else:
            words.append(f'{key}={value}')
    return words


def tiny_data_options(config: str, data_dir: str, epochs: int,
                      batch_size: int = 4,
                      clips_per_class: int = 6) -> Dict[str, object]:
    """Generate tiny SthV1-layout rawframes; the options to use them.

    Args:
        config (str): The config to train (its data settings are replaced).
        data_dir (str): Where the frames and lists go.
        epochs (int): Training epochs (validation after the last).
        batch_size (int): Clips per batch and process. Defaults to 4.
        clips_per_class (int): Clips per class and split (4 classes).
            Defaults to 6.

    Returns:
        dict: ``--cfg-options`` for ``tools/train.py`` / ``tools/test.py``.
    """
    from mmengine.config import Config

    from cakes_mmaction.harness.apis.data_options import synthetic_cfg_options
    from cakes_mmaction.harness.synthetic import generate_synthetic_dataset
    data = generate_synthetic_dataset(
        data_dir, num_per_class=clips_per_class, size=64, num_pairs=2,
        formats=('rawframes', ))
    options = synthetic_cfg_options(Config.fromfile(config), data)
    for loader in ('train', 'val', 'test'):
        options.update({
            f'{loader}_dataloader.batch_size': batch_size,
            f'{loader}_dataloader.num_workers': 2,
        })
    options.update({
        'train_cfg.max_epochs': epochs,
        'train_cfg.val_interval': epochs,
        'default_hooks.logger.interval': 1,
    })
    return options


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def plan(out_dir: str, device: str, config: str = PAPER_CONFIG,
         tests: str = 'tests', epochs: int = 2,
         clips_per_class: int = 6) -> List[dict]:
    """The steps to run, each with its command (nothing runs yet).

    Args:
        out_dir (str): Where data, work dirs and logs go.
        device (str): ``'cuda'`` or ``'cpu'`` (plumbing check).
        config (str): Config to train and test. Defaults to the paper's
            SthV1 config.
        tests (str): Where pytest looks for CUDA-marked tests.
        epochs (int): Training epochs. Defaults to 2.
        clips_per_class (int): Generated clips per class and split.
            Defaults to 6.

    Returns:
        list[dict]: ``name``, ``cmd``, ``timeout`` (and ``env`` extras).
    """
    py = sys.executable
    cuda = device == 'cuda'
    options = tiny_data_options(config, osp.join(out_dir, 'data'), epochs,
                                clips_per_class=clips_per_class)
    train_dir = osp.join(out_dir, 'train')
    dist_dir = osp.join(out_dir, 'torchrun')
    fit = ['--gpu-fit', 'on' if cuda else 'off']
    steps = [
        dict(name='cuda_tests',
             cmd=[py, '-m', 'pytest', '-q', '-m', 'cuda', '-p',
                  'no:cacheprovider', tests]),
        dict(name='train',
             cmd=[py, 'tools/train.py', config, '--work-dir', train_dir] +
             (['--amp'] if cuda else []) + fit + ['--cfg-options'] +
             cli_options(options),
             work_dir=train_dir),
        dict(name='test',
             cmd=[py, 'tools/test.py', config,
                  osp.join(train_dir, f'epoch_{epochs}.pth'), '--work-dir',
                  osp.join(out_dir, 'test')] + fit + ['--cfg-options'] +
             cli_options(options)),
        dict(name='torchrun',
             cmd=['bash', 'tools/dist_train.sh', config, '1', '--work-dir',
                  dist_dir] + fit + ['--cfg-options'] +
             cli_options(dict(options, **{'train_cfg.max_epochs': 1,
                                          'train_cfg.val_interval': 1})),
             env=dict(PYTHON=py, PORT=str(_free_port())),
             work_dir=dist_dir),
    ]
    steps.append(benchmark_step(device, out_dir))
    factor = 1 if cuda else CPU_TIMEOUT_FACTOR
    for step in steps:
        step['timeout'] = STEP_TIMEOUTS[step['name']] * factor
    return steps


#: The CPU plumbing check's benchmark: the ``--quick`` code path (per-layer
#: table, then the networks) at a tiny shape, one impl, one network, every
#: network at 1/8 of its widths (the real run, batch 8 at 8x224x224 and
#: full widths, is hours of CPU time). The report says NARROW.
CPU_BENCHMARK_ARGS = ('--shape', '2', '3', '2', '8', '8', '--models',
                      'cakes12d_p', '--impl', 'dense', '--repeats', '1',
                      '--warmup', '1', '--no-memory', '--width-scale',
                      '0.125')


def benchmark_step(device: str, out_dir: str) -> dict:
    """The ``benchmark`` step: ``benchmark.py --quick``, checked.

    The command's arguments are parsed by the benchmark's own parser
    (:func:`~cakes_mmaction.analysis.benchmark_cli.parse_args`, in this
    process) before anything runs, so a plan the tool would reject is
    reported at once instead of minutes into the run.

    Args:
        device (str): ``'cuda'`` (bf16, channels-last, the real widths) or
            ``'cpu'`` (:data:`CPU_BENCHMARK_ARGS`).
        out_dir (str): Where ``benchmark.json`` and ``benchmark.md`` go.

    Returns:
        dict: ``name`` and ``cmd``, or ``cmd=None`` and ``skip`` (why).
    """
    from .benchmark_cli import build_parser
    args = ['--quick', '--device', device,
            '--out-json', osp.join(out_dir, 'benchmark.json'),
            '--out-md', osp.join(out_dir, 'benchmark.md')]
    if device == 'cpu':
        args += list(CPU_BENCHMARK_ARGS)
    else:
        # What the GPU targets are stated for: bf16, channels-last.
        args += ['--dtype', 'bf16', '--channels-last']
    with contextlib.redirect_stderr(io.StringIO()) as said:
        try:
            build_parser().parse_args(args)
        except SystemExit:  # argparse's way of rejecting arguments
            reason = said.getvalue().strip().splitlines()[-1:]
            return dict(name='benchmark', cmd=None,
                        skip=f'{BENCHMARK} rejects {" ".join(args)}: '
                        f'{" ".join(reason)}')
    return dict(name='benchmark', cmd=[sys.executable, BENCHMARK] + args)


# -- what each step's output says -------------------------------------------
def _pytest_detail(text: str, work_dir: Optional[str]) -> str:
    lines = [ln for ln in text.splitlines()
             if re.search(r'\d+ (passed|failed|skipped|error)', ln)]
    return lines[-1].strip('= ') if lines else ''


def _scalars(work_dir: str) -> List[dict]:
    rows = []
    for root, _, files in os.walk(work_dir):
        if 'scalars.json' in files:
            with open(osp.join(root, 'scalars.json')) as f:
                rows += [json.loads(line) for line in f if line.strip()]
    return rows


def _train_detail(text: str, work_dir: Optional[str]) -> str:
    rows = [r for r in _scalars(work_dir or '') if 'loss' in r]
    if not rows:
        return ''
    times = [r['time'] for r in rows if 'time' in r]
    times = times[2:] if len(times) > 4 else times  # after warm-up
    parts = [f"loss {rows[-1]['loss']:.3f}"]
    if times:
        parts.insert(0, f'{statistics.median(times):.3f} s/iter (median of '
                     f'{len(times)})')
    if 'memory' in rows[-1]:
        parts.append(f"{rows[-1]['memory']} MB")
    return ', '.join(parts)


def _torchrun_detail(text: str, work_dir: Optional[str]) -> str:
    # The process group's backend, as mmengine logs it for a
    # distributed run (the config dump may name another one).
    found = re.findall(r"Distributed training: True.*?backend='(\w+)'",
                       text, flags=re.S)
    detail = _train_detail(text, work_dir)
    return f'{detail}, backend {found[-1]}' if found else detail


def _test_detail(text: str, work_dir: Optional[str]) -> str:
    found = re.findall(r'acc/top1: ([0-9.]+)', text)
    return f'top-1 {float(found[-1]):.3f}' if found else ''


def _benchmark_detail(text: str, work_dir: Optional[str]) -> str:
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1][:120] if lines else ''


DETAILS = dict(cuda_tests=_pytest_detail, train=_train_detail,
               test=_test_detail, torchrun=_torchrun_detail,
               benchmark=_benchmark_detail)


def run_checks(steps: List[dict], out_dir: str,
               budget_s: float = 360.0) -> List[dict]:
    """Run the planned steps in order within one time budget.

    Args:
        steps (list[dict]): From :func:`plan`.
        out_dir (str): ``logs/`` goes here.
        budget_s (float): Seconds for all steps together. Defaults to 360.

    Returns:
        list[dict]: Per step: ``name``, ``status`` (``ok``, ``FAIL``,
        ``timeout``, ``skipped``, ``not run``), ``seconds``, ``detail``,
        ``cmd``, ``log``.
    """
    logs = osp.join(out_dir, 'logs')
    os.makedirs(logs, exist_ok=True)
    start = time.monotonic()
    results = []
    for step in steps:
        result = dict(name=step['name'], cmd=step['cmd'], seconds=0.0,
                      detail='', log=None)
        results.append(result)
        if step['cmd'] is None:
            result.update(status='skipped', detail=step.get('skip', ''))
            continue
        left = budget_s - (time.monotonic() - start)
        if left < 10:
            result.update(status='not run', detail='time budget spent')
            continue
        log = osp.join(logs, f"{step['name']}.log")
        result['log'] = log
        began = time.monotonic()
        try:
            proc = subprocess.run(
                step['cmd'], cwd=ROOT, capture_output=True, text=True,
                env=child_env(ROOT, **step.get('env', {})),
                timeout=min(step['timeout'], left))
            text, status = proc.stdout + proc.stderr, (
                'ok' if proc.returncode == 0 else 'FAIL')
            result['returncode'] = proc.returncode
        except subprocess.TimeoutExpired as err:
            text = ((err.stdout or b'').decode(errors='replace') if isinstance(
                err.stdout, bytes) else (err.stdout or ''))
            status = 'timeout'
        result['seconds'] = round(time.monotonic() - began, 1)
        with open(log, 'w') as f:
            f.write(' '.join(step['cmd']) + '\n\n' + text)
        try:
            result['detail'] = DETAILS[step['name']](text,
                                                     step.get('work_dir'))
        except Exception as err:  # a detail never hides the status
            result['detail'] = f'(no detail: {err})'
        result['status'] = status
    return results


def summary_table(results: List[dict]) -> str:
    """The results as one plain-text table."""
    rows = [('step', 'status', 'seconds', 'detail')] + [
        (r['name'], r['status'], f"{r['seconds']:.1f}", r['detail'])
        for r in results
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = []
    for i, row in enumerate(rows):
        lines.append('  '.join(cell.ljust(widths[j]) if j < 3 else cell
                               for j, cell in enumerate(row)).rstrip())
        if i == 0:
            lines.append('  '.join('-' * w for w in widths) + '  ------')
    return '\n'.join(lines)
