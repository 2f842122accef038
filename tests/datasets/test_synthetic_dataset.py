"""The synthetic temporal-reasoning dataset: layout, determinism, twins."""
import os
import os.path as osp

import cv2
import numpy as np
import pytest
from mmaction.datasets import RawframeDataset, VideoDataset

from cakes_mmaction.harness.synthetic import (CLASS_PAIRS,
                                              generate_synthetic_dataset,
                                              order_blind_ceiling)
from cakes_mmaction.harness.synthetic.render import render_clip


@pytest.fixture(scope='module')
def data(tmp_path_factory):
    return generate_synthetic_dataset(
        str(tmp_path_factory.mktemp('syn')), num_per_class=2, size=32,
        num_frames=6, seed=3)


def _frames(data, vid, n):
    return np.stack([
        cv2.imread(osp.join(data.rawframes, vid, f'{i:05d}.jpg'))
        for i in range(1, n + 1)
    ])


def test_layout_and_lists(data):
    names = open(data.class_file).read().splitlines()
    assert names == [n for pair in CLASS_PAIRS for n in pair[:2]]
    for split in ('train', 'val'):
        lines = open(data.rawframe_list(split)).read().splitlines()
        assert len(lines) == 2 * len(names)
        labels = sorted(int(line.split()[2]) for line in lines)
        assert labels == sorted(list(range(len(names))) * 2)
        for line in lines:
            vid, num, _ = line.split()
            assert num == '6'
            assert sorted(os.listdir(osp.join(data.rawframes, vid))) == [
                f'{i:05d}.jpg' for i in range(1, 7)
            ]
        video_lines = open(data.video_list(split)).read().splitlines()
        assert [v.split()[0] for v in video_lines] == [
            line.split()[0] + '.mp4' for line in lines]


def test_mmaction_datasets_read_both_layouts(data):
    frames = RawframeDataset(
        data.rawframe_list('train'), pipeline=[],
        data_prefix=dict(img=data.rawframes), filename_tmpl='{:05}.jpg',
        start_index=1)
    videos = VideoDataset(
        data.video_list('train'), pipeline=[],
        data_prefix=dict(video=data.videos))
    assert len(frames) == len(videos) == 2 * data.num_classes
    assert frames[0]['total_frames'] == 6
    assert osp.isfile(videos[0]['filename'])


def test_mp4_decodes_with_decord_like_the_frames(data):
    import decord
    vid = 'val_002_00001'
    reader = decord.VideoReader(osp.join(data.videos, vid + '.mp4'))
    decoded = reader.get_batch(list(range(len(reader)))).asnumpy()
    frames = _frames(data, vid, 6)[..., ::-1]  # BGR -> RGB
    assert decoded.shape == frames.shape == (6, 32, 32, 3)
    # Lossy codecs: close, not equal; a wrong order would be far off.
    err = np.abs(decoded.astype(float) - frames).mean()
    swapped = np.abs(decoded[::-1].astype(float) - frames).mean()
    assert err < 12 and err < swapped


def test_twins_are_exact_time_reversals(data):
    for k in range(len(CLASS_PAIRS)):
        fwd = _frames(data, f'val_{2 * k:03d}_00000', 6)
        rev = _frames(data, f'val_{2 * k + 1:03d}_00000', 6)
        assert np.array_equal(fwd, rev[::-1])
        assert not np.array_equal(fwd, rev)


def test_order_blind_ceiling_is_half(data):
    ceiling, total, groups = order_blind_ceiling(
        data.rawframe_list('val'), data.rawframes)
    assert (ceiling, total, groups) == (0.5, 2 * data.num_classes,
                                        data.num_classes)


def test_order_blind_ceiling_without_twins(tmp_path, data):
    # Keep only the forward videos: each is its own group -> ceiling 1.
    lines = [
        line for line in open(data.rawframe_list('val'))
        if int(line.split()[2]) % 2 == 0
    ]
    ann = tmp_path / 'fwd.txt'
    ann.write_text(''.join(lines))
    assert order_blind_ceiling(str(ann), data.rawframes)[0] == 1.0


def test_deterministic_by_seed(tmp_path, data):
    again = generate_synthetic_dataset(
        str(tmp_path / 'a'), num_per_class=2, size=32, num_frames=6, seed=3,
        formats=('rawframes', ))
    other = generate_synthetic_dataset(
        str(tmp_path / 'b'), num_per_class=2, size=32, num_frames=6, seed=4,
        formats=('rawframes', ))
    vid = 'train_005_00001'
    assert np.array_equal(_frames(data, vid, 6), _frames(again, vid, 6))
    assert not np.array_equal(_frames(data, vid, 6), _frames(other, vid, 6))


@pytest.mark.parametrize('motion, kind', [(p[2], p[3]) for p in CLASS_PAIRS])
def test_each_motion_changes_over_time(motion, kind):
    clip = render_clip(np.random.default_rng(0), motion, kind, 8, 32, 40)
    assert clip.shape == (8, 32, 40, 3) and clip.dtype == np.uint8
    first, last = clip[0].astype(float), clip[-1].astype(float)
    # The change between the ends is well above the pixel noise (<= 10).
    assert np.abs(first - last).max() > 60


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match='splits'):
        generate_synthetic_dataset(str(tmp_path), num_per_class=dict(x=1))
    with pytest.raises(ValueError, match='16x16'):
        generate_synthetic_dataset(str(tmp_path), num_per_class=1, size=8)
