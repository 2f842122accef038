"""The jobs of a search evaluation and the pool that runs them.

A job (one search, or one training and test) runs in a spawned child
process, resumes from the last checkpoint of its work dir, and writes its
``result.json`` there when it is done, so that a rerun skips it. A failed
job stops the evaluation with the job's name and traceback.
"""
import json
import os
import os.path as osp
import time
import traceback
from collections import OrderedDict
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from .confusion import load_predictions
from .search_eval_report import pair_metrics

__all__ = ['search_job', 'train_job', 'run_parallel', 'read_json',
           'write_json']


def _dump_predictions(path: str) -> Tuple[List[int], List[int]]:
    """Predicted and true classes from a ``tools/test.py --dump`` file."""
    # The confusion tool's reader: no code from the file ever runs.
    labels, preds, _ = load_predictions(path)
    return [int(p) for p in preds], [int(t) for t in labels]


def write_json(path: str, data: Any) -> None:
    """Write JSON through a temporary file, so a result is whole or
    absent."""
    tmp = path + '.tmp'
    with open(tmp, 'w') as f:
        json.dump(data, f, indent=1)
        f.write('\n')
    os.replace(tmp, path)


def read_json(path: str) -> Any:
    """Read a JSON file."""
    with open(path) as f:
        return json.load(f)


def _resume(work_dir: str) -> Optional[str]:
    """``'auto'`` when the work dir holds a checkpoint to resume from."""
    return 'auto' if osp.isfile(osp.join(work_dir, 'last_checkpoint')) \
        else None


def search_job(config: str, work_dir: str, seed: int,
               options: Dict[str, Any], threads: int) -> Dict[str, Any]:
    """Train one search config (resumed when its work dir has a
    checkpoint).

    Args:
        config (str): The search config.
        work_dir (str): Its work dir; ``result.json`` goes there.
        seed (int): Training seed.
        options (dict): ``--cfg-options`` of the run.
        threads (int): Torch threads of this process.

    Returns:
        dict: ``checkpoint`` (the last one) and ``seconds``.
    """
    import torch

    import cakes_mmaction  # noqa: F401  (registers everything)
    from cakes_mmaction.harness.apis.train import build_train_cfg, train
    torch.set_num_threads(threads)
    start = time.time()
    cfg = build_train_cfg(
        config,
        work_dir=work_dir,
        resume=_resume(work_dir),
        seed=seed,
        cfg_options=dict(options, log_level='WARNING'))
    train(cfg)
    with open(osp.join(work_dir, 'last_checkpoint')) as f:
        checkpoint = f.read().strip()
    result = dict(checkpoint=checkpoint, seconds=time.time() - start)
    write_json(osp.join(work_dir, 'result.json'), result)
    return result


def train_job(config: str, work_dir: str, seed: int,
              options: Dict[str, Any], threads: int,
              pairs: bool) -> Dict[str, Any]:
    """Train one network (resumed when it can be), then test it.

    Args:
        config (str): The training config.
        work_dir (str): Its work dir; ``result.json`` and the test
            predictions go there.
        seed (int): Training seed.
        options (dict): ``--cfg-options`` of the run (the assignment
            included).
        threads (int): Torch threads of this process.
        pairs (bool): Report pair and direction accuracy too.

    Returns:
        dict: Seed, checkpoint, test clip count, seconds and the metrics
        of :func:`~.search_eval_report.pair_metrics` (fractions 0-1).
    """
    import torch

    import cakes_mmaction  # noqa: F401
    from cakes_mmaction.harness.apis.train import (build_test_cfg,
                                                   build_train_cfg, test,
                                                   train)
    torch.set_num_threads(threads)
    start = time.time()
    options = dict(options, log_level='WARNING')
    cfg = build_train_cfg(
        config,
        work_dir=work_dir,
        resume=_resume(work_dir),
        seed=seed,
        no_validate=True,
        cfg_options=options)
    train(cfg)
    trained = time.time()
    with open(osp.join(work_dir, 'last_checkpoint')) as f:
        checkpoint = f.read().strip()
    dump = osp.join(work_dir, 'predictions.pkl')
    test(
        build_test_cfg(
            config,
            checkpoint,
            work_dir=work_dir,
            dump=dump,
            cfg_options=options))
    preds, labels = _dump_predictions(dump)
    metrics = pair_metrics(preds, labels) if pairs else dict(
        top1=sum(p == t for p, t in zip(preds, labels)) / len(labels))
    result = dict(
        seed=seed,
        checkpoint=checkpoint,
        test_videos=len(labels),
        train_seconds=trained - start,
        test_seconds=time.time() - trained,
        **metrics)
    write_json(osp.join(work_dir, 'result.json'), result)
    return result


def _guarded(fn: Callable, *args) -> Tuple[str, Any]:
    """Run a job; return its result or the error text (never raise)."""
    try:
        return 'ok', fn(*args)
    except BaseException as err:  # a failed job must not hang the pool
        return 'error', f'{err!r}\n{traceback.format_exc()}'


def run_parallel(jobs: Sequence[Tuple[str, Callable, tuple]],
                 workers: int,
                 log: Callable[[str], None]) -> Dict[str, Any]:
    """Run ``(name, fn, args)`` jobs in spawned processes.

    Args:
        jobs (Sequence[tuple]): Name, function and arguments of each job.
        workers (int): Processes at a time.
        log (Callable[[str], None]): Told the name of each finished job.

    Returns:
        dict[str, Any]: The result of each job by name, in job order.

    Raises:
        RuntimeError: A job failed; the message holds its traceback.
    """
    results = OrderedDict()
    if not jobs:
        return results
    with ProcessPoolExecutor(
            max_workers=max(1, min(workers, len(jobs))),
            mp_context=get_context('spawn')) as pool:
        futures = [(name, pool.submit(_guarded, fn, *args))
                   for name, fn, args in jobs]
        for name, future in futures:
            status, value = future.result()
            if status != 'ok':
                raise RuntimeError(f'{name} failed:\n{value}')
            log(f'done: {name}')
            results[name] = value
    return results
