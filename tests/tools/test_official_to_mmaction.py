"""Smoke test of tools/convert/official_to_mmaction.py (a real process)."""
import importlib.util
import subprocess
import sys

import torch

from cakes_mmaction import Assignment
from tests.convert.official_layout import (TINY_COUNTS, OfficialTSN,
                                           official_checkpoint, randomize_)

TOOL = 'tools/convert/official_to_mmaction.py'


def test_cli_converts_and_reports(tmp_path, capsys):
    src, dst = tmp_path / 'official.pth.tar', tmp_path / 'ours.pth'
    torch.save(official_checkpoint(randomize_(OfficialTSN())), src)
    run = subprocess.run(
        [sys.executable, TOOL, str(src), str(dst)],
        capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert 'assignment: inferred from the branch tensors' in run.stdout
    assert 'model.cls_head.in_channels=256' in run.stdout
    ckpt = torch.load(dst, weights_only=True)
    assert Assignment.from_state_dict(ckpt['state_dict']).to_layers() == (
        TINY_COUNTS)
    assert Assignment.load(tmp_path / 'ours.assignment.json').to_layers() == (
        TINY_COUNTS)

    # The error path of main(): one clear message, status 1, no file.
    bad = official_checkpoint(OfficialTSN())
    bad['state_dict']['module.base_model.extra'] = torch.zeros(2)
    torch.save(bad, src)
    tool = _load_tool()
    assert tool.main([str(src), str(tmp_path / 'bad.pth')]) == 1
    assert 'base_model.extra (2,): no place for it' in capsys.readouterr().err
    assert not (tmp_path / 'bad.pth').exists()


def _load_tool():
    spec = importlib.util.spec_from_file_location('official_to_mmaction',
                                                  TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
