"""Transforms of the shipped configs: segment sampling, the class-name flip
and the decoders that name a missing, empty, truncated or corrupt file."""
import os
import os.path as osp
import shutil

import numpy as np
import pytest
from mmaction.datasets.transforms import SampleFrames
from mmaction.registry import TRANSFORMS
from mmengine.dataset import Compose

from cakes_mmaction.harness.datasets import (SampleDecodeError,
                                             flip_label_map_from_names)
from cakes_mmaction.harness.media import mp4_boxes
from cakes_mmaction.harness.synthetic import generate_synthetic_dataset

# A made-up class list in SthV1's wording, in an order of its own.
NAMES = [
    'Pushing something from left to right',
    'Turning the camera right while filming something',
    'Holding something',
    'Pushing something from right to left',
    'Turning the camera left while filming something',
    'Moving something left and something else right',
    'Moving something right and something else left',
]


@pytest.fixture(scope='module')
def data(tmp_path_factory):
    return generate_synthetic_dataset(
        str(tmp_path_factory.mktemp('syn')), num_per_class=1, size=32,
        num_frames=8, num_pairs=1)


def test_flip_map_from_names():
    assert flip_label_map_from_names(NAMES) == {
        0: 3, 3: 0, 1: 4, 4: 1, 5: 6, 6: 5
    }


def test_flip_map_case_and_word_boundaries():
    names = ['Left turn', 'Right turn', 'leftover', 'rotating clockwise',
             'rotating anticlockwise']
    assert flip_label_map_from_names(names) == {0: 1, 1: 0}
    assert flip_label_map_from_names(
        names, [('left', 'right'), ('clockwise', 'anticlockwise')]) == {
            0: 1, 1: 0, 3: 4, 4: 3}


def test_flip_without_twin_names_the_file(tmp_path):
    path = tmp_path / 'classes.txt'
    path.write_text('\n'.join(NAMES[:3]) + '\n')
    with pytest.raises(ValueError) as err:
        TRANSFORMS.build(dict(type='ClassNameFlip', class_file=str(path)))
    msg = str(err.value)
    assert str(path) in msg and 'Pushing something from right to left' in msg


def test_flip_file_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match='nope.txt'):
        TRANSFORMS.build(
            dict(type='ClassNameFlip', class_file=str(tmp_path / 'nope.txt')))
    path = tmp_path / 'gap.txt'
    path.write_text('a\n\nb\n')
    with pytest.raises(ValueError, match='gap.txt:2'):
        TRANSFORMS.build(dict(type='ClassNameFlip', class_file=str(path)))


def test_class_name_flip_swaps_labels_and_mirrors(tmp_path):
    path = tmp_path / 'classes.txt'
    path.write_text('\n'.join(NAMES) + '\n')
    flip = TRANSFORMS.build(
        dict(type='ClassNameFlip', class_file=str(path), flip_ratio=1.0))
    keep = TRANSFORMS.build(
        dict(type='ClassNameFlip', class_file=str(path), flip_ratio=0.0))
    imgs = [np.arange(12, dtype=np.uint8).reshape(2, 2, 3)]
    for label, mirrored in [(0, 3), (3, 0), (4, 1), (2, 2), (6, 5)]:
        out = flip(dict(imgs=[i.copy() for i in imgs], label=label,
                        modality='RGB', img_shape=(2, 2)))
        assert out['label'] == mirrored
        assert np.array_equal(out['imgs'][0], imgs[0][:, ::-1])
        same = keep(dict(imgs=[i.copy() for i in imgs], label=label,
                         modality='RGB', img_shape=(2, 2)))
        assert same['label'] == label
        assert np.array_equal(same['imgs'][0], imgs[0])


@pytest.mark.parametrize('test_mode', [False, True])
def test_segment_sampling_is_one_clip_of_tsn_frames(test_mode):
    seg = TRANSFORMS.build(
        dict(type='SegmentSampleFrames', num_segments=4, test_mode=test_mode))
    ref = SampleFrames(clip_len=1, frame_interval=1, num_clips=4,
                       test_mode=test_mode)
    np.random.seed(0)
    out = seg(dict(total_frames=20, start_index=1))
    np.random.seed(0)
    expected = ref(dict(total_frames=20, start_index=1))['frame_inds']
    assert np.array_equal(out['frame_inds'], expected)
    assert (out['clip_len'], out['num_clips']) == (4, 1)
    # One frame from each of the 4 segments of 5 frames (1-based).
    assert [(i - 1) // 5 for i in out['frame_inds']] == [0, 1, 2, 3]
    with pytest.raises(ValueError, match='num_segments'):
        TRANSFORMS.build(dict(type='SegmentSampleFrames', clip_len=2))


# ---------------------------------------------------------------- faults
def _compose(steps):
    return Compose([TRANSFORMS.build(step) for step in steps])


def _frames_pipeline():
    return _compose([
        dict(type='SegmentSampleFrames', num_segments=8, test_mode=True),
        dict(type='CheckedRawFrameDecode'),
    ])


def _frame_input(folder):
    return dict(frame_dir=folder, total_frames=8, filename_tmpl='{:05}.jpg',
                start_index=1, modality='RGB')


def _broken_folder(data, tmp_path, name):
    src = osp.join(data.rawframes, 'val_000_00000')
    dst = str(tmp_path / name)
    shutil.copytree(src, dst)
    return dst


def test_good_frames_decode(data):
    out = _frames_pipeline()(
        _frame_input(osp.join(data.rawframes, 'val_000_00000')))
    assert len(out['imgs']) == 8 and out['imgs'][0].shape == (32, 32, 3)


def test_missing_frame_folder(tmp_path):
    folder = str(tmp_path / 'gone')
    with pytest.raises(FileNotFoundError, match=f'{folder}: frame folder'):
        _frames_pipeline()(_frame_input(folder))


@pytest.mark.parametrize('fault, frame, error, words', [
    ('missing', 3, FileNotFoundError, 'not found'),
    ('empty', 2, SampleDecodeError, 'empty'),
    ('truncated', 5, SampleDecodeError, 'truncated JPEG'),
    ('corrupt', 4, SampleDecodeError, 'cannot decode'),
])
def test_bad_frame_is_named(data, tmp_path, fault, frame, error, words):
    folder = _broken_folder(data, tmp_path, fault)
    path = osp.join(folder, f'{frame:05d}.jpg')
    content = open(path, 'rb').read()
    if fault == 'missing':
        os.remove(path)
    elif fault == 'empty':
        open(path, 'wb').close()
    elif fault == 'truncated':
        open(path, 'wb').write(content[:len(content) // 2])
    else:  # garbage that still starts and ends like a JPEG
        open(path, 'wb').write(b'\xff\xd8' + bytes(range(256)) * 2 +
                               b'\xff\xd9')
    with pytest.raises(error) as err:
        _frames_pipeline()(_frame_input(folder))
    assert path in str(err.value) and words in str(err.value)


def _video_pipeline():
    return _compose([
        dict(type='CheckedDecordInit'),
        dict(type='SampleFrames', clip_len=8, num_clips=1, test_mode=True),
        dict(type='CheckedDecordDecode'),
    ])


def test_good_video_decodes(data):
    out = _video_pipeline()(dict(
        filename=osp.join(data.videos, 'val_000_00000.mp4'), start_index=0,
        modality='RGB'))
    assert len(out['imgs']) == 8 and out['imgs'][0].shape == (32, 32, 3)


@pytest.mark.parametrize('fault, error, words', [
    ('missing', FileNotFoundError, 'video file not found'),
    ('empty', SampleDecodeError, 'empty video'),
    ('truncated', SampleDecodeError, 'truncated MP4'),
    ('corrupt', SampleDecodeError, 'not an MP4/MOV container'),
    ('undecodable', SampleDecodeError, 'cannot open'),
])
def test_bad_video_is_named(data, tmp_path, fault, error, words):
    good = open(osp.join(data.videos, 'val_000_00000.mp4'), 'rb').read()
    path = str(tmp_path / f'{fault}.mp4')
    if fault == 'empty':
        open(path, 'wb').close()
    elif fault == 'truncated':
        open(path, 'wb').write(good[:len(good) // 2])
    elif fault == 'corrupt':
        rng = np.random.default_rng(0)
        open(path, 'wb').write(rng.integers(0, 256, len(good),
                                            dtype=np.uint8).tobytes())
    elif fault == 'undecodable':  # whole boxes, a zeroed index inside
        data = bytearray(good)
        boxes = mp4_boxes(lambda pos, n: good[pos:pos + n], 0, len(good))
        at, size = next((pos, size) for pos, size, kind in boxes
                        if kind == b'moov')
        data[at + 8:at + size] = bytes(size - 8)
        open(path, 'wb').write(bytes(data))
    with pytest.raises(error) as err:
        _video_pipeline()(dict(filename=path, start_index=0, modality='RGB'))
    assert path in str(err.value) and words in str(err.value)


def test_decode_failure_is_named(data):
    # A reader that fails while decoding (not while opening).
    class Broken:
        def get_batch(self, inds):
            raise RuntimeError('decoder exploded')

    decode = TRANSFORMS.build(dict(type='CheckedDecordDecode'))
    with pytest.raises(SampleDecodeError, match=r'clip\.mp4: decord cannot'
                       r' decode frames \[0, 1\] of 2'):
        decode(dict(video_reader=Broken(), frame_inds=np.array([0, 1]),
                    total_frames=2, filename='clip.mp4'))
