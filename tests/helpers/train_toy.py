"""Train the toy model with a real Runner, for subprocess tests.

Usage::

    python -m tests.helpers.train_toy WORK_DIR [--epochs 4]
        [--resume [PATH]] [--kill-after-iter K [--kill-rank R]]
        [--launcher pytorch] [--dist-timeout S] [--watchdog S]
        [--ballast N] [--save-weights FILE]

With ``--launcher pytorch`` the process group comes from the environment
(``RANK``, ``WORLD_SIZE``, ``MASTER_ADDR``, ``MASTER_PORT``) as set by
torchrun, srun wrappers or a test; ``init_cpu_distributed`` creates it
before the Runner is built.
"""
import argparse
import sys

import cakes_mmaction  # noqa: F401  (stack repairs, registration)

# isort: split
from cakes_mmaction.harness.compat import init_cpu_distributed
from tests.helpers.toy import toy_config


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('work_dir')
    parser.add_argument('--epochs', type=int, default=4)
    parser.add_argument('--size', type=int, default=16)
    parser.add_argument('--resume', nargs='?', const='auto', default=None)
    parser.add_argument('--kill-after-iter', type=int, default=None)
    parser.add_argument('--kill-rank', type=int, default=None)
    parser.add_argument('--kill-signal', default='SIGKILL')
    parser.add_argument(
        '--launcher', choices=['none', 'pytorch'], default='none')
    parser.add_argument('--dist-timeout', type=int, default=None)
    parser.add_argument(
        '--watchdog',
        type=float,
        default=None,
        help='DistWatchdogHook timeout in seconds')
    parser.add_argument('--ballast', type=int, default=0)
    parser.add_argument('--save-weights', default=None)
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    import torch
    from mmengine.runner import Runner
    cfg = toy_config(
        args.work_dir,
        max_epochs=args.epochs,
        size=args.size,
        ballast=args.ballast,
        launcher=args.launcher)
    if args.resume == 'auto':
        cfg.resume = True
    elif args.resume:
        cfg.resume, cfg.load_from = True, args.resume
    hooks = []
    if args.kill_after_iter is not None:
        hooks.append(
            dict(
                type='SelfKillHook',
                after_iter=args.kill_after_iter,
                rank=args.kill_rank,
                sig=args.kill_signal))
    if args.watchdog is not None:
        hooks.append(
            dict(
                type='DistWatchdogHook',
                timeout=args.watchdog,
                interval=min(1.0, args.watchdog / 4)))
    cfg.custom_hooks = hooks
    if args.dist_timeout is not None:
        cfg.env_cfg.dist_cfg.timeout = args.dist_timeout
    init_cpu_distributed(cfg, args.launcher)
    runner = Runner.from_cfg(cfg)
    runner.train()
    if args.save_weights and runner.rank == 0:
        model = getattr(runner.model, 'module', runner.model)
        torch.save(model.state_dict(), args.save_weights)
    return 0


if __name__ == '__main__':
    sys.exit(main())
