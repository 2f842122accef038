"""EpochSeedHook: every epoch starts from random states set by the seed.

mmengine seeds the random number generators once, when the Runner is
built, and a resumed run seeds them again from the start: after
``--resume`` the augmentations and dropout masks of the following epochs
differ from those of the uninterrupted run, so even a deterministic run
ends with other weights. This hook seeds Python's, NumPy's and torch's
generators at the start of every epoch from ``(runner.seed, epoch)``, which
makes an epoch's randomness independent of what ran before it (training,
validation, an interruption). Sampler order is already seeded per epoch by
mmengine's ``DistSamplerSeedHook``.
"""
import random

import numpy as np
import torch
from mmaction.registry import HOOKS
from mmengine.hooks import Hook

__all__ = ['EpochSeedHook', 'epoch_seed']


def epoch_seed(seed: int, epoch: int) -> int:
    """The seed of one epoch, derived from the run's seed.

    Args:
        seed (int): The run's seed (``runner.seed``; it includes the rank
            when ``randomness.diff_rank_seed`` is set).
        epoch (int): 0-based epoch.

    Returns:
        int: A 31-bit seed, different for every (seed, epoch).
    """
    state = np.random.SeedSequence([int(seed) % 2**63, int(epoch)])
    return int(state.generate_state(1)[0] >> 1)


@HOOKS.register_module()
class EpochSeedHook(Hook):
    """Seed the random number generators at the start of every epoch.

    With it, a training run killed after a checkpoint and restarted with
    ``--resume`` repeats exactly what the uninterrupted run would have done
    (bitwise, with ``randomness.deterministic=True``). Runs without a fixed
    seed are left to mmengine's own seeding.
    """

    priority = 'NORMAL'

    def before_train_epoch(self, runner) -> None:
        """Seed Python, NumPy and torch (all devices) for this epoch.

        Args:
            runner (Runner): The runner.
        """
        cfg = getattr(runner, 'cfg', None) or {}
        if (cfg.get('randomness') or {}).get('seed') is None:
            return  # no reproducibility asked for
        seed = epoch_seed(runner.seed, runner.epoch)
        random.seed(seed)
        np.random.seed(seed)
        torch.manual_seed(seed)  # seeds every CUDA device too
