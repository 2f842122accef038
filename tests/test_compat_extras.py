"""Optional mmaction2 extras that are installed but cannot be imported.

A fake ``transformers`` 5 (its ``modeling_utils`` lacks the names VindLU
imports, as in the real 5.x) and a fake ``mmpretrain`` that fails with an
``AssertionError`` are put on an *extended* ``PYTHONPATH`` of a child
process, which then imports the package and trains a tiny CAKES model.
"""
import os
import subprocess
import sys
import textwrap

import pytest

from cakes_mmaction.analysis.child_env import child_env
from cakes_mmaction.harness import compat as _compat
from cakes_mmaction.harness.compat import extras as compat_extras

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COMPAT = os.path.join(ROOT, 'cakes_mmaction', 'harness', 'compat', 'drn.py')


def _fake_distribution(site, name, version, files):
    """A package with dist-info metadata, as pip would leave it."""
    info = site / f'{name}-{version}.dist-info'
    info.mkdir(parents=True)
    (info / 'METADATA').write_text(
        f'Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n')
    for rel, text in files.items():
        path = site / name / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


@pytest.fixture(scope='module')
def broken_site(tmp_path_factory):
    site = tmp_path_factory.mktemp('site')
    # transformers 5 moved apply_chunking_to_forward & co. to
    # pytorch_utils; mmaction2 1.2.0's VindLU still imports them from
    # modeling_utils. Every other module answers any name (PEP 562).
    any_name = ('def __getattr__(name):\n'
                '    return type(name, (), {})\n')
    _fake_distribution(site, 'transformers', '5.0.0', {
        '__init__.py': "__version__ = '5.0.0'\n" + any_name,
        'modeling_utils.py': 'class PreTrainedModel:\n    pass\n',
        **{f'{m}.py': any_name for m in (
            'activations', 'configuration_utils', 'file_utils',
            'modeling_outputs', 'pytorch_utils')},
        'models/__init__.py': '',
        'models/beit/__init__.py': any_name,
        'models/beit/modeling_beit.py': any_name,
    })
    # wandb with a mismatched protobuf fails with a TypeError.
    _fake_distribution(site, 'wandb', '0.15.0', {
        '__init__.py': "raise TypeError('Descriptors cannot be created "
                       "directly.')\n",
    })
    _fake_distribution(site, 'mmpretrain', '1.2.0', {
        '__init__.py': "raise AssertionError('MMCV==2.1.0 is used but "
                       "incompatible. Please install mmcv>=2.2.0')\n",
    })
    return site


def _run(site, code, timeout=300):
    return subprocess.run(
        [sys.executable, '-c', textwrap.dedent(code)],
        env=child_env(str(site), ROOT, OMP_NUM_THREADS='1',
                      PYTHONWARNINGS='ignore'),
        capture_output=True, text=True, timeout=timeout, cwd=ROOT)


@pytest.mark.parametrize('extra,error', [
    ('multimodal', 'mmaction/models/multimodal/vindlu/'),
    ('mmpretrain', 'MMCV==2.1.0 is used but incompatible'),
    ('wandb', 'Descriptors cannot be created directly'),
])
def test_without_the_guard_mmaction_models_fails(broken_site, extra, error):
    # Only the drn repair (the package itself is not imported).
    proc = _run(broken_site, f"""
        import importlib.util
        spec = importlib.util.spec_from_file_location('c', {COMPAT!r})
        compat = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(compat)
        compat.install_drn_stub()
        from mmaction.utils import dependency
        assert dependency.WITH_MULTIMODAL  # transformers '5.0.0' >= 4.28
        import sys
        # Each failure on its own: the other extras switched off by hand.
        if {extra!r} != 'multimodal':
            dependency.WITH_MULTIMODAL = False
        for other in ('mmpretrain', 'wandb'):
            if other != {extra!r}:
                sys.modules[other] = None
        import mmaction.models
        import mmaction.visualization
        """)
    assert proc.returncode != 0
    assert error in proc.stderr, proc.stderr[-2000:]


def test_package_imports_and_trains_with_broken_extras(broken_site,
                                                       tmp_path):
    proc = _run(broken_site, f"""
        import warnings
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter('always')
            import cakes_mmaction
        import transformers
        assert transformers.__version__ == '5.0.0'
        from mmaction.registry import MODELS
        from mmaction.utils import dependency
        assert dependency.WITH_MULTIMODAL is False
        assert 'MobileOneTSM' not in MODELS.module_dict
        try:  # mmaction's placeholder names what is missing
            MODELS.build(dict(type='VindLURetrieval'))
        except ImportError as err:
            assert 'multi-modal' in str(err)
        else:
            raise SystemExit('VindLURetrieval built')
        text = ' '.join(str(w.message) for w in caught)
        assert "'multimodal' support is switched off" in text, text
        assert 'apply_chunking_to_forward' in text, text
        assert "'mmpretrain' support is switched off" in text, text
        assert "'wandb' support is switched off" in text, text
        import mmaction.visualization  # imports wandb in a try

        from mmengine.config import Config
        from cakes_mmaction.harness.apis import build_train_cfg, train
        from cakes_mmaction.harness.apis.data_options import \
            synthetic_cfg_options
        from cakes_mmaction.harness.synthetic import generate_synthetic_dataset
        demo = 'configs/demo/cakes_tiny_synthetic.py'
        data = generate_synthetic_dataset(
            {str(tmp_path / 'syn')!r}, num_per_class=2, size=32,
            num_pairs=1, formats=('rawframes', ))
        options = synthetic_cfg_options(Config.fromfile(demo), data)
        options.update({{
            'model.cls_head.num_classes': data.num_classes,
            'train_dataloader.batch_size': 2, 'train_cfg.max_epochs': 1,
            'log_level': 'WARNING'}})
        runner = train(build_train_cfg(
            demo, work_dir={str(tmp_path / 'work')!r}, no_validate=True,
            cfg_options=options))
        assert runner.epoch == 1
        print('trained', runner.iter)
        """)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert 'trained 2' in proc.stdout
    assert (tmp_path / 'work' / 'epoch_1.pth').is_file()


def test_import_probe_reads_what_vindlu_imports_at_import_time():
    root = compat_extras._mmaction_root()
    found = _compat.third_party_imports(
        [os.path.join(root, 'models', 'multimodal', 'vindlu')])
    modules = dict(found)
    assert 'apply_chunking_to_forward' in modules[
        'transformers.modeling_utils']
    assert modules['timm.models.layers'] == ('DropPath', )
    # vindlu.py imports BeitModel inside a method: not at import time.
    assert ('transformers.models.beit.modeling_beit',
            ('BeitModel', )) not in found
    assert not any(m.startswith('mmaction') for m, _ in found)


def test_import_failure_names_the_import():
    assert _compat.import_failure([('os.path', ('join', )),
                                   ('json', ())]) is None
    err = _compat.import_failure([('os', ('no_such_name', ))])
    assert isinstance(err, ImportError) and 'no_such_name' in str(err)
    err = _compat.import_failure([('no_such_module_xyz', ())])
    assert isinstance(err, ModuleNotFoundError)


def test_guard_is_a_no_op_here():
    # This machine's extras (none installed, or working) stay untouched;
    # once mmaction.models is imported it is too late and nothing changes.
    assert _compat.guard_optional_extras() == {}
