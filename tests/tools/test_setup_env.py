"""tools/setup_env.sh keeps a torch the environment already has, and the
requirements name one OpenCV distribution.

The setup test runs the real script and real pip on an environment that
sees this checkout's installed stack (a ``.pth`` file, like a venv created
with ``--system-site-packages``) and, before it, the metadata of a CUDA
torch ``2.11.0+cu130``: the pinned CPU ``torch==2.13.0`` does not satisfy
it, so a script that installed the pin would put a torch into the env.
"""
import importlib.metadata
import os
import os.path as osp
import re
import subprocess
import sys
import sysconfig

import pytest

from cakes_mmaction.analysis.child_env import child_env

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
SETUP = osp.join(ROOT, 'tools', 'setup_env.sh')
CUDA_TORCH = '2.11.0+cu130'


def _requirement_files():
    folder = osp.join(ROOT, 'requirements')
    return {name: open(osp.join(folder, name)).read()
            for name in sorted(os.listdir(folder)) if name.endswith('.txt')}


def _names(text):
    names = []
    for line in text.splitlines():
        line = line.split('#')[0].strip()
        if line and not line.startswith('-'):
            names.append(re.split(r'[<>=!~ ;\[]', line)[0].lower())
    return names


@pytest.fixture
def env_with_cuda_torch(tmp_path):
    """A venv whose pip sees torch 2.11.0+cu130 and this stack."""
    venv = tmp_path / 'venv'
    subprocess.run([sys.executable, '-m', 'venv', '--without-pip',
                    str(venv)], check=True)
    site = subprocess.run(
        [str(venv / 'bin' / 'python'), '-c',
         'import sysconfig; print(sysconfig.get_paths()["purelib"])'],
        check=True, capture_output=True, text=True).stdout.strip()
    info = tmp_path / 'machine' / f'torch-{CUDA_TORCH}.dist-info'
    info.mkdir(parents=True)
    (info / 'METADATA').write_text(
        f'Metadata-Version: 2.1\nName: torch\nVersion: {CUDA_TORCH}\n')
    (info / 'RECORD').write_text('')
    # The machine's packages, in front of this checkout's stack (torch's
    # modules come from there; pip reads the first torch metadata).
    with open(osp.join(site, 'machine.pth'), 'w') as f:
        f.write(f'{tmp_path / "machine"}\n'
                f'{sysconfig.get_paths()["purelib"]}\n')
    return venv, site


def test_setup_keeps_the_installed_torch(env_with_cuda_torch):
    venv, site = env_with_cuda_torch
    env = child_env(CAKES_VENV=str(venv), PIP_NO_INDEX='1',
                    PIP_DISABLE_PIP_VERSION_CHECK='1')
    env.pop('PYTHONPATH', None)  # the venv sees the stack via its .pth
    proc = subprocess.run(['bash', SETUP], env=env, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    assert f'keeping the installed torch {CUDA_TORCH}' in proc.stdout
    assert 'installing requirements/torch-cpu.txt' not in proc.stdout
    # Nothing named torch landed in the venv; pip still sees the CUDA one.
    assert not [n for n in os.listdir(site) if n.startswith('torch')]
    version = subprocess.run(
        [str(venv / 'bin' / 'python'), '-c',
         'import importlib.metadata as m; print(m.version("torch"))'],
        check=True, capture_output=True, text=True).stdout.strip()
    assert version == CUDA_TORCH
    # Every later pip call was held to that torch.
    assert (venv / 'cakes-torch-constraint.txt').read_text() == (
        f'torch=={CUDA_TORCH}\n')
    # The package itself was installed into the venv (editable).
    assert any('cakes_mmaction' in n for n in os.listdir(site))


def test_one_opencv_distribution_is_asked_for():
    files = _requirement_files()
    asked = [n for text in files.values() for n in _names(text)]
    opencv = {n for n in asked if n.startswith('opencv')}
    assert opencv == {'opencv-python-headless'}
    # The packages whose metadata names another OpenCV (or torch) are the
    # ones installed with --no-deps, and everything else they declare is
    # in the runtime requirements.
    nodeps = set(_names(files['openmmlab.txt']))
    runtime = set(_names(files['runtime.txt']))
    for dist in ('mmengine', 'mmcv-lite', 'mmaction2', 'decord'):
        for req in importlib.metadata.requires(dist) or []:
            if 'extra ==' in req or 'sys_platform == "win32"' in req:
                continue
            name = re.split(r'[<>=!~ ;(\[]', req)[0].lower()
            if name.startswith('opencv') or name == 'torch':
                assert dist in nodeps, (dist, req)
            else:
                assert name in runtime | nodeps, (dist, req)
    assert 'torch' not in runtime | nodeps
    assert 'torch' in _names(files['torch-cpu.txt'])


def test_requirements_txt_is_the_whole_cpu_stack():
    text = open(osp.join(ROOT, 'requirements.txt')).read()
    included = re.findall(r'^-r (\S+)$', text, flags=re.M)
    assert sorted(included) == sorted(
        f'requirements/{name}' for name in _requirement_files())
