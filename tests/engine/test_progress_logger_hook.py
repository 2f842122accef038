"""ProgressLoggerHook says what training will do and beats during a slow
iteration, in a real mmengine Runner."""
import time

import torch
from mmengine.model import BaseModel
from mmengine.runner import Runner
from torch.utils.data import DataLoader, TensorDataset

import cakes_mmaction  # noqa: F401  (registers the hook)
from cakes_mmaction.harness.engine.hooks.progress_logger_hook import (
    _Heartbeat)


class _SlowModel(BaseModel):
    """A linear model whose first forward takes ``delay`` seconds."""

    def __init__(self, delay: float) -> None:
        super().__init__()
        self.fc = torch.nn.Linear(2, 1)
        self.delay = delay
        self.calls = 0

    def forward(self, x, mode='tensor'):
        self.calls += 1
        if self.calls == 1:
            time.sleep(self.delay)
        return dict(loss=self.fc(x).pow(2).mean())


def _collate(batch):
    return dict(x=torch.stack([b[0] for b in batch]))


def _train(tmp_path, delay, interval_s):
    loader = DataLoader(
        TensorDataset(torch.randn(8, 2)), batch_size=4, collate_fn=_collate)
    runner = Runner(
        model=_SlowModel(delay),
        work_dir=str(tmp_path),
        train_dataloader=loader,
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01)),
        train_cfg=dict(by_epoch=True, max_epochs=2),
        default_hooks=dict(
            logger=dict(
                type='ProgressLoggerHook', interval=50,
                interval_s=interval_s),
            checkpoint=None),
        default_scope='mmaction')
    runner.train()
    log = next(tmp_path.glob('*/*.log'))
    return log.read_text()


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
