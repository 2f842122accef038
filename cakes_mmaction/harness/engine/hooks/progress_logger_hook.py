"""mmengine's LoggerHook that also logs by the clock.

With ``interval=20``, a CPU run whose iterations take half a minute would
print its first line after ten minutes, and a test of ten clips by three
crops per video after twenty videos. :class:`ProgressLoggerHook` logs, on
top of every ``interval`` iterations, the first iteration of training and
of every validation and test loop, and any iteration that ends at least
``interval_s`` seconds after the previous line. Lines go through mmengine's
``LogProcessor`` (loss, lr, eta, ...) and, in training, to the
visualizer's backends (the JSON scalars, TensorBoard) as usual.
"""
import time
from typing import Dict, Optional, Sequence

from mmengine.hooks import LoggerHook

from mmaction.registry import HOOKS

__all__ = ['ProgressLoggerHook', 'views_per_sample']

# Crop transforms and the views each makes of one clip.
_CROPS = {'ThreeCrop': 3, 'TenCrop': 10}


def views_per_sample(transforms: Sequence) -> Dict[str, int]:
    """How many views a test pipeline makes of one sample.

    Args:
        transforms (Sequence): The pipeline's built transforms.

    Returns:
        dict[str, int]: ``clips``, ``crops`` and ``views`` (their product).
    """
    clips, crops = 1, 1
    for transform in transforms:
        kind = type(transform).__name__
        if hasattr(transform, 'num_clips') and not hasattr(
                transform, 'num_segments'):
            clips = int(transform.num_clips)
        crops = _CROPS.get(kind, crops)
    return dict(clips=clips, crops=crops, views=clips * crops)


@HOOKS.register_module()
class ProgressLoggerHook(LoggerHook):
    """LoggerHook that logs the first iterations and at least every
    ``interval_s`` seconds.

    Args:
        interval (int): Log every this many iterations, as LoggerHook.
            Defaults to 10.
        interval_s (float): Also log an iteration that ends this many
            seconds after the previous line. Defaults to 30.
        **kwargs: Other :class:`~mmengine.hooks.LoggerHook` arguments.
    """

    def __init__(self,
                 interval: int = 10,
                 interval_s: float = 30.0,
                 **kwargs) -> None:
        super().__init__(interval=interval, **kwargs)
        if interval_s <= 0:
            raise ValueError(f'interval_s must be positive, got {interval_s}')
        self.interval_s = float(interval_s)
        self._last: Dict[str, Optional[float]] = dict(
            train=None, val=None, test=None)

    def _timely(self, mode: str) -> bool:
        last = self._last[mode]
        return last is None or time.monotonic() - last >= self.interval_s

    def _logged(self, mode: str) -> None:
        self._last[mode] = time.monotonic()

    def before_val_epoch(self, runner) -> None:
        """Log the first validation iteration."""
        self._last['val'] = None

    def before_test_epoch(self, runner) -> None:
        """Say what the test will do, and log its first iteration."""
        self._last['test'] = None
        loader = runner.test_dataloader
        dataset = getattr(loader, 'dataset', None)
        pipeline = getattr(dataset, 'pipeline', None)
        if dataset is None or pipeline is None:
            return
        views = views_per_sample(getattr(pipeline, 'transforms', []))
        runner.logger.info(
            f'test: {len(dataset)} samples of {views["views"]} view(s) each '
            f'({views["clips"]} clip(s) x {views["crops"]} crop(s)), '
            f'{len(loader)} batches; progress every {self.interval} batches '
            f'or {self.interval_s:g} s')

    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch=None,
                         outputs=None) -> None:
        """Log as LoggerHook does, plus the first and the overdue ones."""
        regular = self.every_n_inner_iters(batch_idx, self.interval) or (
            self.end_of_epoch(runner.train_dataloader, batch_idx) and
            (not self.ignore_last
             or len(runner.train_dataloader) <= self.interval))
        if regular:
            super().after_train_iter(runner, batch_idx, data_batch, outputs)
        elif self._timely('train'):
            tag, log_str = runner.log_processor.get_log_after_iter(
                runner, batch_idx, 'train')
            runner.logger.info(log_str)
            runner.visualizer.add_scalars(
                tag, step=runner.iter + 1, file_path=self.json_log_path)
        else:
            return
        self._logged('train')

    def _after_eval_iter(self, runner, batch_idx: int, mode: str) -> None:
        if not (self.every_n_inner_iters(batch_idx, self.interval)
                or self._timely(mode)):
            return
        _, log_str = runner.log_processor.get_log_after_iter(
            runner, batch_idx, mode)
        runner.logger.info(log_str)
        self._logged(mode)

    def after_val_iter(self,
                       runner,
                       batch_idx: int,
                       data_batch=None,
                       outputs=None) -> None:
        """Log every ``interval`` batches, the first, and overdue ones."""
        self._after_eval_iter(runner, batch_idx, 'val')

    def after_test_iter(self,
                        runner,
                        batch_idx: int,
                        data_batch=None,
                        outputs=None) -> None:
        """Log every ``interval`` batches, the first, and overdue ones."""
        self._after_eval_iter(runner, batch_idx, 'test')
