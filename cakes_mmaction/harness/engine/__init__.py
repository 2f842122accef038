"""Engine: crash-safe checkpoints, distributed watchdog, config checks."""
from ...checkpoints.fit import (CheckpointMismatchError,  # noqa: F401
                                check_checkpoint_fits)
from .checkpoint_io import (AtomicLocalBackend, CheckpointWriteError,  # noqa
                            atomic_write_bytes, find_resume_checkpoint,
                            verify_checkpoint_file)
from .hooks import (AtomicCheckpointHook, DataFaultHook, DistWatchdogHook,
                    EpochSeedHook, NonFiniteGuardHook)
from ...checkpoints.nonfinite import (NonFiniteError,  # noqa: F401
                                      NonFiniteLossError, check_finite_weights)
from .validate import ConfigValidationError, validate_config  # noqa: F401
from .watchdog import PeerWatchdog  # noqa: F401

__all__ = [
    'AtomicLocalBackend', 'CheckpointWriteError', 'atomic_write_bytes',
    'find_resume_checkpoint', 'verify_checkpoint_file', 'AtomicCheckpointHook',
    'DataFaultHook', 'DistWatchdogHook', 'EpochSeedHook', 'PeerWatchdog',
    'CheckpointMismatchError', 'check_checkpoint_fits',
    'ConfigValidationError', 'validate_config', 'NonFiniteGuardHook',
    'NonFiniteError', 'NonFiniteLossError', 'check_finite_weights'
]
