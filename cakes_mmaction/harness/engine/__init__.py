"""Engine: crash-safe checkpoints, distributed watchdog, config checks."""
from ...checkpoints.fit import CheckpointMismatchError, check_checkpoint_fits
from ...checkpoints.nonfinite import (NonFiniteError, NonFiniteLossError,
                                      check_finite_weights)
from .checkpoint_io import (AtomicLocalBackend, CheckpointWriteError,
                            atomic_write_bytes, find_resume_checkpoint,
                            verify_checkpoint_file)
from .hooks import (AtomicCheckpointHook, DataFaultHook, DistWatchdogHook,
                    EpochSeedHook, NonFiniteGuardHook)
from .validate import ConfigValidationError, validate_config
from .watchdog import PeerWatchdog

__all__ = [
    'AtomicLocalBackend', 'CheckpointWriteError', 'atomic_write_bytes',
    'find_resume_checkpoint', 'verify_checkpoint_file', 'AtomicCheckpointHook',
    'DataFaultHook', 'DistWatchdogHook', 'EpochSeedHook', 'PeerWatchdog',
    'CheckpointMismatchError', 'check_checkpoint_fits',
    'ConfigValidationError', 'validate_config', 'NonFiniteGuardHook',
    'NonFiniteError', 'NonFiniteLossError', 'check_finite_weights'
]
