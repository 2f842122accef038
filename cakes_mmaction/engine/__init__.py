"""Engine: crash-safe checkpoints, distributed watchdog, config checks."""
from .checkpoint_io import (AtomicLocalBackend, CheckpointWriteError,  # noqa
                            atomic_write_bytes, find_resume_checkpoint,
                            verify_checkpoint_file)
from .hooks import AtomicCheckpointHook, DistWatchdogHook  # noqa: F401
from .watchdog import PeerWatchdog  # noqa: F401

__all__ = [
    'AtomicLocalBackend', 'CheckpointWriteError', 'atomic_write_bytes',
    'find_resume_checkpoint', 'verify_checkpoint_file',
    'AtomicCheckpointHook', 'DistWatchdogHook', 'PeerWatchdog'
]
