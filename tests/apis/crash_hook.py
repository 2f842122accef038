"""A hook that kills its own process with SIGKILL right after the
checkpoint of a given epoch is saved: a crash, for the resume test. Loaded
by the crashing run through ``custom_imports`` (tests/apis on PYTHONPATH).
"""
import os
import signal

from mmaction.registry import HOOKS
from mmengine.hooks import Hook


@HOOKS.register_module()
class CrashAfterEpochHook(Hook):
    """SIGKILL the process after epoch ``epoch`` (1-based) is saved."""

    priority = 'LOWEST'  # after CheckpointHook (VERY_LOW) has saved

    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def after_train_epoch(self, runner) -> None:
        if runner.epoch + 1 == self.epoch:
            os.kill(os.getpid(), signal.SIGKILL)
