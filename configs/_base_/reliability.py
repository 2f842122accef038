# Reliability defaults: mmaction2's runtime with every guard of
# docs/failure_modes.md switched on. Inherit this file instead of
# 'mmaction::_base_/default_runtime.py' (a file cannot list both as bases:
# mmengine refuses keys defined by two sibling bases).
#
# Datasets are chosen per config, so their fault policy is set there:
#   train_dataloader = dict(dataset=dict(
#       type='RobustRawframeDataset',   # or 'RobustVideoDataset'
#       on_error='skip',                # or 'raise' (default)
#       max_skips=100,                  # distinct bad samples per rank
#       max_skip_ratio=0.01,            # ... or this fraction, if smaller
#       num_classes=174,                # labels checked against the head
#       ...))                           # plus RawframeDataset's arguments
# Validation and test datasets always raise (skipping would bias metrics).
# The hooks are registered by `import cakes_mmaction`, which the model
# base (configs/_base_/models/cakes_r50.py) requests with custom_imports.
_base_ = ['mmaction::_base_/default_runtime.py']

default_hooks = dict(
    # Atomic checkpoint files and last_checkpoint, deletions after the new
    # file is complete, --resume from the newest complete checkpoint,
    # copy-safe best/last paths, random states for exact resumes.
    checkpoint=dict(type='AtomicCheckpointHook', save_rng_state=True))

# A config that sets its own `custom_hooks` replaces this list (mmengine
# merges lists by replacing them), so it must keep these; it refers to
# them by name:  custom_hooks = _base_.reliability_hooks + [dict(...)]
reliability_hooks = [
    # Names a lost rank and stops the others after `timeout` seconds
    # without its heartbeat (does nothing in single-process runs).
    dict(type='DistWatchdogHook', timeout=120, interval=5),
    # Logs and saves (skipped_samples.json) what robust datasets skipped.
    dict(type='DataFaultHook'),
    # Stops training at a non-finite loss (naming the iteration, keeping
    # the last good checkpoint); fails validation/test on NaN scores.
    dict(type='NonFiniteGuardHook', max_nonfinite_losses=1),
]
custom_hooks = [dict(hook) for hook in reliability_hooks]

# Bounds a collective that waits on a rank that is alive but stuck (the
# watchdog cannot see that); torch's default is 30 minutes. Long enough
# for rank 0 to write a large checkpoint while the others wait.
env_cfg = dict(dist_cfg=dict(timeout=600))
