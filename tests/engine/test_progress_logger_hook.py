"""ProgressLoggerHook says what training will do and beats during a slow
iteration, in a real mmengine Runner."""
import time
import uuid

import pytest
import torch
from mmengine.model import BaseModel
from mmengine.runner import Runner
from torch.utils.data import DataLoader, TensorDataset

import cakes_mmaction  # noqa: F401  (registers the hook)
from cakes_mmaction.harness.engine.hooks.progress_logger_hook import _Heartbeat


class _SlowModel(BaseModel):
    """A linear model whose first forward takes ``delay`` seconds, then
    raises if asked to."""

    def __init__(self, delay: float, fail: bool = False) -> None:
        super().__init__()
        self.fc = torch.nn.Linear(2, 1)
        self.delay = delay
        self.fail = fail
        self.calls = 0

    def forward(self, x, mode='tensor'):
        self.calls += 1
        if self.calls == 1:
            time.sleep(self.delay)
            if self.fail:
                raise RuntimeError('the first batch failed')
        return dict(loss=self.fc(x).pow(2).mean())


def _collate(batch):
    return dict(x=torch.stack([b[0] for b in batch]))


def _runner(tmp_path, delay, interval_s, fail=False):
    loader = DataLoader(
        TensorDataset(torch.randn(8, 2)), batch_size=4, collate_fn=_collate)
    return Runner(
        model=_SlowModel(delay, fail),
        work_dir=str(tmp_path),
        # mmengine names its logger by the second the Runner was built: two
        # Runners of one worker within a second would share the first one's
        # log file.
        experiment_name=f'progress_{uuid.uuid4().hex[:12]}',
        train_dataloader=loader,
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01)),
        train_cfg=dict(by_epoch=True, max_epochs=2),
        default_hooks=dict(
            logger=dict(
                type='ProgressLoggerHook', interval=50,
                interval_s=interval_s),
            checkpoint=None),
        default_scope='mmaction')


def _log(tmp_path):
    return next(tmp_path.glob('*/*.log')).read_text()


def _train(tmp_path, delay, interval_s):
    _runner(tmp_path, delay, interval_s).train()
    return _log(tmp_path)


def test_a_slow_iteration_shows_heartbeats_and_the_plan(tmp_path):
    text = _train(tmp_path, delay=2.5, interval_s=1.0)
    assert ('train: 2 iterations of batch 4 per epoch, 2 epochs' in text)
    beats = [line for line in text.splitlines() if 'still running' in line]
    # 2.5 s at one line per second: two lines (three if the machine is
    # slow), all of iteration 1.
    assert 2 <= len(beats) <= 3, text
    assert all('Epoch(train) [1][1/2] still running after' in line
               for line in beats)


def test_fast_iterations_have_no_heartbeat(tmp_path):
    text = _train(tmp_path, delay=0.0, interval_s=5)
    assert 'still running' not in text
    assert 'Epoch(train) [1][1/2]' in text  # the first iteration is logged


def test_an_iteration_that_raises_stops_the_heartbeat(tmp_path):
    runner = _runner(tmp_path, delay=1.5, interval_s=1.0, fail=True)
    with pytest.raises(RuntimeError, match='the first batch failed'):
        runner.train()
    # mmengine calls no hook on the way out; the heartbeat sees the loop's
    # frame gone within a second and logs nothing more.
    time.sleep(2.5)
    beats = _log(tmp_path).count('still running')
    assert beats == 1
    hook = next(h for h in runner.hooks if hasattr(h, '_heartbeat'))
    assert hook._heartbeat._current is None
    hook._heartbeat.close()


def test_the_heartbeat_stops_between_iterations_and_on_close():
    lines = []

    class _Logger:

        def info(self, msg):
            lines.append(msg)

    beat = _Heartbeat(0.05)  # the class itself has no floor
    beat.begin(_Logger(), 'Epoch(test) [3/9]')
    time.sleep(0.18)
    beat.end()
    seen = len(lines)
    time.sleep(0.15)
    assert 2 <= seen == len(lines)
    beat.close()
    assert beat._thread is None
