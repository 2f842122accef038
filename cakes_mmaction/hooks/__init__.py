"""Runner hooks of the training entry points (registered in mmaction)."""
from .epoch_seed_hook import EpochSeedHook, epoch_seed  # noqa: F401

__all__ = ['EpochSeedHook', 'epoch_seed']
