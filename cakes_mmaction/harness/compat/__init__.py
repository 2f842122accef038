"""Repairs for the pinned stack (mmaction2 1.2.0, mmengine 0.10.7, torch 2.x).

Every repair checks that it is needed before it changes anything, names the
upstream issue it works around, and has a test in ``tests/test_compat.py``
or ``tests/test_compat_extras.py``. :func:`apply_all` must run before
anything imports ``mmaction.models``; ``cakes_mmaction.harness`` calls it
first.

- ``drn``: the wheel's missing DRN localizer;
- ``checkpoint_loading``: mmengine's loading through the safe loader of
  :mod:`cakes_mmaction.checkpoints.safe_load`;
- ``distributed``: distributed runs without CUDA;
- ``extras``: optional extras that are installed but cannot be imported.
"""
from ...checkpoints.safe_load import (UnsafeCheckpointError,
                                      safe_checkpoint_globals, safe_torch_load)
from .checkpoint_loading import install_safe_checkpoint_loading
from .distributed import init_cpu_distributed
from .drn import install_drn_stub
from .extras import (OPTIONAL_EXTRAS, guard_optional_extras, import_failure,
                     third_party_imports)

__all__ = [
    'apply_all', 'install_drn_stub', 'install_safe_checkpoint_loading',
    'guard_optional_extras', 'safe_checkpoint_globals',
    'init_cpu_distributed', 'UnsafeCheckpointError', 'safe_torch_load',
    'third_party_imports', 'import_failure', 'OPTIONAL_EXTRAS'
]


def apply_all() -> dict:
    """Apply every import-time repair.

    Returns:
        dict: Repair name to whether it changed anything.
    """
    # Always the safe loader, whatever torch's default: a checkpoint from
    # outside (pretrained weights, load_from, a download) must never run
    # code when loaded.
    return dict(
        drn_stub=install_drn_stub(),
        optional_extras_off=sorted(guard_optional_extras()),
        safe_checkpoint_loading=install_safe_checkpoint_loading())
