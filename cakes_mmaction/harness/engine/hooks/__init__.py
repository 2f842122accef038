"""Hooks registered in mmaction2's ``HOOKS`` registry."""
from .atomic_checkpoint_hook import AtomicCheckpointHook
from .channels_last_hook import ChannelsLastHook
from .data_fault_hook import DataFaultHook
from .dist_watchdog_hook import DistWatchdogHook
from .epoch_seed_hook import EpochSeedHook, epoch_seed
from .input_size_hook import InputSizeHook
from .nonfinite_guard_hook import NonFiniteGuardHook
from .progress_logger_hook import ProgressLoggerHook

__all__ = [
    'AtomicCheckpointHook', 'ChannelsLastHook', 'DataFaultHook',
    'DistWatchdogHook', 'EpochSeedHook', 'epoch_seed', 'InputSizeHook',
    'NonFiniteGuardHook', 'ProgressLoggerHook'
]
