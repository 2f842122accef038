"""EpochSeedHook seeds every epoch from (seed, epoch)."""
import random
from types import SimpleNamespace

import numpy as np
import torch

from cakes_mmaction.harness.engine.hooks import EpochSeedHook, epoch_seed


def _draws():
    return (random.random(), float(np.random.rand()), float(torch.rand(1)))


def _runner(seed, epoch, cfg_seed):
    return SimpleNamespace(
        seed=seed, epoch=epoch, cfg=dict(randomness=dict(seed=cfg_seed)))


def test_epoch_seeds_differ_and_repeat():
    seeds = {epoch_seed(0, e) for e in range(100)}
    assert len(seeds) == 100 and all(0 <= s < 2**31 for s in seeds)
    assert epoch_seed(1, 3) != epoch_seed(0, 3)
    assert epoch_seed(5, 7) == epoch_seed(5, 7)


def test_hook_makes_an_epoch_independent_of_the_past():
    hook = EpochSeedHook()
    hook.before_train_epoch(_runner(3, 2, 3))
    first = _draws()
    _draws()  # whatever ran before (an epoch, validation, a crash)
    hook.before_train_epoch(_runner(3, 2, 3))
    assert _draws() == first
    hook.before_train_epoch(_runner(3, 3, 3))
    assert _draws() != first


def test_hook_leaves_unseeded_runs_alone():
    torch.manual_seed(11)
    expected = float(torch.rand(1))
    torch.manual_seed(11)
    EpochSeedHook().before_train_epoch(_runner(123, 0, None))
    assert float(torch.rand(1)) == expected
