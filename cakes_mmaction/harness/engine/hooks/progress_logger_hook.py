"""mmengine's LoggerHook that also logs by the clock.

With ``interval=20``, a CPU run whose iterations take half a minute would
print its first line after ten minutes, and a test of ten clips by three
crops per video after twenty videos. :class:`ProgressLoggerHook` logs, on
top of every ``interval`` iterations, the first iteration of training and
of every validation and test loop, and any iteration that ends at least
``interval_s`` seconds after the previous line. Lines go through mmengine's
``LogProcessor`` (loss, lr, eta, ...) and, in training, to the
visualizer's backends (the JSON scalars, TensorBoard) as usual.

An iteration can itself take minutes (a ResNet-50 batch on a CPU), so the
hook also says what training will do before its first iteration, and a
heartbeat thread logs every ``interval_s`` seconds while one iteration is
still running.
"""
import sys
import threading
import time
from typing import Dict, Optional, Sequence

from mmaction.registry import HOOKS
from mmengine.hooks import LoggerHook

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


class _Heartbeat:
    """Logs while one iteration runs for longer than ``interval_s``.

    One daemon thread waits on a condition; :meth:`begin` and :meth:`end`
    mark an iteration, so the cost per iteration is a lock, not a thread.
    mmengine calls no hook when an iteration raises, so :meth:`end` never
    comes then; the thread instead checks that the frame which ran the
    iteration (the caller of ``Runner.call_hook``) is still on its
    thread's stack, and forgets the iteration once it is not.

    Args:
        interval_s (float): Seconds between lines about one iteration.
    """

    def __init__(self, interval_s: float) -> None:
        self.interval_s = interval_s
        self._cond = threading.Condition()
        # [what, logger, started, last line, thread id, loop frame], or
        # None between iterations.
        self._current: Optional[list] = None
        self._thread: Optional[threading.Thread] = None
        self._closed = False

    def begin(self, logger, what: str) -> None:
        """Mark the start of an iteration described by ``what``."""
        frame = sys._getframe(1)
        while frame is not None and frame.f_code.co_name != 'call_hook':
            frame = frame.f_back
        loop_frame = frame.f_back if frame is not None else None
        with self._cond:
            now = time.monotonic()
            self._current = [
                what, logger, now, now,
                threading.get_ident(), loop_frame
            ]
            self._closed = False
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name='progress-heartbeat', daemon=True)
                self._thread.start()
            self._cond.notify()

    def end(self) -> None:
        """Mark the end of the iteration."""
        with self._cond:
            self._current = None

    def close(self) -> None:
        """Stop the thread (the hook starts a new one when needed)."""
        with self._cond:
            self._closed = True
            self._current = None
            thread, self._thread = self._thread, None
            self._cond.notify()
        if thread is not None:
            thread.join(timeout=5)

    def _run(self) -> None:
        with self._cond:
            while not self._closed:
                current = self._current
                if current is None:
                    self._cond.wait()
                    continue
                what, logger, started, last, thread, loop_frame = current
                wait = last + self.interval_s - time.monotonic()
                if wait > 0:
                    self._cond.wait(wait)
                    continue
                if not _on_stack(thread, loop_frame):
                    self._current = None  # the iteration raised
                    continue
                current[3] = time.monotonic()
                logger.info(f'{what} still running after '
                            f'{current[3] - started:.1f} s')


def _on_stack(thread: int, frame) -> bool:
    """Whether ``frame`` (None: unknown, taken as yes) is still running in
    the thread ``thread``."""
    if frame is None:
        return True
    running = sys._current_frames().get(thread)
    while running is not None:
        if running is frame:
            return True
        running = running.f_back
    return False


@HOOKS.register_module()
class ProgressLoggerHook(LoggerHook):
    """LoggerHook that logs the first iterations and at least every
    ``interval_s`` seconds.

    Args:
        interval (int): Log every this many iterations, as LoggerHook.
            Defaults to 10.
        interval_s (float): Also log an iteration that ends this many
            seconds after the previous line, and log every this many
            seconds (at least 1) while one iteration is still running.
            Defaults to 30.
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
        # Not below a second: a tiny interval_s (tests log every
        # iteration with 1e-6) must not make the thread spin.
        self._heartbeat = _Heartbeat(max(self.interval_s, 1.0))

    def _timely(self, mode: str) -> bool:
        last = self._last[mode]
        return last is None or time.monotonic() - last >= self.interval_s

    def _logged(self, mode: str) -> None:
        self._last[mode] = time.monotonic()

    def before_train(self, runner) -> None:
        """Say what training will do before its first (maybe slow)
        iteration."""
        super().before_train(runner)
        loader = runner.train_dataloader
        length = getattr(runner.train_loop, 'max_epochs', None)
        length = (f'{length} epochs' if length is not None else
                  f'{runner.max_iters} iterations')
        runner.logger.info(
            f'train: {len(loader)} iterations of batch {loader.batch_size} '
            f'per epoch, {length}; progress every {self.interval} '
            f'iterations or {self.interval_s:g} s, and every '
            f'{self._heartbeat.interval_s:g} s of a slow iteration')

    def _begin(self, runner, batch_idx: int, mode: str) -> None:
        loader = getattr(runner, f'{mode}_dataloader')
        epoch = f'[{runner.epoch + 1}]' if mode == 'train' else ''
        self._heartbeat.begin(
            runner.logger, f'Epoch({mode}) {epoch}[{batch_idx + 1}/'
            f'{len(loader)}]')

    def before_train_iter(self, runner, batch_idx: int,
                          data_batch=None) -> None:
        """Start the heartbeat of this iteration."""
        self._begin(runner, batch_idx, 'train')

    def before_val_iter(self, runner, batch_idx: int,
                        data_batch=None) -> None:
        """Start the heartbeat of this iteration."""
        self._begin(runner, batch_idx, 'val')

    def before_test_iter(self, runner, batch_idx: int,
                         data_batch=None) -> None:
        """Start the heartbeat of this iteration."""
        self._begin(runner, batch_idx, 'test')

    def after_run(self, runner) -> None:
        """Stop the heartbeat thread."""
        self._heartbeat.close()
        super().after_run(runner)

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
        self._heartbeat.end()
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
        self._heartbeat.end()
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
