"""Smoke test of tools/convert/official_to_mmaction.py (a real process)."""
import subprocess
import sys

import torch

from cakes_mmaction import Assignment
from tests.convert.official_layout import (TINY_COUNTS, OfficialTSN,
                                           official_checkpoint, randomize_)


def test_cli_converts_and_reports(tmp_path):
    src, dst = tmp_path / 'official.pth.tar', tmp_path / 'ours.pth'
    torch.save(official_checkpoint(randomize_(OfficialTSN())), src)
    run = subprocess.run(
        [sys.executable, 'tools/convert/official_to_mmaction.py',
         str(src), str(dst)],
        capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert 'assignment: inferred from the branch tensors' in run.stdout
    assert 'model.cls_head.in_channels=256' in run.stdout
    ckpt = torch.load(dst, weights_only=True)
    assert Assignment.from_state_dict(ckpt['state_dict']).to_layers() == (
        TINY_COUNTS)
    assert Assignment.load(tmp_path / 'ours.assignment.json').to_layers() == (
        TINY_COUNTS)

    # A leftover tensor: one clear message, exit status 1, nothing written.
    bad = official_checkpoint(OfficialTSN())
    bad['state_dict']['module.base_model.extra'] = torch.zeros(2)
    torch.save(bad, src)
    run = subprocess.run(
        [sys.executable, 'tools/convert/official_to_mmaction.py',
         str(src), str(tmp_path / 'bad.pth')],
        capture_output=True, text=True, timeout=300)
    assert run.returncode == 1
    assert 'base_model.extra (2,): no place for it' in run.stderr
    assert not (tmp_path / 'bad.pth').exists()
