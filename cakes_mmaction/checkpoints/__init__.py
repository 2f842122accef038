"""Checkpoint files of CAKES models: loaded safely, do they fit, are their
weights finite.

These define what a loadable checkpoint is for the models of the core
(``models``, ``convert``, ``deployment``), so they live beside them; the
training harness writes checkpoints (``harness.engine.checkpoint_io``) and
checks them with the same functions.
"""
from .fit import (CheckpointMismatchError, check_checkpoint_fits,
                  checkpoint_state_dict, head_classes, load_checked_checkpoint)
from .nonfinite import (NonFiniteError, NonFiniteLossError,
                        check_finite_weights, describe_nonfinite,
                        nonfinite_outputs, nonfinite_tensors)
from .safe_load import (UnsafeCheckpointError, safe_checkpoint_globals,
                        safe_torch_load)

__all__ = [
    'CheckpointMismatchError', 'check_checkpoint_fits',
    'checkpoint_state_dict', 'head_classes', 'load_checked_checkpoint',
    'NonFiniteError', 'NonFiniteLossError', 'check_finite_weights',
    'describe_nonfinite', 'nonfinite_outputs', 'nonfinite_tensors',
    'UnsafeCheckpointError', 'safe_checkpoint_globals', 'safe_torch_load'
]
