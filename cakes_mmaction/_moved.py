"""Old import paths of moved modules, kept working for users' scripts.

The training harness moved under ``cakes_mmaction.harness`` and a few
modules moved into the core; a script that still imports
``cakes_mmaction.datasets.synthetic`` or ``cakes_mmaction._compat`` gets
the module at its new place. The old name is an alias of the same module
object (never a second copy, which would register its classes twice), so
patching either name patches both. Nothing in the repository uses the old
names; :data:`MOVED` is the only record of them.
"""
import importlib
import importlib.abc
import importlib.machinery
import sys
from types import ModuleType
from typing import Optional, Sequence

__all__ = ['MOVED', 'new_name', 'install']

#: Old dotted name (module or package) to its new name. A package's
#: submodules follow it unless listed themselves; the longest match wins.
MOVED = {
    'cakes_mmaction._compat': 'cakes_mmaction.harness.compat',
    'cakes_mmaction.apis': 'cakes_mmaction.harness.apis',
    'cakes_mmaction.datasets': 'cakes_mmaction.harness.datasets',
    'cakes_mmaction.datasets.media': 'cakes_mmaction.harness.media',
    'cakes_mmaction.datasets.checker':
    'cakes_mmaction.harness.dataset_check.checker',
    'cakes_mmaction.datasets.synthetic':
    'cakes_mmaction.harness.synthetic.generator',
    'cakes_mmaction.datasets.synthetic_hard':
    'cakes_mmaction.harness.synthetic.hard',
    'cakes_mmaction.engine': 'cakes_mmaction.harness.engine',
    'cakes_mmaction.engine.checkpoint_fit': 'cakes_mmaction.checkpoints.fit',
    'cakes_mmaction.engine.nonfinite': 'cakes_mmaction.checkpoints.nonfinite',
    'cakes_mmaction.search.evaluation':
    'cakes_mmaction.analysis.search_evaluation',
}


def new_name(name: str) -> Optional[str]:
    """The new dotted name of a moved module, or None if it did not move.

    Args:
        name (str): A dotted module name, e.g.
            ``'cakes_mmaction.engine.hooks.epoch_seed_hook'``.

    Returns:
        str | None: e.g. ``'cakes_mmaction.harness.engine.hooks.
        epoch_seed_hook'``.
    """
    parts = name.split('.')
    for cut in range(len(parts), 0, -1):
        old = '.'.join(parts[:cut])
        if old in MOVED:
            return '.'.join([MOVED[old]] + parts[cut:])
    return None


class _AliasLoader(importlib.abc.Loader):
    """Hands out the module imported under its new name."""

    def __init__(self, target: str) -> None:
        self.target = target

    def create_module(self, spec) -> ModuleType:
        return importlib.import_module(self.target)

    def exec_module(self, module: ModuleType) -> None:
        # Already executed under its new name.
        pass


class _MovedFinder(importlib.abc.MetaPathFinder):
    """Finds old names first, before the path finder could load a second
    copy of the file through an aliased package's ``__path__``."""

    def find_spec(self,
                  fullname: str,
                  path: Optional[Sequence[str]] = None,
                  target: Optional[ModuleType] = None):
        new = new_name(fullname)
        if new is None:
            return None
        return importlib.machinery.ModuleSpec(fullname, _AliasLoader(new))


_FINDER = _MovedFinder()


def install() -> None:
    """Put the finder first on ``sys.meta_path`` (once)."""
    if _FINDER not in sys.meta_path:
        sys.meta_path.insert(0, _FINDER)
