"""Official CAKES checkpoints -> mmaction2 checkpoints of ResNet3dCAKES."""
import argparse
import os
import pickle

import pytest
import torch
from mmaction.registry import MODELS
from mmengine.config import Config, DictAction
from mmengine.runner import load_checkpoint

from cakes_mmaction import Assignment
from cakes_mmaction.checkpoints.safe_load import UnsafeCheckpointError
from cakes_mmaction.convert import (ConversionError,
                                    convert_official_checkpoint,
                                    convert_official_state_dict)
from tests.convert.official_layout import (TINY_CLASSES, TINY_COUNTS,
                                           OfficialTSN, official_checkpoint,
                                           randomize_)

BASE_CFG = 'configs/_base_/models/cakes_r50.py'


@pytest.fixture(scope='module')
def official():
    return randomize_(OfficialTSN()).eval()


def _recognizer(cfg_options):
    """Our recognizer, built the way a user would: config + registry."""
    parser = argparse.ArgumentParser()
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    opts = parser.parse_args(['--cfg-options', *cfg_options]).cfg_options
    cfg = Config.fromfile(BASE_CFG)
    cfg.merge_from_dict(opts)
    return MODELS.build(cfg.model)


@pytest.mark.parametrize('stem_2d,with_counters,given', [
    (False, True, True),
    (True, False, False),
])
def test_converted_checkpoint_gives_official_logits(tmp_path, official,
                                                    stem_2d, with_counters,
                                                    given):
    src = str(tmp_path / 'official.pth.tar')
    torch.save(official_checkpoint(official, stem_2d, with_counters), src)
    spec = None
    if given:
        spec = str(tmp_path / 'tiny.json')
        Assignment(TINY_COUNTS).save(spec)
    dst = str(tmp_path / 'out' / 'converted.pth')

    report = convert_official_checkpoint(src, dst, assignment=spec)

    assert report.assignment_inferred is not given
    assert report.assignment.to_layers() == TINY_COUNTS
    assert Assignment.load(report.assignment_file) == report.assignment
    assert report.num_classes == TINY_CLASSES and report.preset is None
    assert report.meta == dict(epoch=42, arch='resnet50', best_prec1=47.25)
    n_bn = sum(isinstance(m, torch.nn.BatchNorm3d)
               for m in official.modules())
    assert len(report.added) == (0 if with_counters else n_bn)
    assert [k for k, _, _ in report.reshaped] == (
        ['backbone.conv1.conv.weight'] if stem_2d else [])
    n_official = len(official.state_dict())
    assert len(report.mapped) == n_official - len(report.added)

    model = _recognizer(report.cfg_options())
    # strict: every key of our model is in the file and nothing else.
    ckpt = load_checkpoint(model, dst, map_location='cpu', strict=True)
    assert ckpt['meta']['official']['epoch'] == 42
    model.eval()
    clip = torch.randn(2, 3, 4, 32, 32, generator=torch.Generator()
                       .manual_seed(1))
    with torch.no_grad():
        expected = official(clip)
        got = model(clip[:, None], mode='tensor', stage='head')
    assert expected.abs().max() > 0.1  # not a degenerate comparison
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)


def test_per_frame_classifier_equals_i3d_head():
    """new_fc per frame then mean over T == I3DHead (mean, then fc)."""
    head = MODELS.build(
        dict(type='I3DHead', num_classes=5, in_channels=16,
             dropout_ratio=0.3)).eval()
    torch.nn.init.normal_(head.fc_cls.bias)
    feats = torch.randn(3, 16, 4, 2, 2)
    per_frame = head.fc_cls(feats.mean(dim=(3, 4)).transpose(1, 2))
    torch.testing.assert_close(head(feats), per_frame.mean(dim=1))


def test_paper_resnet50_converts_to_the_base_config(tmp_path):
    counts = Assignment.preset('cakes12d_c')
    official = OfficialTSN(
        {p: counts[p] for p in counts}, num_classes=174, base_channels=64,
        stage_blocks=(3, 4, 6, 3))
    sd = official_checkpoint(official)['state_dict']

    converted, report = convert_official_state_dict(sd)

    assert report.assignment_inferred and report.preset == 'cakes12d_c'
    assert report.backbone_cfg == dict(
        depth=50, stage_blocks=(3, 4, 6, 3), base_channels=64)
    assert report.cfg_options() == [
        'model.backbone.assignment=cakes12d_c',
        'model.cls_head.num_classes=174'
    ]
    model = _recognizer(report.cfg_options())
    missing, unexpected = model.load_state_dict(converted, strict=True)
    assert not missing and not unexpected
    torch.testing.assert_close(
        model.backbone.layer4[2].conv2.conv.branches['3x1x1'].weight,
        official.base_model.layer4[2].convT.convs[1][0].weight)


def _tiny_sd(official):
    return official_checkpoint(official)['state_dict']


def test_branch_that_disagrees_with_the_assignment(official):
    wrong = {p: dict(c) for p, c in TINY_COUNTS.items()}
    wrong['layer2.0.conv2'] = {'3x3x3': 6, '1x3x3': 10, '3x1x1': 0}
    with pytest.raises(ConversionError) as err:
        convert_official_state_dict(_tiny_sd(official), wrong)
    msg = str(err.value)
    assert 'base_model.layer2.0.convT.convs.1.0.weight' in msg
    assert 'kernel 3x1x1 with 10 channels' in msg
    assert 'expects branch 1 of layer2.0.conv2 to be 1x3x3 with 10' in msg


def test_assignment_of_another_network(official):
    with pytest.raises(ConversionError) as err:
        convert_official_state_dict(_tiny_sd(official), 'cakes23d_p')
    assert ("the assignment (preset:cakes23d_p) is for another network: "
            "CAKES layers only in the assignment: ['layer1.2.conv2', "
            "'layer2.1.conv2'") in str(err.value)
    assert "only in the checkpoint: none" in str(err.value)


def test_missing_tensor_is_named_with_its_shape(official):
    sd = _tiny_sd(official)
    del sd['module.base_model.layer3.0.bn3.running_var']
    with pytest.raises(ConversionError) as err:
        convert_official_state_dict(sd, TINY_COUNTS)
    assert ('backbone.layer3.0.conv3.bn.running_var: expected shape (128,),'
            ' no tensor in the checkpoint') in str(err.value)


@pytest.mark.parametrize('key,why', [
    ('module.base_model.layer1.0.convT.gate.weight', 'no place for it'),
    ('module.consensus.weight', 'not part of the official layout'),
])
def test_leftover_tensor_is_named(official, key, why):
    sd = _tiny_sd(official)
    sd[key] = torch.zeros(3)
    with pytest.raises(ConversionError, match='left over') as err:
        convert_official_state_dict(sd)
    assert f'{key.replace("module.", "", 1)} (3,): {why}' in str(err.value)


def test_wrong_shape_is_named(official):
    sd = _tiny_sd(official)
    key = 'module.base_model.conv1.weight'
    sd[key] = sd[key].repeat(1, 1, 5, 1, 1)  # a 5x7x7 stem
    with pytest.raises(ConversionError) as err:
        convert_official_state_dict(sd)
    assert ('base_model.conv1.weight (8, 3, 5, 7, 7) -> '
            'backbone.conv1.conv.weight: expected shape (8, 3, 1, 7, 7)'
            ) in str(err.value)


class _Payload:

    def __reduce__(self):
        return (os.system, ('touch PWNED',))


def test_malicious_file_is_refused_without_running(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    src = tmp_path / 'evil.pth'
    with open(src, 'wb') as f:
        pickle.dump({'state_dict': {}, 'x': _Payload()}, f)
    with pytest.raises(UnsafeCheckpointError, match='evil.pth'):
        convert_official_checkpoint(str(src), str(tmp_path / 'out.pth'))
    assert not (tmp_path / 'PWNED').exists()
    assert not (tmp_path / 'out.pth').exists()


def test_conversion_checks_the_class_count_of_a_config(tmp_path, official):
    from cakes_mmaction.harness.engine import CheckpointMismatchError
    src = str(tmp_path / 'official.pth.tar')
    torch.save(official_checkpoint(official, False, True), src)
    report = convert_official_checkpoint(src, str(tmp_path / 'first.pth'))
    parser = argparse.ArgumentParser()
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    options = parser.parse_args(['--cfg-options',
                                 *report.cfg_options()]).cfg_options
    cfg = Config.fromfile(BASE_CFG)
    cfg.merge_from_dict(options)
    dst = str(tmp_path / 'checked.pth')
    convert_official_checkpoint(src, dst, config=cfg)
    assert os.path.isfile(dst)
    cfg.model.cls_head.num_classes = TINY_CLASSES + 1
    wrong = str(tmp_path / 'wrong.pth')
    with pytest.raises(CheckpointMismatchError) as info:
        convert_official_checkpoint(src, wrong, config=cfg)
    message = str(info.value)
    assert src in message and BASE_CFG in message
    assert f'has {TINY_CLASSES} classes' in message
    assert f'has {TINY_CLASSES + 1} (model.cls_head.num_classes)' in message
    assert not os.path.exists(wrong)
