"""The installed package holds no test-only code: importing it registers
nothing from the tests' helpers in mmaction2's registries."""
import os.path as osp
import subprocess
import sys

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))

TEST_ONLY = ('ToyRecognizer', 'ToyDataset', 'ToyAccuracy', 'SelfKillHook')

CHECK = f"""
import importlib.util
import sys

import cakes_mmaction
from mmaction.registry import DATASETS, HOOKS, METRICS, MODELS, TRANSFORMS

ours = []
for registry in (DATASETS, HOOKS, METRICS, MODELS, TRANSFORMS):
    for name, cls in registry.module_dict.items():
        if cls.__module__.split('.')[0] in ('cakes_mmaction', 'tests'):
            ours.append((registry.name, name, cls.__module__))
assert ours, 'cakes_mmaction registered nothing'
bad = [entry for entry in ours
       if entry[1] in {TEST_ONLY!r} or not entry[2].startswith(
           'cakes_mmaction.') or '.testing' in entry[2]]
assert not bad, bad
loaded = sorted(name for name in sys.modules
                if name == 'tests' or name.startswith('tests.'))
assert not loaded, loaded
assert importlib.util.find_spec('cakes_mmaction.testing') is None
print(len(ours))
"""


def test_import_registers_nothing_test_only():
    # A fresh interpreter: the test session itself imports the helpers.
    proc = subprocess.run([sys.executable, '-c', CHECK], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert int(proc.stdout.split()[-1]) > 10


def test_the_helpers_register_the_toy_components():
    # The same check sees the toy model once the tests' helpers load.
    from mmaction.registry import HOOKS, MODELS

    import tests.helpers.toy  # noqa: F401
    assert MODELS.get('ToyRecognizer').__module__ == 'tests.helpers.toy'
    assert HOOKS.get('SelfKillHook').__module__ == 'tests.helpers.toy'
