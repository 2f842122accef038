"""Check a GPU machine end to end: ``python tools/misc/gpu_check.py``.

Runs the CUDA-marked tests, a 2-epoch ``--amp`` training and a test of
``configs/cakes_r50_sthv1.py`` on tiny generated SthV1-layout data, a
1-GPU ``torchrun`` run and the benchmark's quick mode (where it has one);
prints one table and writes ``gpu_check.json`` (into ``--out``, default
``$OUT`` or ``work_dirs/gpu_check``). Steps share a 6-minute budget.

On a Python without the mm stack, give the wheels prepared by
``tools/misc/prepare_gpu_wheels.sh``: ``--wheels .whl`` installs them
(``--no-index --no-deps``) into ``OUT/site`` and runs with that folder on
``PYTHONPATH``. ``--device cpu`` runs the same commands without CUDA (the
plumbing only); ``--dry-run`` prints the commands.
"""
import argparse
import glob
import json
import os
import os.path as osp
import subprocess
import sys
import time

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, ROOT)

NO_CUDA = 2  # exit status without a CUDA device


def parse_args(argv=None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--out', default=os.environ.get('OUT') or osp.join(
        ROOT, 'work_dirs', 'gpu_check'), help='where results go')
    parser.add_argument('--device', default='cuda', choices=['cuda', 'cpu'],
                        help="'cpu' checks the plumbing without CUDA")
    parser.add_argument('--config', default='configs/cakes_r50_sthv1.py',
                        help='config to train and test')
    parser.add_argument('--epochs', type=int, default=2)
    parser.add_argument('--clips-per-class', type=int, default=6,
                        help='generated clips per class and split')
    parser.add_argument('--tests', default='tests',
                        help='where pytest looks for CUDA-marked tests')
    parser.add_argument('--budget', type=float, default=360.0,
                        help='seconds for all steps together')
    parser.add_argument('--wheels', help='folder of wheels to install the '
                        'mm stack from when this Python lacks it')
    parser.add_argument('--dry-run', action='store_true',
                        help='print the commands, run nothing')
    return parser.parse_args(argv)


def _stack_missing() -> bool:
    import importlib.util
    return any(importlib.util.find_spec(name) is None
               for name in ('mmengine', 'mmcv', 'mmaction', 'decord'))


def _install_wheels(wheels: str, out: str) -> None:
    """Install the wheels into OUT/site and run again with it on the path."""
    site = osp.join(out, 'site')
    found = sorted(glob.glob(osp.join(wheels, '*.whl')))
    if not found:
        sys.exit(f'gpu_check: no wheels in {wheels}')
    subprocess.run([sys.executable, '-m', 'pip', 'install', '-q',
                    '--no-index', '--no-deps', '--target', site] + found,
                   check=True)
    path = os.environ.get('PYTHONPATH')
    os.environ['PYTHONPATH'] = os.pathsep.join(
        [site, ROOT] + ([path] if path else []))
    os.execv(sys.executable, [sys.executable] + sys.argv)


def main(argv=None) -> int:
    """Run the checks; return the exit status."""
    args = parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    if _stack_missing():
        if not args.wheels:
            sys.exit('gpu_check: mmengine, mmcv, mmaction2 or decord is '
                     'missing here; install them (bash tools/setup_env.sh) '
                     'or pass --wheels DIR (tools/misc/prepare_gpu_wheels.sh '
                     'makes one)')
        _install_wheels(args.wheels, args.out)
    import torch
    if args.device == 'cuda' and not torch.cuda.is_available() and \
            not args.dry_run:
        print(f'gpu_check: no CUDA device is visible to torch '
              f'{torch.__version__} (CUDA build: {torch.version.cuda}); run '
              'it on a GPU machine, or with --device cpu to check the '
              'plumbing only', file=sys.stderr)
        return NO_CUDA
    from cakes_mmaction.analysis.gpu_check import (machine_info, plan,
                                                   run_checks, summary_table)
    steps = plan(args.out, args.device, config=args.config,
                 tests=args.tests, epochs=args.epochs,
                 clips_per_class=args.clips_per_class)
    if args.dry_run:
        for step in steps:
            cmd = ' '.join(step['cmd']) if step['cmd'] else (
                f"skipped: {step.get('skip')}")
            print(f"{step['name']}: {cmd}")
        return 0
    began = time.monotonic()
    results = run_checks(steps, args.out, budget_s=args.budget)
    report = dict(machine=machine_info(), device=args.device,
                  config=args.config, epochs=args.epochs,
                  budget_s=args.budget,
                  total_seconds=round(time.monotonic() - began, 1),
                  steps=results)
    with open(osp.join(args.out, 'gpu_check.json'), 'w') as f:
        json.dump(report, f, indent=2)
    machine = report['machine']
    print(f"\ngpu_check on {machine.get('device', 'CPU')} (torch "
          f"{machine['torch']}, CUDA {machine['torch_cuda']}), "
          f"{report['total_seconds']} s; JSON: "
          f"{osp.join(args.out, 'gpu_check.json')}")
    print(summary_table(results))
    return 0 if all(r['status'] in ('ok', 'skipped') for r in results) else 1


if __name__ == '__main__':
    sys.exit(main())
