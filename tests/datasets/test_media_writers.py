"""The one frame/video writer and the one MP4 box walker of the package."""
import struct

import numpy as np
import pytest

from cakes_mmaction.harness.media import (ContainerError, count_frames,
                                          mp4_boxes, mp4_faststart,
                                          video_bytes_problem, write_frames,
                                          write_video)


def _clip(num_frames=4, height=32, width=32):
    rng = np.random.RandomState(0)
    return (rng.rand(num_frames, height, width, 3) * 255).astype(np.uint8)


def _top(data):
    return [(kind, size) for _, size, kind in mp4_boxes(
        lambda pos, n: data[pos:pos + n], 0, len(data))]


def test_write_frames_names_and_counts(tmp_path):
    paths = write_frames(str(tmp_path / 'v'), _clip(), '{:05d}.jpg',
                         start_index=3, quality=80)
    assert [p.rsplit('/', 1)[1] for p in paths] == [
        '00003.jpg', '00004.jpg', '00005.jpg', '00006.jpg']
    assert count_frames(str(tmp_path / 'v'), '{:05d}.jpg') == [3, 4, 5, 6]


def test_write_frames_keeps_rgb_order(tmp_path):
    import cv2
    red = np.zeros((1, 16, 16, 3), np.uint8)
    red[..., 0] = 255
    path = write_frames(str(tmp_path), red, 'f{}.png')[0]
    assert cv2.imread(path)[0, 0].tolist() == [0, 0, 255]  # BGR on disk


@pytest.mark.parametrize('faststart', [False, True])
def test_video_boxes_in_order(tmp_path, faststart):
    path = write_video(str(tmp_path / 'a.mp4'), _clip(), faststart=faststart)
    data = open(path, 'rb').read()
    kinds = [kind for kind, _ in _top(data)]
    assert kinds[0] == b'ftyp'
    first = b'moov' if faststart else b'mdat'
    assert kinds.index(first) < kinds.index(
        b'mdat' if faststart else b'moov')
    assert video_bytes_problem(data, path) is None
    assert sum(size for _, size in _top(data)) == len(data)


def test_faststart_keeps_the_movie_decodable(tmp_path):
    import decord
    path = write_video(str(tmp_path / 'a.mp4'), _clip(6), faststart=False)
    data = open(path, 'rb').read()
    moved = mp4_faststart(data)
    assert len(moved) == len(data) and moved != data
    assert mp4_faststart(moved) == moved
    out = tmp_path / 'b.mp4'
    out.write_bytes(moved)
    reader = decord.VideoReader(str(out), num_threads=1)
    assert reader.get_batch(list(range(6))).asnumpy().shape == (6, 32, 32, 3)


def test_walker_reads_64bit_and_open_ended_sizes():
    ftyp = struct.pack('>I4s', 16, b'ftyp') + b'isom\0\0\0\0'
    big = struct.pack('>I4sQ', 1, b'free', 24) + bytes(8)
    rest = struct.pack('>I4s', 0, b'mdat') + bytes(5)
    assert _top(ftyp + big + rest) == [(b'ftyp', 16), (b'free', 24),
                                       (b'mdat', 13)]


@pytest.mark.parametrize('data,words', [
    (struct.pack('>I4s', 40, b'ftyp') + bytes(8), 'truncated MP4'),
    (struct.pack('>I4s', 4, b'ftyp'), 'corrupt MP4'),
    (struct.pack('>I4s', 1, b'ftyp') + bytes(2), 'header is cut'),
])
def test_walker_names_damage(data, words):
    with pytest.raises(ContainerError, match=words):
        _top(data)


def test_walker_refuses_another_first_box():
    data = struct.pack('>I4s', 8, b'abcd')
    with pytest.raises(ContainerError, match='not an MP4/MOV container'):
        list(mp4_boxes(lambda pos, n: data[pos:pos + n], 0, len(data),
                       first_kinds={b'ftyp'}))
