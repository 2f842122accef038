"""One class-name file per dataset: handed to the flip, checked against
num_classes, logged; unpaired handedness words are warned about."""
import logging

import pytest
from mmaction.registry import DATASETS, TRANSFORMS
from mmengine.config import Config
from mmengine.logging import MMLogger
from mmengine.registry import init_default_scope

from cakes_mmaction.harness.datasets import AnnotationError
from cakes_mmaction.harness.datasets.class_names import class_file_problems
from cakes_mmaction.harness.datasets.transforms import \
    unpaired_handedness_words
from cakes_mmaction.harness.engine.validate import (ConfigValidationError,
                                                    validate_config)
from cakes_mmaction.harness.synthetic import generate_synthetic_dataset


@pytest.fixture(scope='module')
def data(tmp_path_factory):
    init_default_scope('mmaction')
    # pairs: left/right, up/down, growing/shrinking, clockwise/anticlockwise
    return generate_synthetic_dataset(
        str(tmp_path_factory.mktemp('syn')), num_per_class=1, size=32,
        num_frames=8, num_pairs=4, formats=('rawframes', ))


class _Capture(logging.Handler):

    def __init__(self):
        super().__init__()
        self.records = []

    def emit(self, record):
        self.records.append(record)


@pytest.fixture
def log():
    logger = MMLogger.get_current_instance()
    handler = _Capture()
    logger.addHandler(handler)
    yield handler.records
    logger.removeHandler(handler)


def _dataset(data, **kwargs):
    cfg = dict(
        type='RobustRawframeDataset',
        ann_file=data.rawframe_list('train'),
        data_prefix=dict(img=data.rawframes),
        filename_tmpl='{:05}.jpg',
        start_index=1,
        pipeline=[dict(type='ClassNameFlip', flip_ratio=1.0)],
        num_classes=data.num_classes)
    cfg.update(kwargs)
    return DATASETS.build(cfg)


def test_the_dataset_gives_its_class_names_to_the_flip(data, log):
    dataset = _dataset(data, class_file=data.class_file)
    flip = dataset.pipeline.transforms[0]
    # left/right swapped by the default pair; clockwise is not
    assert flip.flip_label_map == {0: 1, 1: 0}
    assert dataset.metainfo['classes'][0] == (
        'moving something from left to right')
    text = '\n'.join(r.getMessage() for r in log)
    assert ("1 pair(s) of 8 classes swapped: 0 'moving something from left "
            "to right' <-> 1 'moving something from right to left'") in text
    warnings = [r.getMessage() for r in log if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "6 'rotating something clockwise': ['clockwise']" in warnings[0]
    assert "7 'rotating something anticlockwise'" in warnings[0]
    # with the pair, both are swapped and nothing is warned about
    log.clear()
    dataset = _dataset(
        data,
        class_file=data.class_file,
        pipeline=[
            dict(
                type='ClassNameFlip',
                swap_words=[('left', 'right'),
                            ('clockwise', 'anticlockwise')])
        ])
    assert dataset.pipeline.transforms[0].flip_label_map == {
        0: 1, 1: 0, 6: 7, 7: 6}
    assert not [r for r in log if r.levelno == logging.WARNING]


def test_handedness_words():
    names = ['turning counter-clockwise', 'turning clockwise', 'leftover',
             'moving leftwards', 'Left hand']
    assert unpaired_handedness_words(names) == {
        0: ['counter-clockwise'], 1: ['clockwise'], 3: ['leftwards']}


def test_a_class_file_of_another_length_is_an_error(data, tmp_path):
    short = tmp_path / 'classes.txt'
    short.write_text('a\nb\n')
    with pytest.raises(AnnotationError,
                       match=r'classes.txt: 2 class names, but num_classes '
                       r'is 8'):
        _dataset(data, class_file=str(short), pipeline=[])


def test_a_flip_without_names_is_an_error(data):
    with pytest.raises(ValueError, match='needs class names'):
        _dataset(data)
    flip = TRANSFORMS.build(dict(type='ClassNameFlip'))
    with pytest.raises(RuntimeError, match='has no class names'):
        flip(dict(imgs=[], label=0))


def test_the_step_class_file_key_still_works(data, log):
    dataset = _dataset(
        data,
        pipeline=[dict(type='ClassNameFlip', class_file=data.class_file)])
    assert dataset.pipeline.transforms[0].flip_label_map == {0: 1, 1: 0}


def test_config_validation_names_class_problems(data, tmp_path):
    dataset = dict(
        type='RobustRawframeDataset',
        ann_file=data.rawframe_list('train'),
        data_prefix=dict(img=data.rawframes),
        num_classes=8,
        pipeline=[dict(type='A'), dict(type='ClassNameFlip')])
    assert class_file_problems('train', dataset, 8) == [
        'train_dataloader.dataset.pipeline.1 (ClassNameFlip) has no class '
        'names: set train_dataloader.dataset.class_file'
    ]
    short = tmp_path / 'short.txt'
    short.write_text('a\n')
    problems = class_file_problems(
        'train', dict(dataset, class_file=str(short)), 174)
    assert problems[0].startswith(
        'train_dataloader.dataset.num_classes=8 but '
        'model.cls_head.num_classes=174')
    assert problems[1] == (f'train_dataloader.dataset.class_file: {short}: 1 '
                           'class names, but num_classes is 8 (one name per '
                           'class, line number = label)')
    # the whole config check reports them before anything is built
    cfg = Config(
        dict(
            model=dict(type='Recognizer3D'),
            train_dataloader=dict(
                batch_size=1,
                dataset=dict(dataset, class_file=str(tmp_path / 'no.txt')))))
    with pytest.raises(ConfigValidationError,
                       match='class_file: .*no.txt: class-name file not '
                       'found'):
        validate_config(cfg, build_model=False, check_checkpoint=False)
