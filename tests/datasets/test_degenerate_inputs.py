"""Empty and degenerate inputs: an empty list, a byte-order mark, a gap in
a frame folder, and what skipped_samples.json says about a skipped frame."""
import os
import os.path as osp

import numpy as np
import pytest
from mmengine.config import Config
from mmengine.registry import DefaultScope

from cakes_mmaction.harness.dataset_check.checker import check_dataset
from cakes_mmaction.harness.datasets import RobustRawframeDataset
from cakes_mmaction.harness.datasets.faults import (AnnotationError,
                                                    DataFaultError)
from cakes_mmaction.harness.engine import (ConfigValidationError,
                                           validate_config)
from tests.helpers.media import truncate_file, write_frames, write_list

PIPELINE = [
    dict(type='SampleFrames', clip_len=2, frame_interval=1, num_clips=1),
    dict(type='CheckedRawFrameDecode'),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs')
]


def _dataset_cfg(root, ann_file, kind='RobustRawframeDataset', **extra):
    return dict(
        type=kind,
        ann_file=ann_file,
        data_prefix=dict(img=root),
        pipeline=PIPELINE,
        **extra)


def _config(root, ann_file, kind='RobustRawframeDataset'):
    return Config(
        dict(
            default_scope='mmaction',
            model=dict(type='ToyRecognizer'),
            train_dataloader=dict(
                batch_size=1,
                num_workers=0,
                dataset=_dataset_cfg(root, ann_file, kind))))


@pytest.fixture(autouse=True)
def mmaction_scope():
    with DefaultScope.overwrite_default_scope('mmaction'):
        yield


@pytest.fixture
def root(tmp_path):
    for i in range(3):
        write_frames(str(tmp_path / f'v{i}'), 8, seed=i)
    return str(tmp_path)


def test_an_empty_list_is_reported_everywhere(root):
    import tests.helpers.toy  # noqa: F401  (ToyRecognizer)
    empty = osp.join(root, 'empty.txt')
    open(empty, 'w').close()
    report = check_dataset(_config(root, empty), progress=False)
    assert not report.ok
    assert report.problems[0].kind == 'empty'
    assert 'has no entries' in str(report.problems[0])
    with pytest.raises(ConfigValidationError) as info:
        validate_config(_config(root, empty), build_model=False)
    assert empty in str(info.value) and 'has no entries' in str(info.value)
    with pytest.raises(AnnotationError, match='has no entries'):
        RobustRawframeDataset(**{
            k: v
            for k, v in _dataset_cfg(root, empty).items() if k != 'type'
        })


def test_a_byte_order_mark_is_dropped_or_reported(root):
    listed = osp.join(root, 'bom.txt')
    with open(listed, 'w', encoding='utf-8-sig') as f:
        f.write('v0 8 0\nv1 8 1\n')
    dataset = RobustRawframeDataset(
        ann_file=listed, data_prefix=dict(img=root), pipeline=PIPELINE)
    assert dataset.get_data_info(0)['frame_dir'] == osp.join(root, 'v0')
    assert dataset[0]['inputs'].shape[2] == 2
    assert check_dataset(_config(root, listed), progress=False).ok
    # mmaction2's own dataset keeps the mark in the path: reported, with
    # the invisible character named, not printed.
    report = check_dataset(
        _config(root, listed, 'RawframeDataset'), progress=False)
    assert [p.kind for p in report.problems] == ['bad_line']
    text = str(report.problems[0])
    assert 'byte-order mark (U+FEFF, invisible)' in text
    assert '\ufeff' not in text


def test_a_gap_in_a_frame_folder_is_found_even_when_not_sampled(root):
    os.remove(osp.join(root, 'v2', 'img_00004.jpg'))
    listed = write_list(osp.join(root, 'gap.txt'), ['v2 8 0'])
    dataset = RobustRawframeDataset(
        ann_file=listed,
        data_prefix=dict(img=root),
        # Samples frames 1-2 only: the gap is never decoded.
        pipeline=[
            dict(
                type='SampleFrames',
                clip_len=2,
                frame_interval=1,
                num_clips=1,
                test_mode=True,
                keep_tail_frames=False),
            *PIPELINE[1:]
        ],
        test_mode=True)
    with pytest.raises(DataFaultError) as info:
        dataset[0]
    assert osp.join(root, 'v2', 'img_00004.jpg') in str(info.value)
    assert "1 in that range are missing: ['img_00004.jpg']" in str(
        info.value)


def test_skipped_samples_name_the_frame_and_the_reason(root):
    truncate_file(osp.join(root, 'v1', 'img_00002.jpg'), 0.5)
    listed = write_list(osp.join(root, 'list.txt'), ['v0 8 0', 'v1 8 1'])
    dataset = RobustRawframeDataset(
        ann_file=listed,
        data_prefix=dict(img=root),
        pipeline=[
            dict(
                type='SampleFrames',
                clip_len=8,
                frame_interval=1,
                num_clips=1,
                test_mode=True), *PIPELINE[1:]
        ],
        on_error='skip',
        max_skips=1,
        max_skip_ratio=None)
    np.random.seed(0)
    assert dataset[1]['inputs'].shape[2] == 8  # v0 served instead
    sample = dataset.skip_summary()['samples'][0]
    assert sample['media'] == osp.join(root, 'v1')
    assert sample['file'] == osp.join(root, 'v1', 'img_00002.jpg')
    assert sample['reason'].startswith('truncated JPEG')
