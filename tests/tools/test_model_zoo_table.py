"""Smoke test of tools/misc/model_zoo_table.py (a real process)."""
import subprocess
import sys


def test_cli_prints_the_table():
    run = subprocess.run(
        [sys.executable, 'tools/misc/model_zoo_table.py', '--assignments',
         'cakes123d_p', '--frames', '2', '--size', '32'],
        capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert '| cakes123d_p | 2x32x32 |' in run.stdout
    assert '| all-3x3x3 (I3D-style), same skeleton | 2x32x32 |' in run.stdout
