"""The demo: does a CAKES network see time? Generate, train, test, compare.

:func:`run_synthetic_demo` generates the synthetic temporal-reasoning
dataset (:mod:`cakes_mmaction.harness.synthetic.generator`), trains and tests
the small CAKES ResNet and its all-1x3x3 twin on it, and prints both top-1
accuracies next to the frame-order-blind ceiling (50%: every test video has
its time-reversed twin in the test set). The two trainings run in parallel
processes, one thread each, which uses two cores without the thread
barriers that slow a 2-thread run down on a busy machine.
"""
import multiprocessing as mp
import os
import os.path as osp
import shutil
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Sequence, Union

from ...shapes import parse_shape
from ..synthetic.generator import (SyntheticDataset,
                                   generate_synthetic_dataset,
                                   order_blind_ceiling)
from .data_options import synthetic_cfg_options
from .train import build_train_cfg, train

__all__ = ['DEMO_CONFIGS', 'DemoResult', 'run_synthetic_demo', 'format_report']

_REPO = osp.dirname(
    osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
#: The frame-order-blind baseline first, then the CAKES network.
DEMO_CONFIGS = (osp.join(_REPO, 'configs/demo/c2d_tiny_synthetic.py'),
                osp.join(_REPO, 'configs/demo/cakes_tiny_synthetic.py'))


@dataclass(frozen=True)
class DemoResult:
    """The outcome of one trained model.

    Args:
        name (str): Config name.
        kernels (str): Channels per kernel shape over all CAKES layers.
        top1 (float): Test top-1 accuracy (0-1).
        seconds (float): Wall time of training + testing.
        work_dir (str): Where its log and checkpoint are.
        order_blind (bool): No kernel of its CAKES layers spans time.
    """
    name: str
    kernels: str
    top1: float
    seconds: float
    work_dir: str
    order_blind: bool


def _train_and_test(config: str, work_dir: str, options: Dict[str, Any],
                    threads: Optional[int], verbose: bool) -> DemoResult:
    """Train one config, test its final weights; runs in a child process."""
    import torch
    if threads:
        torch.set_num_threads(threads)
    start = time.time()
    options = dict(options)
    if not verbose:
        options.setdefault('log_level', 'ERROR')
    # The test below scores the final weights on the test split; a
    # validation pass on the same split would only repeat it.
    cfg = build_train_cfg(
        config, work_dir=work_dir, no_validate=True, cfg_options=options)
    runner = train(cfg)
    metrics = runner.test()
    totals = runner.model.backbone.assignment.totals()
    used = [s for s, n in totals.items() if n]
    return DemoResult(
        osp.splitext(osp.basename(config))[0],
        ' '.join(f'{s}:{totals[s]}' for s in used),
        float(metrics['acc/top1']), time.time() - start, work_dir,
        all(parse_shape(s).t == 1 for s in used))


def _child(queue, *args) -> None:
    try:
        queue.put(('ok', _train_and_test(*args)))
    except BaseException as err:  # report, don't hang the parent
        import traceback
        queue.put(('error', f'{err!r}\n{traceback.format_exc()}'))


def format_report(ceiling: float, groups: int, total: int,
                  results: Sequence[DemoResult]) -> str:
    """The demo's final table.

    Args:
        ceiling (float): Frame-order-blind ceiling (0-1).
        groups (int): Test-video groups an order-blind model cannot split.
        total (int): Test videos.
        results (Sequence[DemoResult]): The trained models.

    Returns:
        str: Lines to print.
    """
    lines = [
        f'frame-order-blind ceiling: {100 * ceiling:.1f}% top-1 '
        f'({total} test videos, {groups} groups of time-reversed twins)',
        '',
        f'{"model":<22} {"top-1":>7}  {"vs ceiling":>10}  {"time":>6}  '
        'kernels (channels over all CAKES layers)'
    ]
    for r in results:
        delta = 100 * (r.top1 - ceiling)
        lines.append(f'{r.name:<22} {100 * r.top1:>6.1f}%  {delta:>+9.1f}  '
                     f'{r.seconds:>5.0f}s  {r.kernels}')
    lines.append('')
    for r in results:
        if r.order_blind:
            verdict = ('at or under the ceiling, as it must be' if
                       r.top1 <= ceiling else 'ABOVE the ceiling: a bug')
            lines.append(f'{r.name}: no kernel spans time, so it is blind '
                         f'to frame order: {verdict}.')
        else:
            verdict = (f'{100 * (r.top1 - ceiling):.1f} points above the '
                       'ceiling: it uses the order of the frames'
                       if r.top1 > ceiling else 'not above the ceiling')
            lines.append(f'{r.name}: temporal kernels; {verdict}.')
    return '\n'.join(lines)


def run_synthetic_demo(
        work_dir: str = 'work_dirs/synthetic_demo',
        configs: Sequence[str] = DEMO_CONFIGS,
        num_per_class: Union[int, Dict[str, int], None] = None,
        size: int = 32,
        num_pairs: Optional[int] = None,
        seed: int = 0,
        cfg_options: Optional[Dict[str, Any]] = None,
        parallel: bool = True,
        verbose: bool = False,
        log: Callable[[str], None] = print) -> Dict[str, Any]:
    """Generate the data, train and test every config, report.

    Args:
        work_dir (str): Output root: ``data/`` and one folder per config
            (the previous ones are replaced). Defaults to
            ``'work_dirs/synthetic_demo'``.
        configs (Sequence[str]): Configs to train. Defaults to
            :data:`DEMO_CONFIGS`.
        num_per_class (int | dict, optional): Videos per class and split.
            Defaults to ``dict(train=40, val=20)``.
        size (int): Frame size in pixels. Defaults to 32.
        num_pairs (int, optional): Class pairs (up to 5). Defaults to all.
        seed (int): Data seed. Defaults to 0.
        cfg_options (dict, optional): Extra overrides for every config
            (e.g. ``{'train_cfg.max_epochs': 1}``). Defaults to None.
        parallel (bool): Train the configs in parallel processes, with
            ``cpu_count // len(configs)`` threads each. Defaults to True.
        verbose (bool): Show mmengine's training log. Defaults to False.
        log (Callable[[str], None]): Where progress goes. Defaults to
            ``print``.

    Returns:
        dict: ``ceiling``, ``groups``, ``total`` (test videos), ``results``
        (list of :class:`DemoResult`), ``data`` (:class:`SyntheticDataset`)
        and ``seconds`` (wall time, all included).
    """
    start = time.time()
    data_dir = osp.join(work_dir, 'data')
    if osp.isdir(data_dir):
        shutil.rmtree(data_dir)
    data: SyntheticDataset = generate_synthetic_dataset(
        data_dir, num_per_class=num_per_class, size=size, seed=seed,
        num_pairs=num_pairs, progress=log)
    ceiling, total, groups = order_blind_ceiling(
        data.rawframe_list('val'), data.rawframes)
    log(f'data ready in {time.time() - start:.0f}s; training '
        f'{len(configs)} models ' + ('in parallel' if parallel else
                                     'one after the other') + ' ...')
    jobs = []
    for config in configs:
        from mmengine.config import Config
        cfg = Config.fromfile(config)
        options = synthetic_cfg_options(cfg, data)
        options.update(cfg_options or {})
        name = osp.splitext(osp.basename(config))[0]
        run_dir = osp.join(work_dir, name)
        if osp.isdir(run_dir):
            shutil.rmtree(run_dir)
        jobs.append((config, run_dir, options))
    results: List[DemoResult] = []
    if parallel and len(jobs) > 1:
        threads = max(1, (os.cpu_count() or 1) // len(jobs))
        ctx = mp.get_context('spawn')  # a fresh interpreter: fork-safe
        queues, procs = [], []
        saved = os.environ.get('PYTHONWARNINGS')
        if not verbose:  # the stack's deprecation chatter, in the children
            os.environ['PYTHONWARNINGS'] = 'ignore'
        try:
            for job in jobs:
                queue = ctx.Queue()
                proc = ctx.Process(
                    target=_child, args=(queue, *job, threads, verbose))
                proc.start()
                queues.append(queue)
                procs.append(proc)
        finally:
            if saved is None:
                os.environ.pop('PYTHONWARNINGS', None)
            else:
                os.environ['PYTHONWARNINGS'] = saved
        for (config, _, _), queue, proc in zip(jobs, queues, procs):
            status, payload = queue.get()
            proc.join()
            if status != 'ok':
                raise RuntimeError(f'{config}: training failed:\n{payload}')
            results.append(payload)
            log(f'{payload.name}: top-1 {100 * payload.top1:.1f}% '
                f'({payload.seconds:.0f}s)')
    else:
        for job in jobs:
            result = _train_and_test(*job, None, verbose)
            results.append(result)
            log(f'{result.name}: top-1 {100 * result.top1:.1f}% '
                f'({result.seconds:.0f}s)')
    seconds = time.time() - start
    log('')
    log(format_report(ceiling, groups, total, results))
    log(f'\ntotal time {seconds:.0f}s (data, training and testing)')
    return dict(ceiling=ceiling, groups=groups, total=total,
                results=results, data=data, seconds=seconds)
