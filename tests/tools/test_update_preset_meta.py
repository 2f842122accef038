import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
TOOL = os.path.join(ROOT, 'tools', 'misc', 'update_preset_meta.py')


def test_check_mode_flags_stale_figures_and_writes_nothing(tmp_path):
    """Subprocess smoke test. At another input shape the stored figures
    are stale, so --check exits 1; the full recount at the shipped shape
    is tests/analysis/test_preset_meta.py."""
    preset = os.path.join(ROOT, 'cakes_mmaction', 'presets',
                          'cakes12d_p.json')
    with open(preset, 'rb') as f:
        before = f.read()
    proc = subprocess.run(
        [sys.executable, TOOL, '--check', '--presets', 'cakes12d_p',
         '--shape', '1', '3', '2', '32', '32'],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
        env=dict(os.environ, OMP_NUM_THREADS='1'))
    assert proc.returncode == 1, proc.stdout + proc.stderr[-3000:]
    assert proc.stdout.strip().splitlines()[-1] == 'out of date: cakes12d_p'
    with open(preset, 'rb') as f:
        assert f.read() == before
