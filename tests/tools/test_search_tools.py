"""Smoke tests of tools/export_assignment.py and tools/plot_assignment.py."""
import os
import subprocess
import sys

import torch
from mmaction.registry import MODELS
from mmengine.config import Config

from cakes_mmaction.assignment import Assignment

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
CONFIG = 'configs/search/cakes_search_c_demo.py'


def run(*args):
    result = subprocess.run([sys.executable, *args],
                            cwd=ROOT,
                            capture_output=True,
                            text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def test_export_assignment_tool(tmp_path):
    torch.manual_seed(0)
    model = MODELS.build(Config.fromfile(os.path.join(ROOT, CONFIG)).model)
    with torch.no_grad():
        for layer in model.supernet_layers.values():
            layer.bn.weight.copy_(torch.randn(layer.out_channels))
    checkpoint = str(tmp_path / 'search.pth')
    torch.save(dict(state_dict=model.state_dict(), meta=dict()), checkpoint)
    out = str(tmp_path / 'assignment.json')
    stdout = run('tools/export_assignment.py', CONFIG, checkpoint, '--out',
                 out, '--flops-budget', '35%', '--input-shape', '8', '32',
                 '32')
    exported = Assignment.load(out)
    budget = exported.meta['budget']
    assert budget['metric'] == 'flops' and budget['spec'] == '35%'
    assert budget['reached'] == exported.meta['flops'] <= budget['budget']
    assert f'reached {budget["reached"]:,}' in stdout


def test_plot_assignment_tool(tmp_path):
    png = str(tmp_path / 'plot.png')
    stdout = run('tools/plot_assignment.py', 'cakes123d_p', 'cakes123d_c',
                 '--out', png, '--labels', 'P', 'C')
    assert os.path.getsize(png) > 1000
    assert 'layer1.0.conv2' in stdout and 'layer4.2.conv2' in stdout
    assert stdout.rstrip().endswith(f'wrote {png}')
