"""Repair: mmengine's checkpoint loading through the safe loader.

mmengine 0.10.7 calls ``torch.load`` without ``weights_only``; with torch
>= 2.6, ``load_from``, ``--resume``, ``tools/test.py`` and
``init_recognizer`` fail with "Weights only load failed". Its local loader
is replaced by :func:`~cakes_mmaction.checkpoints.safe_load.
safe_torch_load`'s, which allow-lists exactly what mmengine writes.
"""
from ...checkpoints.safe_load import _safe_load_from_local

__all__ = ['install_safe_checkpoint_loading']


def install_safe_checkpoint_loading() -> bool:
    """Route mmengine's local checkpoint loading through the safe loader.

    ``CheckpointLoader.register_scheme`` is mmengine's own extension point,
    so ``load_from``, ``--resume``, ``load_checkpoint`` and
    ``init_recognizer`` all use it.

    Returns:
        bool: Whether the loader was replaced.
    """
    from mmengine.runner.checkpoint import CheckpointLoader
    current = CheckpointLoader._schemes.get('')
    if current is _safe_load_from_local:
        return False
    CheckpointLoader.register_scheme(prefixes='', force=True)(
        _safe_load_from_local)
    return True
