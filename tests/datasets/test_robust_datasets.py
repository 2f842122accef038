"""RobustRawframeDataset / RobustVideoDataset on broken media of every kind."""
import os
import os.path as osp

import numpy as np
import pytest
import torch
from mmaction.registry import DATASETS
from mmaction.utils import register_all_modules

from cakes_mmaction.harness.datasets import (AnnotationError, DataFaultError,
                                             RobustRawframeDataset,
                                             RobustVideoDataset,
                                             SkipLimitError)
from tests.helpers.media import (truncate_file, write_frames, write_list,
                                 write_video, zero_tail)

register_all_modules(init_default_scope=True)

FRAMES = 8


def frame_pipeline(decoder='RawFrameDecode'):
    return [
        dict(
            type='SampleFrames',
            clip_len=FRAMES,
            frame_interval=1,
            num_clips=1),
        dict(type=decoder),
        dict(type='Resize', scale=(16, 16), keep_ratio=False),
        dict(type='FormatShape', input_format='NCTHW'),
        dict(type='PackActionInputs')
    ]


def video_pipeline(checked=False):
    prefix = 'Checked' if checked else ''
    return [
        dict(type=prefix + 'DecordInit'),
        dict(type='SampleFrames', clip_len=4, frame_interval=1, num_clips=1),
        dict(type=prefix + 'DecordDecode'),
        dict(type='Resize', scale=(16, 16), keep_ratio=False),
        dict(type='FormatShape', input_format='NCTHW'),
        dict(type='PackActionInputs')
    ]


def _frame(root, name, i):
    return osp.join(root, name, f'img_{i:05}.jpg')


# name -> (how to break it, words the error must contain)
BROKEN_FRAMES = {
    'missing_dir': (None, 'frame folder not found'),
    # A gap in the middle is found by the folder check, sampled or not.
    'missing_frame': (lambda r: os.remove(_frame(r, 'missing_frame', 5)),
                      "img_00005.jpg: the list says 8 frames "
                      "(img_00001.jpg .. img_00008.jpg) but 1 in that range "
                      "are missing: ['img_00005.jpg']"),
    'short_folder': (lambda r: os.remove(_frame(r, 'short_folder', 8)),
                     'the list says 8 frames'),
    'long_folder':
    (lambda r: write_frames(osp.join(r, 'long_folder'), 2, start_index=9),
     'frames after img_00008.jpg would never be sampled'),
    'truncated_jpeg':
    (lambda r: truncate_file(_frame(r, 'truncated_jpeg', 3), 0.6),
     'img_00003.jpg: truncated JPEG'),
    'no_eoi_jpeg': (lambda r: truncate_file(
        _frame(r, 'no_eoi_jpeg', 2),
        osp.getsize(_frame(r, 'no_eoi_jpeg', 2)) - 2),
                    'img_00002.jpg: truncated JPEG'),
    'empty_frame': (lambda r: truncate_file(_frame(r, 'empty_frame', 1), 0),
                    'img_00001.jpg: empty frame file'),
    'garbage_frame':
    (lambda r: open(_frame(r, 'garbage_frame', 4), 'wb').write(
        b'not a jpeg at all'), 'img_00004.jpg: not a JPEG file'),
}


@pytest.fixture(scope='module')
def frames_root(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('frames'))
    lines = []
    for i in range(4):
        write_frames(osp.join(root, f'good{i}'), FRAMES, seed=i)
        lines.append(f'good{i} {FRAMES} {i}')
    for k, (name, (breaker, _)) in enumerate(BROKEN_FRAMES.items()):
        if name != 'missing_dir':
            write_frames(osp.join(root, name), FRAMES, seed=10 + k)
            breaker(root)
        lines.append(f'{name} {FRAMES} {4 + k}')
    write_list(osp.join(root, 'list.txt'), lines)
    return root


def build_frames(root, decoder='RawFrameDecode', **kwargs):
    cfg = dict(
        type='RobustRawframeDataset',
        ann_file=osp.join(root, 'list.txt'),
        data_prefix=dict(img=root),
        pipeline=frame_pipeline(decoder),
        num_classes=4 + len(BROKEN_FRAMES))
    cfg.update(kwargs)
    return DATASETS.build(cfg)


def test_good_rawframe_samples_equal_upstream(frames_root):
    ours = build_frames(frames_root)
    upstream = DATASETS.build(
        dict(
            type='RawframeDataset',
            ann_file=osp.join(frames_root, 'list.txt'),
            data_prefix=dict(img=frames_root),
            pipeline=frame_pipeline()))
    for i in range(4):
        a, b = ours[i], upstream[i]
        assert torch.equal(a['inputs'], b['inputs'])
        assert a['data_samples'].gt_label == b['data_samples'].gt_label


# mmaction2's decoder (the dataset checks the bytes) and the checked one
# of the shipped configs (the decoder checks the bytes it reads).
@pytest.mark.parametrize('decoder',
                         ['RawFrameDecode', 'CheckedRawFrameDecode'])
@pytest.mark.parametrize('name', list(BROKEN_FRAMES))
def test_raise_names_list_line_and_file(frames_root, name, decoder):
    dataset = build_frames(frames_root, decoder)
    assert dataset.decoder_checks_bytes == (decoder != 'RawFrameDecode')
    index = 4 + list(BROKEN_FRAMES).index(name)
    with pytest.raises(DataFaultError) as info:
        dataset[index]
    message = str(info.value)
    assert f'list.txt:{index + 1}: sample {index}: ' in message
    assert osp.join(frames_root, name) in message
    assert BROKEN_FRAMES[name][1] in message


def _count_opens(monkeypatch, suffix):
    """Count the opens of files ending with ``suffix``, by path."""
    import builtins
    opened = {}
    real_open = builtins.open

    def counting_open(file, *args, **kwargs):
        if isinstance(file, str) and file.endswith(suffix):
            opened[file] = opened.get(file, 0) + 1
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, 'open', counting_open)
    return opened


@pytest.mark.parametrize('decoder, reads', [('CheckedRawFrameDecode', 1),
                                            ('RawFrameDecode', 2)])
def test_each_frame_is_read_once_with_the_checked_decoder(
        frames_root, monkeypatch, decoder, reads):
    dataset = build_frames(frames_root, decoder)
    dataset.full_init()
    opened = _count_opens(monkeypatch, '.jpg')
    dataset[0]
    # The checked decoder checks the bytes it reads; with mmaction2's
    # decoder the dataset reads each frame's ends before it is decoded.
    assert len(opened) == FRAMES
    assert set(opened.values()) == {reads}


@pytest.mark.parametrize('checked, reads', [(True, 1), (False, 2)])
def test_each_video_is_read_once_with_the_checked_decoder(
        videos_root, monkeypatch, checked, reads):
    dataset = RobustVideoDataset(
        ann_file=osp.join(videos_root, 'list.txt'),
        data_prefix=dict(video=videos_root),
        pipeline=video_pipeline(checked),
        num_classes=2)
    dataset.full_init()
    opened = _count_opens(monkeypatch, '.mp4')
    dataset[0]
    assert opened == {osp.join(videos_root, 'good.mp4'): reads}


def test_upstream_is_fooled_by_cut_jpegs_or_fails_without_a_name(
        tmp_path, monkeypatch):
    """Why the byte checks exist: mmaction2 alone is fooled or unhelpful."""
    root = str(tmp_path)
    paths = write_frames(osp.join(root, 'v'), FRAMES, size=(64, 64))
    truncate_file(paths[2], 0.6)
    write_list(osp.join(root, 'list.txt'), [f'v {FRAMES} 0'])

    def build(kind, backend):
        pipeline = frame_pipeline()
        pipeline[1] = dict(type='RawFrameDecode', decoding_backend=backend)
        pipeline[2] = dict(type='Resize', scale=(64, 64), keep_ratio=False)
        return DATASETS.build(
            dict(
                type=kind,
                ann_file=osp.join(root, 'list.txt'),
                data_prefix=dict(img=root),
                pipeline=pipeline))

    # OpenCV (mmaction2's default decoder) fails without naming the frame.
    with pytest.raises(Exception) as info:
        build('RawframeDataset', 'cv2')[0]
    assert 'img_00003.jpg' not in str(info.value)
    # Pillow in the lenient mode many training scripts switch on fills the
    # missing rows with grey and the clip is trained on silently.
    from PIL import ImageFile
    monkeypatch.setattr(ImageFile, 'LOAD_TRUNCATED_IMAGES', True)
    clip = build('RawframeDataset', 'pillow')[0]['inputs'][0]  # C,T,H,W
    assert clip.shape == (3, FRAMES, 64, 64)
    assert float(clip[:, 2, -8:].float().std()) == 0.0  # flat grey rows
    assert float(clip[:, 1, -8:].float().std()) > 10.0
    with pytest.raises(DataFaultError, match='img_00003.jpg: truncated'):
        build('RobustRawframeDataset', 'pillow')[0]


def test_corrupt_frame_with_intact_markers_is_named(tmp_path):
    root = str(tmp_path)
    paths = write_frames(osp.join(root, 'v'), FRAMES)
    # Keep the JPEG markers but destroy the headers in between: byte checks
    # pass, the decoder returns nothing.
    data = bytearray(open(paths[0], 'rb').read())
    data[2:-2] = bytes(len(data) - 4)
    open(paths[0], 'wb').write(bytes(data))
    write_list(osp.join(root, 'list.txt'), [f'v {FRAMES} 0'])
    dataset = build_frames(root, num_classes=1)
    with pytest.raises(DataFaultError) as info:
        dataset[0]
    assert 'img_00001.jpg' in str(info.value)


def test_annotation_errors_name_every_line(tmp_path):
    root = str(tmp_path)
    write_frames(osp.join(root, 'a'), FRAMES)
    write_list(
        osp.join(root, 'list.txt'), [
            f'a {FRAMES} 0', f'a {FRAMES} 7', '', f'a {FRAMES} x', 'a',
            f'a {FRAMES}', 'a 0 1', f'a {FRAMES} 2'
        ])
    with pytest.raises(AnnotationError) as info:
        build_frames(root, num_classes=3)
    message = str(info.value)
    assert '6 bad line(s)' in message
    for line, words in [(2, 'label 7 is outside [0, 3)'), (3, 'empty line'),
                        (4, "label 'x' is not an integer"),
                        (5, 'got 1 field(s)'), (6, 'no label'),
                        (7, 'total_frames is 0')]:
        assert f'list.txt:{line}: ' in message
        assert words in message
    assert 'list.txt:1:' not in message and 'list.txt:8:' not in message


def _drain(dataset, num_workers):
    loader = torch.utils.data.DataLoader(
        dataset,
        batch_size=1,
        num_workers=num_workers,
        collate_fn=lambda batch: batch[0],
        shuffle=False)
    return [int(s['data_samples'].gt_label) for s in loader]


def test_skip_counts_distinct_bad_samples_across_workers(frames_root):
    np.random.seed(0)
    dataset = build_frames(
        frames_root, on_error='skip', max_skips=20, max_skip_ratio=None)
    labels = _drain(dataset, num_workers=2)
    assert len(labels) == len(dataset)
    # Every sample served is a good one (labels 0..3 are the good folders).
    assert set(labels) <= {0, 1, 2, 3}
    summary = dataset.skip_summary()
    assert summary['skipped'] == len(BROKEN_FRAMES)
    assert summary['events'] >= len(BROKEN_FRAMES)
    assert sorted(s['ann_line'] for s in summary['samples']) == list(
        range(5, 5 + len(BROKEN_FRAMES)))


def test_skip_limit_stops_the_run_naming_the_file(frames_root):
    dataset = build_frames(frames_root, on_error='skip', max_skips=2)
    assert dataset.skip_limit == 0  # 1% of 12 samples wins over 2
    dataset = build_frames(
        frames_root, on_error='skip', max_skips=2, max_skip_ratio=None)
    with pytest.raises(SkipLimitError) as info:
        _drain(dataset, num_workers=0)
    message = str(info.value)
    assert '3 samples of' in message and 'more than the limit of 2' in message
    assert 'check_dataset.py' in message
    assert frames_root in message


def test_test_mode_never_skips(frames_root):
    dataset = build_frames(frames_root, on_error='skip', test_mode=True)
    with pytest.raises(DataFaultError):
        dataset[4]


def test_policy_arguments_are_checked(frames_root):
    with pytest.raises(ValueError, match="on_error must be one of"):
        build_frames(frames_root, on_error='ignore')
    with pytest.raises(ValueError, match='max_skips must be'):
        build_frames(frames_root, max_skips=-1)
    with pytest.raises(ValueError, match='max_skip_ratio must be'):
        build_frames(frames_root, max_skip_ratio=2.0)


@pytest.fixture(scope='module')
def videos_root(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('videos'))
    write_video(osp.join(root, 'good.mp4'), 12)
    write_video(osp.join(root, 'cut.mp4'), 12, seed=1)
    truncate_file(osp.join(root, 'cut.mp4'), 0.6)
    open(osp.join(root, 'empty.mp4'), 'wb').close()
    with open(osp.join(root, 'garbage.mp4'), 'wb') as f:
        f.write(np.random.RandomState(0).bytes(3000))
    write_video(osp.join(root, 'zeros.mp4'), 12, seed=2)
    zero_tail(osp.join(root, 'zeros.mp4'), 0.3)
    with open(osp.join(root, 'junk.avi'), 'wb') as f:
        f.write(np.random.RandomState(1).bytes(3000))
    write_list(
        osp.join(root, 'list.txt'), [
            'good.mp4 0', 'cut.mp4 1', 'empty.mp4 0', 'garbage.mp4 1',
            'absent.mp4 0', 'zeros.mp4 1', 'junk.avi 0'
        ])
    return root


# (index, words with mmaction2's decoders, words with the checked ones)
@pytest.mark.parametrize('checked', [False, True])
@pytest.mark.parametrize('index,words,checked_words', [
    (1, 'truncated MP4', 'truncated MP4'),
    (2, 'empty video file', 'empty video file'),
    (3, 'not an MP4/MOV container', 'not an MP4/MOV container'),
    (4, 'missing video file', 'missing video file'),
    (5, 'DecordDecode failed: DECORDError', 'decord cannot decode frames'),
    (6, 'DecordInit failed', 'decord cannot open this video'),
])
def test_video_faults_name_the_file(videos_root, index, words, checked_words,
                                    checked):
    if checked:
        words = checked_words
    dataset = DATASETS.build(
        dict(
            type='RobustVideoDataset',
            ann_file=osp.join(videos_root, 'list.txt'),
            data_prefix=dict(video=videos_root),
            pipeline=video_pipeline(checked),
            num_classes=2))
    assert dataset[0]['inputs'].shape[2] == 4
    with pytest.raises(DataFaultError) as info:
        dataset[index]
    message = str(info.value)
    assert f'list.txt:{index + 1}: sample {index}: ' in message
    media = [
        'good.mp4', 'cut.mp4', 'empty.mp4', 'garbage.mp4', 'absent.mp4',
        'zeros.mp4', 'junk.avi'
    ][index]
    assert osp.join(videos_root, media) in message
    assert words in message


def test_video_skip_serves_only_good_clips(videos_root):
    dataset = RobustVideoDataset(
        ann_file=osp.join(videos_root, 'list.txt'),
        data_prefix=dict(video=videos_root),
        pipeline=video_pipeline(),
        num_classes=2,
        on_error='skip',
        max_skips=10,
        max_skip_ratio=None)
    np.random.seed(1)
    for i in range(len(dataset)):
        assert dataset[i]['inputs'].shape == (1, 3, 4, 16, 16)
    assert dataset.skip_summary()['skipped'] == 6


def test_direct_construction_matches_registry(frames_root):
    dataset = RobustRawframeDataset(
        ann_file=osp.join(frames_root, 'list.txt'),
        data_prefix=dict(img=frames_root),
        pipeline=frame_pipeline())
    assert len(dataset) == 4 + len(BROKEN_FRAMES)
    assert dataset.get_data_info(0)['ann_line'] == 1
