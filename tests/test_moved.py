"""Old import paths of moved modules: aliases of the moved modules, and
unused inside the repository."""
import importlib
import os
import os.path as osp
import re
import subprocess
import sys

import pytest

from cakes_mmaction._moved import MOVED, new_name

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))

OLD_AND_NEW = [
    ('cakes_mmaction._compat', 'cakes_mmaction.harness.compat'),
    ('cakes_mmaction.apis', 'cakes_mmaction.harness.apis'),
    ('cakes_mmaction.apis.train', 'cakes_mmaction.harness.apis.train'),
    ('cakes_mmaction.datasets', 'cakes_mmaction.harness.datasets'),
    ('cakes_mmaction.datasets.robust',
     'cakes_mmaction.harness.datasets.robust'),
    ('cakes_mmaction.datasets.synthetic',
     'cakes_mmaction.harness.synthetic.generator'),
    ('cakes_mmaction.datasets.synthetic_hard',
     'cakes_mmaction.harness.synthetic.hard'),
    ('cakes_mmaction.datasets.media', 'cakes_mmaction.harness.media'),
    ('cakes_mmaction.datasets.checker',
     'cakes_mmaction.harness.dataset_check.checker'),
    ('cakes_mmaction.engine', 'cakes_mmaction.harness.engine'),
    ('cakes_mmaction.engine.hooks.epoch_seed_hook',
     'cakes_mmaction.harness.engine.hooks.epoch_seed_hook'),
    ('cakes_mmaction.engine.checkpoint_fit', 'cakes_mmaction.checkpoints.fit'),
    ('cakes_mmaction.engine.nonfinite',
     'cakes_mmaction.checkpoints.nonfinite'),
    ('cakes_mmaction.search.evaluation',
     'cakes_mmaction.analysis.search_evaluation'),
]


@pytest.mark.parametrize('old,new', OLD_AND_NEW)
def test_old_name_is_the_moved_module(old, new):
    assert new_name(old) == new
    assert importlib.import_module(old) is importlib.import_module(new)


def test_unmoved_names_are_left_alone():
    assert new_name('cakes_mmaction.models') is None
    assert new_name('cakes_mmaction.search') is None
    assert new_name('cakes_mmaction.enginex') is None


def test_from_import_of_old_path_in_a_fresh_process():
    # A user's script: nothing imported beforehand, old paths only. The
    # registered classes exist once (a second copy of a module would
    # register them again and fail).
    code = '\n'.join([
        'from cakes_mmaction.datasets.synthetic import '
        'generate_synthetic_dataset as a',
        'from cakes_mmaction.harness.synthetic import '
        'generate_synthetic_dataset as b',
        'assert a is b',
        'from cakes_mmaction.engine.hooks.epoch_seed_hook import '
        'EpochSeedHook',
        'from mmaction.registry import HOOKS',
        'assert HOOKS.get("EpochSeedHook") is EpochSeedHook',
        'from cakes_mmaction._compat import safe_torch_load',
        'from cakes_mmaction.engine import check_checkpoint_fits',
        'import sys',
        'mods = {id(m): m for m in list(sys.modules.values())}',
        'files = [m.__file__ for m in mods.values()',
        '         if "cakes_mmaction" in (getattr(m, "__file__", "") or "")]',
        'assert len(files) == len(set(files)), "a module loaded twice"',
    ])
    proc = subprocess.run([sys.executable, '-c', code], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]


def test_the_repository_uses_no_old_path():
    old = sorted(MOVED, key=len, reverse=True)
    dotted = '|'.join(re.escape(name) for name in old)
    slashed = '|'.join(re.escape(name.replace('.', '/')) for name in old)
    pattern = re.compile(rf'\b({dotted}|{slashed})\b')
    offenders = []
    for top in ('cakes_mmaction', 'tools', 'tests', 'configs', 'docs',
                'README.md'):
        for root, _, files in os.walk(osp.join(ROOT, top)):
            for name in files:
                if not name.endswith(('.py', '.md', '.sh')):
                    continue
                path = osp.join(root, name)
                if path in (osp.abspath(__file__),
                            osp.join(ROOT, 'cakes_mmaction', '_moved.py')):
                    continue
                with open(path, encoding='utf-8') as f:
                    for number, line in enumerate(f, 1):
                        if pattern.search(line):
                            offenders.append(
                                f'{osp.relpath(path, ROOT)}:{number}: '
                                f'{line.strip()}')
        if top.endswith('.md'):
            path = osp.join(ROOT, top)
            with open(path, encoding='utf-8') as f:
                offenders += [
                    f'{top}:{n}: {ln.strip()}' for n, ln in enumerate(f, 1)
                    if pattern.search(ln)
                ]
    assert offenders == [], '\n'.join(offenders)
