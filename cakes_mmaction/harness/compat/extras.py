"""Repair: optional mmaction2 extras that are installed but broken."""
import ast
import importlib
import importlib.util
import os
import sys
import warnings
from typing import Iterator, List, Optional, Tuple

__all__ = [
    'OPTIONAL_EXTRAS', 'module_level_imports', 'third_party_imports',
    'import_failure', 'guard_optional_extras'
]


# --------------------------------------------------------------------------
# 4. Optional mmaction2 extras that are installed but cannot be imported.
#    mmaction2 1.2.0 imports its VindLU multimodal models whenever any
#    ``transformers>=4.28`` is installed (``mmaction.utils.dependency.
#    WITH_MULTIMODAL``); they import names that transformers 5 removed and
#    need ``timm``, so ``import mmaction.models`` fails on many GPU machines.
#    The mmdet (AVA heads), mmpretrain (MobileOne-TSM), wandb (video
#    visualizer) and nltk (Charades-STA) imports sit in ``try/except
#    ImportError``, which does not catch an installed package that fails
#    with another error (a version assert, a binary built for another
#    numpy, a protobuf mismatch). Each extra is probed with exactly the
#    third-party imports its mmaction2 modules make at import time, and
#    switched off only when one of them fails.
# --------------------------------------------------------------------------
# extra: (mmaction2 paths whose imports make it up, how mmaction guards it:
# 'flag' = WITH_MULTIMODAL, 'try' = ``try: import extra`` / except
# ImportError, where only the extra's own imports are probed).
OPTIONAL_EXTRAS = {
    'multimodal': (('models/multimodal/vindlu', ), 'flag'),
    'mmdet': (('models/roi_heads', 'models/task_modules'), 'try'),
    'mmpretrain': (('models/backbones/mobileone_tsm.py', ), 'try'),
    'wandb': (('visualization/video_backend.py', ), 'try'),
    'nltk': (('datasets/charades_sta_dataset.py', ), 'try'),
}


def module_level_imports(tree: ast.Module) -> Iterator[ast.stmt]:
    """Import statements run when a module is imported.

    Args:
        tree (ast.Module): The parsed module.

    Returns:
        Iterator[ast.stmt]: The imports of the module body and of the
        if/try/with blocks in it, not those in function or class bodies.
    """
    stack = list(tree.body)
    while stack:
        node = stack.pop(0)
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        elif isinstance(node, (ast.If, ast.Try, ast.With)):
            for field in ('body', 'orelse', 'finalbody', 'handlers'):
                stack.extend(getattr(node, field, []))
        elif isinstance(node, ast.ExceptHandler):
            stack.extend(node.body)


def third_party_imports(paths: List[str]) -> List[Tuple[str, Tuple[str]]]:
    """The non-mmaction imports that importing these files runs.

    Args:
        paths (list[str]): Python files or folders of them.

    Returns:
        list[tuple[str, tuple[str]]]: ``(module, names)`` in file order;
        ``names`` is empty for ``import module``.
    """
    files = []
    for path in paths:
        if os.path.isdir(path):
            for root, _, names in sorted(os.walk(path)):
                files += [os.path.join(root, n) for n in sorted(names)
                          if n.endswith('.py')]
        elif os.path.isfile(path):
            files.append(path)
    found = []
    for file in files:
        with open(file, encoding='utf-8') as f:
            tree = ast.parse(f.read(), filename=file)
        for node in module_level_imports(tree):
            if isinstance(node, ast.Import):
                entries = [(alias.name, ()) for alias in node.names]
            elif node.level == 0 and node.module:
                entries = [(node.module,
                            tuple(alias.name for alias in node.names))]
            else:
                continue  # relative: part of mmaction itself
            for module, names in entries:
                if module.split('.')[0] != 'mmaction' and (
                        module, names) not in found:
                    found.append((module, names))
    return found


def import_failure(
        imports: List[Tuple[str, Tuple[str]]]) -> Optional[BaseException]:
    """Run the imports; return the first error (None when all work).

    Args:
        imports (list[tuple[str, tuple[str]]]): As from
            :func:`third_party_imports`.

    Returns:
        BaseException, optional: The error, its message naming the import.
    """
    for module, names in imports:
        try:
            mod = importlib.import_module(module)
            for name in names:
                if name != '*' and not hasattr(mod, name):
                    try:
                        importlib.import_module(f'{module}.{name}')
                    except ImportError:
                        raise ImportError(
                            f'cannot import name {name!r} from {module!r} '
                            f'({getattr(mod, "__file__", None)})') from None
        except Exception as err:  # any failure disables the extra
            return err
    return None


def _mmaction_root() -> Optional[str]:
    spec = importlib.util.find_spec('mmaction')
    if spec is None or not spec.submodule_search_locations:
        return None
    return list(spec.submodule_search_locations)[0]


def guard_optional_extras() -> dict:
    """Switch off the optional mmaction2 extras that cannot be imported.

    Call it before anything imports ``mmaction.models``. An extra that is
    not installed, or imports fine, is left exactly as mmaction2 has it.

    Returns:
        dict: Extra name to the reason it was switched off (only those).
    """
    root = _mmaction_root()
    if root is None or 'mmaction.models' in sys.modules:
        return {}
    disabled = {}
    for extra, (paths, guard) in OPTIONAL_EXTRAS.items():
        if guard == 'flag':
            from mmaction.utils import dependency
            if not dependency.WITH_MULTIMODAL:
                continue  # mmaction registers placeholders by itself
        elif importlib.util.find_spec(extra) is None:
            continue  # not installed: mmaction's except handles it
        imports = third_party_imports(
            [os.path.join(root, *p.split('/')) for p in paths])
        if guard == 'try':
            imports = [(m, n) for m, n in imports
                       if m.split('.')[0] == extra]
        err = import_failure(imports)
        if err is None or (guard == 'try' and isinstance(err, ImportError)):
            continue  # works, or mmaction's own except catches it
        reason = f'{type(err).__name__}: {err}'.splitlines()[0][:300]
        if guard == 'flag':
            dependency.WITH_MULTIMODAL = False
        else:  # an ImportError at mmaction's ``from extra ...`` lines
            for name in [n for n in sys.modules
                         if n == extra or n.startswith(extra + '.')]:
                del sys.modules[name]
            sys.modules[extra] = None
        disabled[extra] = reason
        warnings.warn(
            f'mmaction2\'s optional {extra!r} support is switched off '
            f'because an import it needs fails here ({reason}); '
            'recognition models are not affected.', RuntimeWarning)
    return disabled
