"""child_env extends the parent's environment; it never replaces it."""
import os
import subprocess
import sys

from cakes_mmaction.analysis.child_env import child_env


def test_child_env_keeps_the_parent_pythonpath(monkeypatch, tmp_path):
    monkeypatch.setenv('PYTHONPATH', os.pathsep.join(['/a', '/b']))
    monkeypatch.setenv('CUBLAS_WORKSPACE_CONFIG', ':4096:8')
    env = child_env(str(tmp_path), OMP_NUM_THREADS='1')
    assert env['PYTHONPATH'].split(os.pathsep) == [str(tmp_path), '/a', '/b']
    assert env['CUBLAS_WORKSPACE_CONFIG'] == ':4096:8'
    assert env['OMP_NUM_THREADS'] == '1'
    assert os.environ['PYTHONPATH'] == os.pathsep.join(['/a', '/b'])


def test_child_env_without_pythonpath(monkeypatch):
    monkeypatch.delenv('PYTHONPATH', raising=False)
    assert 'PYTHONPATH' not in child_env()
    assert child_env('/x')['PYTHONPATH'] == '/x'


def test_a_child_imports_from_both_paths(monkeypatch, tmp_path):
    # A module only the parent's PYTHONPATH provides, as on a machine whose
    # stack lives in a folder on PYTHONPATH.
    (tmp_path / 'old').mkdir()
    (tmp_path / 'old' / 'from_parent.py').write_text('X = 1\n')
    (tmp_path / 'new').mkdir()
    (tmp_path / 'new' / 'from_test.py').write_text('Y = 2\n')
    monkeypatch.setenv('PYTHONPATH', str(tmp_path / 'old'))
    out = subprocess.run(
        [sys.executable, '-c',
         'import from_parent, from_test; print(from_parent.X + from_test.Y)'],
        env=child_env(str(tmp_path / 'new')), capture_output=True,
        text=True, check=True).stdout
    assert out.strip() == '3'
