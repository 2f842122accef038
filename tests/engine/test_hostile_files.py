"""Malicious, broken and foreign checkpoints on every loading path."""
import io
import os
import os.path as osp
import pickle
import re
import zipfile

import pytest
import torch
from mmaction.registry import MODELS
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmengine.runner import Runner, load_checkpoint

from cakes_mmaction import AssignmentError
from cakes_mmaction.checkpoints.safe_load import UnsafeCheckpointError
from cakes_mmaction.harness.engine import CheckpointMismatchError
from tests.helpers.media import truncate_file
from tests.helpers.toy import toy_config

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


class Payload:
    """Unpickling this calls ``open(marker, 'w')``: it creates a file."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, 'w'))


def tiny_cakes_cfg(assignment=None, **backbone):
    cfg = Config.fromfile(osp.join(REPO, 'configs/_base_/models/cakes_r50.py'))
    cfg.model.backbone.update(
        depth=18,
        base_channels=8,
        assignment=assignment or dict(uniform=['3x3x3', '1x3x3']),
        **backbone)
    cfg.model.cls_head.update(in_channels=64, num_classes=3)
    return cfg


def build(cfg):
    with DefaultScope.overwrite_default_scope('mmaction'):
        return MODELS.build(cfg.model)


@pytest.fixture
def evil(tmp_path):
    """A torch zip checkpoint and a legacy pickle, both with a payload."""
    marker = str(tmp_path / 'PWNED')
    state = {'state_dict': {'w': torch.zeros(2)}, 'meta': Payload(marker)}
    zipped = str(tmp_path / 'evil.pth')
    torch.save(state, zipped)
    legacy = str(tmp_path / 'evil_legacy.pth')
    with open(legacy, 'wb') as f:
        pickle.dump(state, f, protocol=2)
    # Sanity: an unrestricted load would run the payload.
    pickle.loads(pickle.dumps(Payload(marker + '_check')))
    assert osp.exists(marker + '_check')
    return marker, [zipped, legacy]


def _assert_refused(exc_info, path, marker):
    assert path in str(exc_info.value)
    assert not osp.exists(marker)


def test_load_checkpoint_refuses_payload(evil):
    marker, paths = evil
    model = torch.nn.Linear(2, 2)
    for path in paths:
        with pytest.raises(UnsafeCheckpointError) as info:
            load_checkpoint(model, path)
        _assert_refused(info, path, marker)


@pytest.mark.parametrize('resume', [False, True])
def test_runner_load_from_and_resume_refuse_payload(evil, tmp_path, resume):
    marker, paths = evil
    for path in paths:
        cfg = toy_config(str(tmp_path / f'w{resume}'), max_epochs=1)
        cfg.load_from, cfg.resume = path, resume
        runner = Runner.from_cfg(cfg)
        with pytest.raises(Exception) as info:
            runner.train()
        _assert_refused(info, path, marker)


@pytest.mark.parametrize('pretrained2d', [True, False])
def test_backbone_pretrained_refuses_payload(evil, pretrained2d):
    marker, paths = evil
    for path in paths:
        model = build(
            tiny_cakes_cfg(pretrained=path, pretrained2d=pretrained2d))
        with pytest.raises(UnsafeCheckpointError) as info:
            model.backbone.init_weights()
        _assert_refused(info, path, marker)


def test_init_recognizer_refuses_payload(evil):
    from mmaction.apis import init_recognizer
    marker, paths = evil
    for path in paths:
        with pytest.raises(UnsafeCheckpointError) as info:
            init_recognizer(tiny_cakes_cfg(), path, device='cpu')
        _assert_refused(info, path, marker)


def test_assignment_yaml_cannot_run_code(tmp_path):
    marker = str(tmp_path / 'PWNED')
    path = str(tmp_path / 'a.yaml')
    open(path,
         'w').write(f'!!python/object/apply:builtins.open ["{marker}", "w"]\n')
    with pytest.raises(AssignmentError, match='not a valid assignment'):
        build(tiny_cakes_cfg(assignment=path))
    assert not osp.exists(marker)


def _non_checkpoints(tmp_path):
    files = {}
    files['text'] = str(tmp_path / 'notes.pth')
    open(files['text'], 'w').write('these are not weights\n')
    files['random'] = str(tmp_path / 'random.pth')
    open(files['random'], 'wb').write(os.urandom(4096))
    files['empty'] = str(tmp_path / 'empty.pth')
    open(files['empty'], 'wb').close()
    files['truncated'] = str(tmp_path / 'cut.pth')
    torch.save({'state_dict': {'w': torch.rand(4096)}}, files['truncated'])
    truncate_file(files['truncated'], 0.5)
    files['other_zip'] = str(tmp_path / 'archive.pth')
    with zipfile.ZipFile(files['other_zip'], 'w') as z:
        z.writestr('readme.txt', 'hello')
    files['assignment'] = osp.join(REPO, 'cakes_mmaction', 'presets',
                                   'cakes12d_p.json')
    return files


def test_non_checkpoints_give_one_message_naming_the_file(tmp_path):
    model = torch.nn.Linear(2, 2)
    for kind, path in _non_checkpoints(tmp_path).items():
        with pytest.raises(UnsafeCheckpointError) as info:
            load_checkpoint(model, path)
        message = str(info.value)
        assert message.startswith(f'{path}: not a checkpoint'), kind
        assert 'expected a torch/mmengine checkpoint' in message
        assert '\n' not in message, kind
        if kind == 'empty':
            assert 'the file is empty' in message
        if kind == 'truncated':
            assert 'the file is truncated' in message


def _save(model, path):
    torch.save({'state_dict': model.state_dict(), 'meta': {}}, path)
    return path


def test_checkpoint_of_another_model_is_refused_by_the_runner(tmp_path):
    other = _save(build(tiny_cakes_cfg()), str(tmp_path / 'cakes.pth'))
    cfg = toy_config(str(tmp_path / 'w'), max_epochs=1)
    cfg.load_from = other
    with pytest.raises(CheckpointMismatchError) as info:
        Runner.from_cfg(cfg).train()
    message = str(info.value)
    assert message.startswith(f'{other}: not a checkpoint of this model')
    assert "'fc1.weight'" in message  # what the model expects
    assert "'backbone.conv1.conv.weight'" in message  # what the file holds


def test_resume_from_another_model_is_refused(tmp_path):
    work = str(tmp_path / 'w')
    Runner.from_cfg(toy_config(work, max_epochs=1, ballast=8)).train()
    cfg = toy_config(work, max_epochs=2, ballast=16)
    cfg.resume = True
    with pytest.raises(CheckpointMismatchError, match='cannot be resumed'):
        Runner.from_cfg(cfg).train()


def test_checkpoint_of_another_assignment_gives_the_cakes_message(tmp_path):
    path = _save(build(tiny_cakes_cfg()), str(tmp_path / 'a.pth'))
    model = build(tiny_cakes_cfg(dict(uniform=['1x3x3', '3x1x1'])))
    with pytest.raises(AssignmentError) as info:
        load_checkpoint(model, path)
    message = str(info.value)
    assert 'another channel assignment' in message
    assert "layer 'backbone.layer1.0.conv1'" in message
    assert "'3x3x3': 4" in message and "'3x1x1': 4" in message


# -- every loading path of the project uses the safe loader ------------------
_UNSAFE = [
    (re.compile(r'\btorch\.load\('), 'weights_only=True'),
    (re.compile(r'\bpickle\.loads?\('), None),
    (re.compile(r'\byaml\.load\('), 'SafeLoader'),
    (re.compile(r'\b(?:yaml\.)?unsafe_load\('), None),
    (re.compile(r'allow_pickle\s*=\s*True'), None),
]


def test_no_unsafe_deserialisation_in_the_project():
    """A new torch.load / pickle.load in the code base fails this test."""
    offenders = []
    for top in ('cakes_mmaction', 'tools'):
        for root, _, names in os.walk(osp.join(REPO, top)):
            for name in names:
                if not name.endswith('.py'):
                    continue
                path = osp.join(root, name)
                text = open(path, encoding='utf-8').read()
                for pattern, needed in _UNSAFE:
                    for match in pattern.finditer(text):
                        call = text[match.start():match.start() + 300]
                        call = call[:call.find(')\n') + 1 or None]
                        if needed is None or needed not in call:
                            line = text.count('\n', 0, match.start()) + 1
                            offenders.append(
                                f'{osp.relpath(path, REPO)}:{line}')
    assert offenders == [], (
        'use cakes_mmaction.checkpoints.safe_load.safe_torch_load (or '
        f'weights_only=True) instead: {offenders}')


def test_scan_catches_an_unsafe_call():
    pattern, needed = _UNSAFE[0]
    text = 'x = torch.load(path, map_location="cpu")\n'
    assert pattern.search(text) and needed not in text
    buffer = io.StringIO('torch.load(f, weights_only=True)\n').read()
    assert needed in buffer
