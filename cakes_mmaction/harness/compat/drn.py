"""Repair: the mmaction2 1.2.0 wheel lacks ``models/localizers/drn/``.

Self-contained (standard library only), so a test can load this file on
its own, before the package.
"""
import importlib
import importlib.util
import os
import sys
import types

__all__ = ['install_drn_stub']


# --------------------------------------------------------------------------
# 1. mmaction2 1.2.0 wheel lacks mmaction/models/localizers/drn/
#    (open-mmlab/mmaction2#2714): `import mmaction.models` fails.
# --------------------------------------------------------------------------
def _drn_missing() -> bool:
    if 'mmaction.models.localizers.drn' in sys.modules:
        return False
    spec = importlib.util.find_spec('mmaction')
    if spec is None or not spec.submodule_search_locations:
        return False
    root = list(spec.submodule_search_locations)[0]
    return not os.path.isdir(os.path.join(root, 'models', 'localizers', 'drn'))


def install_drn_stub() -> bool:
    """Register an empty ``drn`` localizer package when the wheel lacks it.

    DRN is a temporal-grounding localizer that the recognition models never
    use; the stub only lets ``mmaction.models`` import.

    Returns:
        bool: Whether the stub was installed.
    """
    if not _drn_missing():
        return False
    pkg = types.ModuleType('mmaction.models.localizers.drn')
    pkg.__path__ = []  # mark it as a package
    mod = types.ModuleType('mmaction.models.localizers.drn.drn')

    class DRN:  # noqa: D401 - placeholder named as upstream
        """Placeholder: DRN is missing from the mmaction2 1.2.0 wheel."""

        def __init__(self, *args, **kwargs):
            raise ImportError(
                'DRN is not shipped in the mmaction2 1.2.0 wheel '
                '(open-mmlab/mmaction2#2714).')

    mod.DRN = DRN
    pkg.DRN = DRN
    pkg.drn = mod
    sys.modules[pkg.__name__] = pkg
    sys.modules[mod.__name__] = mod
    return True
