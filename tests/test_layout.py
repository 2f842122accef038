"""The CAKES core never imports the training harness at module level.

The core defines CAKES networks, their search and their checkpoints; the
harness (``cakes_mmaction.harness``) trains, tests and feeds them and may
import the core, never the other way round. ``analysis`` holds the tool
libraries over both and is in neither.
"""
import ast
import os
import os.path as osp

import pytest

from cakes_mmaction._moved import MOVED
from cakes_mmaction.harness.compat.extras import module_level_imports

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
PACKAGE = osp.join(ROOT, 'cakes_mmaction')

CORE = ('shapes.py', 'layer_keys.py', 'assignment.py',
        'assignment_format.py', 'cost.py', 'model_zoo.py', 'layers',
        'models', 'search', 'checkpoints', 'visualization', 'convert',
        'deployment')
# The harness and the names that lead to it: the package root imports the
# harness (stack repairs, registration), and the old paths are aliases.
FORBIDDEN = ('cakes_mmaction.harness', ) + tuple(MOVED)


def _core_files():
    for entry in CORE:
        path = osp.join(PACKAGE, entry)
        if path.endswith('.py'):
            yield path
            continue
        for root, _, names in os.walk(path):
            yield from (osp.join(root, n) for n in sorted(names)
                        if n.endswith('.py'))


def _module_name(path, root):
    rel = osp.relpath(path, root)[:-3].replace(os.sep, '.')
    return rel[:-len('.__init__')] if rel.endswith('.__init__') else rel


def imported_names(path, root=ROOT):
    """The absolute module names a file imports at module level."""
    module = _module_name(path, root)
    package = module if path.endswith('__init__.py') else module.rsplit(
        '.', 1)[0]
    with open(path, encoding='utf-8') as f:
        tree = ast.parse(f.read(), path)
    names = []
    for node in module_level_imports(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
            continue
        if node.level:
            parts = package.split('.')
            base = parts[:len(parts) - node.level + 1]
            target = '.'.join(base + ([node.module] if node.module else []))
        else:
            target = node.module
        names.append(target)
        # 'from cakes_mmaction import harness' names the submodule.
        names += [f'{target}.{alias.name}' for alias in node.names]
    return names


def _offends(name):
    return name == 'cakes_mmaction' or any(
        name == bad or name.startswith(bad + '.') for bad in FORBIDDEN)


def test_core_never_imports_the_harness_at_module_level():
    offenders = []
    for path in _core_files():
        for name in imported_names(path):
            if _offends(name):
                offenders.append(f'{osp.relpath(path, ROOT)}: {name}')
    assert offenders == [], '\n'.join(offenders)


@pytest.mark.parametrize('source,found', [
    ('from ..harness.engine import x\n', True),
    ('from cakes_mmaction import harness\n', True),
    ('import cakes_mmaction\n', True),
    ('try:\n    from ..datasets import y\nexcept ImportError:\n    pass\n',
     True),
    ('from ..checkpoints.fit import z\nfrom . import shapes\n', False),
    ('def f():\n    from ..harness import compat\n', False),
])
def test_the_check_sees_relative_and_guarded_imports(tmp_path, source,
                                                     found):
    folder = tmp_path / 'cakes_mmaction' / 'models'
    folder.mkdir(parents=True)
    path = folder / 'probe.py'
    path.write_text(source)
    names = imported_names(str(path), root=str(tmp_path))
    assert any(_offends(n) for n in names) is found, names
