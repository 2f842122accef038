"""CAKESSparsityHook: the schedule of the C-scheme sparsity term."""
from collections import OrderedDict
from typing import Dict, Optional

import torch
from mmaction.registry import HOOKS
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

__all__ = ['CAKESSparsityHook', 'selected_shares']


def selected_shares(layers: Dict[str, torch.nn.Module]) -> Dict[str, float]:
    """Share of each shape among the channels export would keep now.

    Args:
        layers (dict[str, CAKESSupernetConv3d]): Supernet layers by path.

    Returns:
        dict[str, float]: Shape to its share of all kept channels.
    """
    kept: Dict[str, int] = OrderedDict()
    total = 0
    for layer in layers.values():
        for shape, n in layer.top_c_counts().items():
            kept[shape] = kept.get(shape, 0) + n
        total += layer.width
    return OrderedDict((s, n / total) for s, n in kept.items())


@HOOKS.register_module()
class CAKESSparsityHook(Hook):
    """Sets ``lambda_t`` of the C-scheme L1 term and logs the search.

    The gradient itself comes from ``loss_sparsity`` of
    :class:`~cakes_mmaction.search.CAKESSearchRecognizer` through autograd;
    this hook does no gradient surgery (mmengine has no after-backward
    stage, and AMP gradients are scaled until ``step``). Before every
    training iteration it sets::

        lambda_t = 0                                  t <  begin_iter
        lambda_t = lam * (t - begin_iter + 1) / warmup_iters
                                                      during warm-up
        lambda_t = lam                                after

    and logs ``sparsity_lambda``; every ``interval`` iterations it also
    logs the share of each shape among the channels that export would keep
    (``share_<shape>``). The schedule depends only on the iteration, so a
    resumed run continues it.

    Args:
        lam (float): The value after warm-up. Defaults to 1.0.
        begin_iter (int): First iteration with a non-zero penalty.
            Defaults to 0.
        warmup_iters (int): Linear ramp length in iterations (0: none).
            Defaults to 0.
        interval (int): Logging interval of the shares, in iterations.
            Defaults to 50.
    """

    priority = 'NORMAL'

    def __init__(self,
                 lam: float = 1.0,
                 begin_iter: int = 0,
                 warmup_iters: int = 0,
                 interval: int = 50) -> None:
        if isinstance(lam, bool) or not isinstance(lam, (int, float)) or \
                lam < 0:
            raise ValueError(f'lam must be a number >= 0, but got lam: {lam}')
        for name, value in (('begin_iter', begin_iter),
                            ('warmup_iters', warmup_iters)):
            if not isinstance(value, int) or value < 0:
                raise ValueError(
                    f'{name} must be an int >= 0, but got {name}: {value}')
        if not isinstance(interval, int) or interval < 1:
            raise ValueError(
                f'interval must be an int >= 1, but got interval: {interval}')
        self.lam = float(lam)
        self.begin_iter = begin_iter
        self.warmup_iters = warmup_iters
        self.interval = interval

    def lambda_at(self, iteration: int) -> float:
        """The schedule's value at a (0-based) training iteration.

        Args:
            iteration (int): ``runner.iter`` before the iteration runs.

        Returns:
            float: ``lambda_t``.
        """
        if iteration < self.begin_iter:
            return 0.0
        done = iteration - self.begin_iter + 1
        if self.warmup_iters and done < self.warmup_iters:
            return self.lam * done / self.warmup_iters
        return self.lam

    @staticmethod
    def _model(runner):
        model = runner.model
        return model.module if is_model_wrapper(model) else model

    def before_train(self, runner) -> None:
        """Refuse to run where there is no sparsity term to schedule."""
        model = self._model(runner)
        if getattr(model, 'sparsity', None) is None or \
                not hasattr(model, 'set_sparsity_lambda'):
            scheme = getattr(model, 'scheme', None)
            raise RuntimeError(
                'CAKESSparsityHook schedules the C-scheme sparsity term of '
                'CAKESSearchRecognizer, but the model '
                f'({type(model).__name__}, scheme={scheme!r}) has none; '
                'remove the hook or search with scheme C')

    def before_train_iter(self,
                          runner,
                          batch_idx: int,
                          data_batch: Optional[dict] = None) -> None:
        """Set ``lambda_t`` for this iteration and log it."""
        value = self.lambda_at(runner.iter)
        self._model(runner).set_sparsity_lambda(value)
        runner.message_hub.update_scalar('train/sparsity_lambda', value)

    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch: Optional[dict] = None,
                         outputs: Optional[dict] = None) -> None:
        """Log the shape shares export would give now."""
        if not self.every_n_train_iters(runner, self.interval):
            return
        shares = selected_shares(self._model(runner).supernet_layers)
        for shape, share in shares.items():
            runner.message_hub.update_scalar(f'train/share_{shape}', share)
