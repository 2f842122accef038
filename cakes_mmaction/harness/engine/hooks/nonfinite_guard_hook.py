"""NonFiniteGuardHook: stop on NaN losses, refuse NaN scores."""
import logging
from typing import Any, Optional

import torch
from mmaction.registry import HOOKS
from mmengine.hooks import Hook
from mmengine.logging import print_log

from ....checkpoints.nonfinite import (NonFiniteError, NonFiniteLossError,
                                       describe_nonfinite, nonfinite_outputs,
                                       nonfinite_tensors)

__all__ = ['NonFiniteGuardHook']


@HOOKS.register_module()
class NonFiniteGuardHook(Hook):
    """Stop training on non-finite losses; fail tests on non-finite scores.

    Training: every iteration's loss is checked. A non-finite loss is
    logged with its iteration; the ``max_nonfinite_losses``-th one stops
    the run with
    :class:`~cakes_mmaction.checkpoints.nonfinite.NonFiniteLossError` naming
    the iterations and the last checkpoint, which was saved before and is kept
    (the hook runs before the checkpoint hook, and
    ``AtomicCheckpointHook`` refuses to save non-finite weights anyway).
    Below the limit the run goes on only while the weights stay finite
    (mixed precision skips the step of an overflowing batch; plain SGD
    writes the NaN into the weights, which stops the run at once).

    Validation and test: the class scores of every batch are checked; a
    non-finite score stops the run with a
    :class:`~cakes_mmaction.checkpoints.nonfinite.NonFiniteError` naming the
    batch, instead of a metric computed from NaN.

    Args:
        max_nonfinite_losses (int): Non-finite losses that stop the run.
            Defaults to 1.
        check_outputs (bool): Check validation and test scores. Defaults
            to True.
    """

    priority = 'ABOVE_NORMAL'  # before CheckpointHook (VERY_LOW)

    def __init__(self,
                 max_nonfinite_losses: int = 1,
                 check_outputs: bool = True) -> None:
        if (isinstance(max_nonfinite_losses, bool)
                or not isinstance(max_nonfinite_losses, int)
                or max_nonfinite_losses < 1):
            raise ValueError(f'max_nonfinite_losses must be an int >= 1, '
                             f'got {max_nonfinite_losses!r}')
        self.max_nonfinite_losses = max_nonfinite_losses
        self.check_outputs = check_outputs
        self.bad_iters: list = []

    @staticmethod
    def _loss(outputs: Any) -> Optional[torch.Tensor]:
        if isinstance(outputs, dict):
            value = outputs.get('loss')
            if isinstance(value, torch.Tensor):
                return value
            if isinstance(value, float):
                return torch.tensor(value)
        return None

    @staticmethod
    def _last_checkpoint(runner) -> str:
        last = runner.message_hub.get_info('last_ckpt')
        if not last:
            return 'no checkpoint was saved before it'
        return f'the last checkpoint, {last}, was saved before it and is kept'

    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch: Any = None,
                         outputs: Any = None) -> None:
        """Check the loss of the iteration that just ran.

        Args:
            runner (Runner): The runner.
            batch_idx (int): Index in the epoch.
            data_batch (Any): The batch.
            outputs (Any): ``train_step``'s log variables.
        """
        loss = self._loss(outputs)
        if loss is None or bool(torch.isfinite(loss.detach()).all()):
            return
        iteration = runner.iter + 1  # 1-based, as mmengine logs it
        self.bad_iters.append(iteration)
        where = (f'iteration {iteration} (epoch {runner.epoch + 1}, batch '
                 f'{batch_idx + 1})')
        count = len(self.bad_iters)
        if count >= self.max_nonfinite_losses:
            raise NonFiniteLossError(
                f'the loss is {float(loss.detach().float().mean())} at '
                f'{where}: {count} non-finite loss(es) at iterations '
                f'{self.bad_iters[:10]}, the limit '
                f'(NonFiniteGuardHook.max_nonfinite_losses) is '
                f'{self.max_nonfinite_losses}. Training stopped; '
                f'{self._last_checkpoint(runner)}. Lower the learning rate, '
                f'clip gradients or check the data of that batch.')
        model = getattr(runner.model, 'module', runner.model)
        bad = nonfinite_tensors(model.state_dict().items())
        if bad:
            total = len(model.state_dict())
            raise NonFiniteLossError(
                f'the loss is non-finite at {where} and the optimizer step '
                f'wrote it into the model: {describe_nonfinite(bad, total)}. '
                f'Training stopped; {self._last_checkpoint(runner)}.')
        print_log(
            f'non-finite loss at {where} ({count} of at most '
            f'{self.max_nonfinite_losses - 1} tolerated); the weights are '
            'still finite',
            logger='current',
            level=logging.WARNING)

    def _check_outputs(self, runner, mode: str, batch_idx: int,
                       outputs: Any) -> None:
        if not self.check_outputs:
            return
        bad = nonfinite_outputs(outputs)
        if not bad:
            return
        position, key, meta = bad[0]
        detail = ''
        if meta:
            names = {
                k: meta[k]
                for k in ('filename', 'frame_dir', 'video_id', 'img_key')
                if k in meta
            }
            detail = f' ({names})' if names else ''
        raise NonFiniteError(
            f'{mode}: non-finite class scores ({key}) for {len(bad)} '
            f'sample(s) of batch {batch_idx + 1}, the first at position '
            f'{position}{detail}. A metric computed from them would be '
            'meaningless; the weights or the input are broken (a checkpoint '
            'of a run that diverged?).')

    def after_val_iter(self,
                       runner,
                       batch_idx: int,
                       data_batch: Any = None,
                       outputs: Any = None) -> None:
        """Check the validation scores of a batch.

        Args:
            runner (Runner): The runner.
            batch_idx (int): Index of the batch.
            data_batch (Any): The batch.
            outputs (Any): ``val_step``'s outputs.
        """
        self._check_outputs(runner, 'validation', batch_idx, outputs)

    def after_test_iter(self,
                        runner,
                        batch_idx: int,
                        data_batch: Any = None,
                        outputs: Any = None) -> None:
        """Check the test scores of a batch.

        Args:
            runner (Runner): The runner.
            batch_idx (int): Index of the batch.
            data_batch (Any): The batch.
            outputs (Any): ``test_step``'s outputs.
        """
        self._check_outputs(runner, 'test', batch_idx, outputs)
