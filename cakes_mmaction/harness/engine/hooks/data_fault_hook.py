"""DataFaultHook: report the samples a robust dataset skipped."""
import json
import logging
import os.path as osp
from typing import Iterator, List

from mmaction.registry import HOOKS
from mmengine.dist import get_rank, get_world_size
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.runner import BaseLoop

from ..checkpoint_io import atomic_write_text

__all__ = ['DataFaultHook']


def _robust_datasets(dataset) -> Iterator:
    """Datasets with ``skip_summary`` inside dataset wrappers."""
    if hasattr(dataset, 'skip_summary'):
        yield dataset
    for inner in getattr(dataset, 'datasets', None) or []:
        yield from _robust_datasets(inner)
    inner = getattr(dataset, 'dataset', None)
    if inner is not None:
        yield from _robust_datasets(inner)


@HOOKS.register_module()
class DataFaultHook(Hook):
    """Log and save what ``RobustRawframeDataset``/``RobustVideoDataset``
    skipped under ``on_error='skip'``.

    After every training epoch it logs how many distinct samples were
    skipped so far (and puts the number in the message hub as
    ``skipped_samples``); at the end of the run it writes
    ``skipped_samples.json`` in the work dir (``skipped_samples_rank{r}.json``
    per rank in distributed runs: counts are per rank), listing each skipped
    sample's list line and file. The datasets themselves log each skip when
    it happens and stop the run at their limit.

    Args:
        show (int): Files to name in the epoch log line. Defaults to 5.
    """

    priority = 'LOW'

    def __init__(self, show: int = 5) -> None:
        self.show = show

    def _summaries(self, runner) -> List[dict]:
        loop = getattr(runner, '_train_loop', None)
        if not isinstance(loop, BaseLoop):
            return []
        return [
            ds.skip_summary()
            for ds in _robust_datasets(loop.dataloader.dataset)
        ]

    def after_train_epoch(self, runner) -> None:
        """Log the skip counts.

        Args:
            runner (Runner): The runner.
        """
        summaries = self._summaries(runner)
        total = sum(s['skipped'] for s in summaries)
        runner.message_hub.update_info('skipped_samples', total)
        for summary in summaries:
            if not summary['skipped']:
                continue
            files = [s['media'] for s in summary['samples'][:self.show]]
            print_log(
                f'{summary["skipped"]} sample(s) of {summary["ann_file"]} '
                f'skipped so far on rank {get_rank()} ({summary["events"]} '
                f'skips, limit {summary["limit"]}): {files}'
                f'{" ..." if summary["skipped"] > self.show else ""}',
                logger='current',
                level=logging.WARNING)

    def after_run(self, runner) -> None:
        """Write ``skipped_samples[_rank{r}].json``.

        Args:
            runner (Runner): The runner.
        """
        summaries = self._summaries(runner)
        if not summaries:
            return
        name = 'skipped_samples.json' if get_world_size() == 1 else (
            f'skipped_samples_rank{get_rank()}.json')
        path = osp.join(runner.work_dir, name)
        atomic_write_text(path, json.dumps(summaries, indent=1) + '\n')
        total = sum(s['skipped'] for s in summaries)
        if total:
            print_log(
                f'{total} sample(s) were skipped; the list is in {path}',
                logger='current',
                level=logging.WARNING)
