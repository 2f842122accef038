"""Smoke test of tools/misc/model_zoo_table.py (a real process)."""
import subprocess
import sys

from cakes_mmaction import Assignment
from tests.deployment.tiny_model import write_tiny


def test_cli_prints_the_table(tmp_path):
    config, _ = write_tiny(tmp_path)
    spec = str(tmp_path / 'half_and_half.json')
    widths = {'layer1.0.conv2': 8, 'layer2.0.conv2': 16,
              'layer3.0.conv2': 32, 'layer4.0.conv2': 64}
    Assignment.uniform(widths, ['1x3x3', '3x1x1']).save(spec)
    run = subprocess.run(
        [sys.executable, 'tools/misc/model_zoo_table.py', '--config', config,
         '--assignments', spec, '--frames', '2', '--size', '32',
         '--num-classes', '5'],
        capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert '| half_and_half | 2x32x32 | 0% / 50% / 50% |' in run.stdout
    assert '| all-3x3x3 (I3D-style), same skeleton | 2x32x32 |' in run.stdout
