"""ONNX export of recognizers, checked with onnxruntime."""
import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from cakes_mmaction import AssignmentError
from cakes_mmaction.deployment import (OnnxVerificationError,
                                       RecognizerForExport, build_recognizer,
                                       export_onnx, export_recognizer_onnx,
                                       verify_onnx)
from tests.deployment.tiny_model import SHAPE, write_tiny


@pytest.mark.parametrize('softmax', [False, True])
def test_export_matches_pytorch_at_any_batch(tmp_path, softmax):
    config, checkpoint = write_tiny(tmp_path)
    out = str(tmp_path / 'tiny.onnx')

    result = export_recognizer_onnx(
        config, checkpoint, SHAPE, out, softmax=softmax)

    assert sorted(result.checks) == [2, 3]  # exported N and N + 1
    assert all(diff <= limit for diff, limit in result.checks.values())
    props = {p.key: p.value for p in onnx.load(out).metadata_props}
    assert json.loads(props['mean']) == [123.675, 116.28, 103.53]
    assert props['output'] == ('softmax probabilities' if softmax else
                               'logits')
    # An independent run at a third batch size, against the recognizer
    # loaded afresh (mmaction2's own forward, not the export wrapper).
    model, _ = build_recognizer(config, checkpoint)
    clip = torch.randn(4, *SHAPE[1:])
    with torch.no_grad():
        expected = model(clip[:, None], mode='tensor', stage='head')
    if softmax:
        expected = expected.softmax(-1)
    session = ort.InferenceSession(out, providers=['CPUExecutionProvider'])
    got = session.run(None, {'clip': clip.numpy()})[0]
    assert got.shape == (4, 5)
    np.testing.assert_allclose(got, expected.numpy(), rtol=1e-4, atol=1e-5)
    if softmax:
        np.testing.assert_allclose(got.sum(-1), 1.0, rtol=1e-5)


def test_verification_fails_on_a_different_model(tmp_path):
    config, checkpoint = write_tiny(tmp_path)
    model, _ = build_recognizer(config, checkpoint)
    module = RecognizerForExport(model).eval()
    out = export_onnx(module, SHAPE, str(tmp_path / 'tiny.onnx'))
    with torch.no_grad():
        module.cls_head.fc_cls.bias.add_(1e-2)  # PyTorch side drifts
    with pytest.raises(OnnxVerificationError, match='differ at batch 2'):
        verify_onnx(out, module, SHAPE)


def test_checkpoint_of_another_assignment_is_refused(tmp_path):
    config, checkpoint = write_tiny(tmp_path)
    with pytest.raises(AssignmentError, match='another channel assignment'):
        export_recognizer_onnx(
            config, checkpoint, SHAPE, str(tmp_path / 'x.onnx'),
            cfg_options={
                'model.backbone.assignment':
                dict(_delete_=True, uniform=['1x3x3', '3x1x1'])
            })
    assert not (tmp_path / 'x.onnx').exists()
