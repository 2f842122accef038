"""One true message when a checkpoint does not fit: another class count,
another architecture, a refused pickle; before any data is decoded."""
import os
import os.path as osp
import pickle

import pytest
import torch
from mmaction.registry import MODELS
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmengine.runner import load_checkpoint

from cakes_mmaction.assignment import AssignmentError
from cakes_mmaction.checkpoints.fit import load_checked_checkpoint
from cakes_mmaction.checkpoints.safe_load import (UnsafeCheckpointError,
                                                  safe_torch_load)
from cakes_mmaction.deployment import build_recognizer
from cakes_mmaction.harness.apis import build_test_cfg
from cakes_mmaction.harness.apis import test as run_test
from cakes_mmaction.harness.apis.inference import (load_recognizer,
                                                   recognize_video)
from cakes_mmaction.harness.engine import (CheckpointMismatchError,
                                           ConfigValidationError)

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DEMO = osp.join(REPO, 'configs/demo/cakes_tiny_synthetic.py')


def _demo_cfg(**changes):
    cfg = Config.fromfile(DEMO)
    cfg.merge_from_dict(changes)
    return cfg


def _save(cfg, path):
    with DefaultScope.overwrite_default_scope('mmaction'):
        model = MODELS.build(cfg.model)
    torch.save(dict(state_dict=model.state_dict(), meta={}), path)
    return path


@pytest.fixture(scope='module')
def ten_classes(tmp_path_factory):
    folder = tmp_path_factory.mktemp('ckpt')
    return _save(_demo_cfg(), str(folder / 'ten.pth'))


def test_test_refuses_another_class_count_before_reading_data(
        ten_classes, tmp_path):
    # The test list does not exist: any attempt to read data would fail
    # with another error.
    options = {
        'model.cls_head.num_classes': 12,
        'test_dataloader.dataset.ann_file': str(tmp_path / 'absent.txt'),
    }
    with pytest.raises(ConfigValidationError) as info:
        run_test(
            build_test_cfg(
                DEMO,
                ten_classes,
                work_dir=str(tmp_path),
                cfg_options=options))
    message = str(info.value)
    assert len(info.value.problems) == 1
    assert ten_classes in message and DEMO in message
    assert "classifier has 10 classes but the model of" in message
    assert 'has 12 (model.cls_head.num_classes)' in message


def test_demo_and_export_refuse_another_class_count(ten_classes, tmp_path):
    cfg = _demo_cfg(**{'model.cls_head.num_classes': 12})
    with pytest.raises(CheckpointMismatchError) as info:
        load_recognizer(cfg, ten_classes)
    assert 'has 10 classes' in str(info.value)
    assert 'has 12' in str(info.value) and DEMO in str(info.value)
    # recognize_video checks before it looks at the video (absent here is
    # not reached: the video is only decoded after the model loaded).
    video = str(tmp_path / 'clip.mp4')
    open(video, 'wb').write(b'not decoded')
    with pytest.raises(CheckpointMismatchError, match='has 10 classes'):
        recognize_video(video, cfg, ten_classes)
    with pytest.raises(CheckpointMismatchError, match='has 10 classes'):
        build_recognizer(cfg, ten_classes)


def test_load_from_with_another_class_count_is_fine_tuning(
        ten_classes, monkeypatch):
    # Training from a checkpoint of another class count is what load_from
    # is for: not an error, but one line that says the head is new.
    from cakes_mmaction.harness.engine.hooks import \
        atomic_checkpoint_hook as module
    logged = []
    monkeypatch.setattr(module, 'print_log',
                        lambda msg, **kwargs: logged.append(msg))
    cfg = _demo_cfg(**{'model.cls_head.num_classes': 4})
    with DefaultScope.overwrite_default_scope('mmaction'):
        model = MODELS.build(cfg.model)
    module.AtomicCheckpointHook._note_new_head(
        model, safe_torch_load(ten_classes), ten_classes, DEMO)
    assert len(logged) == 1
    assert logged[0].startswith(f'load_from {ten_classes}: its classifier '
                                f'has 10 classes, the model of {DEMO} has 4')


def test_a_bigger_network_says_the_architecture_differs(tmp_path):
    big = _save(
        _demo_cfg(**{'model.backbone.base_channels': 32,
                     'model.cls_head.in_channels': 128}),
        str(tmp_path / 'big.pth'))
    cfg = _demo_cfg()
    for load in (lambda: load_recognizer(cfg, big),
                 lambda: build_recognizer(cfg, big)):
        with pytest.raises(CheckpointMismatchError) as info:
            load()
        message = str(info.value)
        assert big in message and DEMO in message
        assert 'another architecture' in message
        assert 'channel assignment' not in message
    # Loading past the check (mmengine's own loader) reaches the CAKES
    # layer, which says the same.
    with DefaultScope.overwrite_default_scope('mmaction'):
        model = MODELS.build(cfg.model)
    with pytest.raises(AssignmentError, match='another architecture'):
        load_checkpoint(model, big, map_location='cpu')


def test_another_assignment_still_says_assignment(tmp_path):
    other = _save(
        _demo_cfg(**{
            'model.backbone.assignment':
            dict(_delete_=True, uniform=['1x3x3', '3x1x1'])
        }), str(tmp_path / 'other.pth'))
    cfg = _demo_cfg()
    with DefaultScope.overwrite_default_scope('mmaction'):
        model = MODELS.build(cfg.model)
    with pytest.raises(AssignmentError, match='another channel assignment'):
        load_checked_checkpoint(model, other, DEMO)


class _Payload:

    def __reduce__(self):
        return (os.system, ('true', ))


@pytest.mark.parametrize('legacy', [False, True])
def test_refused_pickle_names_the_global_not_torch_advice(tmp_path, legacy):
    path = str(tmp_path / 'evil.pth')
    state = dict(state_dict={'w': torch.zeros(1)}, meta=_Payload())
    if legacy:  # a plain pickle (no tensor: torch's are refused first)
        with open(path, 'wb') as f:
            pickle.dump(dict(meta=_Payload()), f, protocol=2)
    else:
        torch.save(state, path)
    for load in (lambda: safe_torch_load(path),
                 lambda: load_checkpoint(torch.nn.Linear(1, 1), path)):
        with pytest.raises(UnsafeCheckpointError) as info:
            load()
        message = str(info.value)
        assert message.startswith(f'{path}: refused: loading it would call ')
        assert 'system' in message
        assert 'weights_only' not in message
        # The chained torch error (with its advice) is not shown either.
        assert info.value.__cause__ is None
        assert info.value.__suppress_context__
