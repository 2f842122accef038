"""Smoke test of tools/deployment/export_onnx.py (a real process)."""
import subprocess
import sys

import onnx

from tests.deployment.tiny_model import write_tiny


def test_cli_exports_and_verifies(tmp_path):
    config, checkpoint = write_tiny(tmp_path)
    out = tmp_path / 'model.onnx'
    run = subprocess.run(
        [sys.executable, 'tools/deployment/export_onnx.py', config,
         checkpoint, '--shape', '1', '3', '4', '32', '32', '--out',
         str(out), '--softmax'],
        capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert 'batch 1: max abs diff ONNX vs PyTorch' in run.stdout
    assert 'batch 2: max abs diff ONNX vs PyTorch' in run.stdout
    dims = onnx.load(out).graph.input[0].type.tensor_type.shape.dim
    assert dims[0].dim_param == 'batch'
    assert [d.dim_value for d in dims[1:]] == [3, 4, 32, 32]
