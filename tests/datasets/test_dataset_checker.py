"""check_dataset() and tools/data/check_dataset.py on generated broken data."""
import json
import os
import os.path as osp
import subprocess
import sys

import pytest
from mmengine.config import Config

from cakes_mmaction.harness.dataset_check.checker import check_dataset
from tests.helpers.media import (truncate_file, write_frames, write_list,
                                 write_video, zero_tail)

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
N = 6


def _frame(root, name, i):
    return osp.join(root, 'frames', name, f'img_{i:05}.jpg')


@pytest.fixture(scope='module')
def data_root(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('checker'))
    frames = osp.join(root, 'frames')
    for k, name in enumerate([
            'good0', 'good1', 'cut', 'noeoi', 'holey', 'short', 'long',
            'empty_dir', 'zero'
    ]):
        write_frames(osp.join(frames, name), N, seed=k)
    truncate_file(_frame(root, 'cut', 2), 0.5)
    path = _frame(root, 'noeoi', 4)
    truncate_file(path, osp.getsize(path) - 2)
    os.remove(_frame(root, 'holey', 3))
    os.remove(_frame(root, 'short', N))
    write_frames(osp.join(frames, 'long'), 2, start_index=N + 1)
    for i in range(1, N + 1):
        os.remove(_frame(root, 'empty_dir', i))
    truncate_file(_frame(root, 'zero', 1), 0)
    write_list(
        osp.join(root, 'train.txt'),
        [
            f'good0 {N} 0',  # 1
            f'good1 {N} 1',  # 2
            f'cut {N} 0',  # 3 corrupt frame
            f'noeoi {N} 1',  # 4 corrupt frame (decodes in OpenCV 4)
            f'holey {N} 0',  # 5 frame count (missing frame)
            f'short {N} 0',  # 6 frame count
            f'long {N} 0',  # 7 frame count (extra frames)
            f'empty_dir {N} 0',  # 8 empty
            f'zero {N} 0',  # 9 corrupt frame (0 bytes)
            f'absent {N} 0',  # 10 missing
            f'good0 {N} 0',  # 11 duplicate
            f'good1 {N} 5',  # 12 label range
            f'good1 {N} zz',  # 13 bad line
        ])
    write_list(osp.join(root, 'val.txt'), [f'good1 {N} 1'])
    videos = osp.join(root, 'videos')
    write_video(osp.join(videos, 'ok.mp4'), 10)
    write_video(osp.join(videos, 'cut.mp4'), 10, seed=1)
    truncate_file(osp.join(videos, 'cut.mp4'), 0.7)
    open(osp.join(videos, 'empty.mp4'), 'wb').close()
    with open(osp.join(videos, 'junk.mp4'), 'wb') as f:
        f.write(b'\x00' * 64 + b'this is no video' * 20)
    write_video(osp.join(videos, 'zeros.mp4'), 10, seed=2)
    zero_tail(osp.join(videos, 'zeros.mp4'), 0.5)
    write_list(
        osp.join(root, 'test.txt'), [
            'ok.mp4 1', 'cut.mp4 0', 'empty.mp4 0', 'junk.mp4 1', 'gone.mp4 0',
            'zeros.mp4 1'
        ])
    return root


def make_config(root):
    pipeline = [dict(type='PackActionInputs')]
    return Config(
        dict(
            model=dict(cls_head=dict(type='I3DHead', num_classes=2)),
            train_dataloader=dict(
                dataset=dict(
                    type='RobustRawframeDataset',
                    data_root=root,
                    ann_file='train.txt',
                    data_prefix=dict(img='frames'),
                    pipeline=pipeline)),
            val_dataloader=dict(
                dataset=dict(
                    type='RawframeDataset',
                    ann_file=osp.join(root, 'val.txt'),
                    data_prefix=dict(img=osp.join(root, 'frames')),
                    pipeline=pipeline,
                    test_mode=True)),
            test_dataloader=dict(
                dataset=dict(
                    type='RepeatDataset',
                    times=2,
                    dataset=dict(
                        type='VideoDataset',
                        ann_file=osp.join(root, 'test.txt'),
                        data_prefix=dict(video=osp.join(root, 'videos')),
                        pipeline=pipeline,
                        test_mode=True)))))


EXPECTED = {
    ('train', 3, 'corrupt_frame'),
    ('train', 4, 'corrupt_frame'),
    ('train', 5, 'frame_count'),
    ('train', 6, 'frame_count'),
    ('train', 7, 'frame_count'),
    ('train', 8, 'empty'),
    ('train', 9, 'corrupt_frame'),
    ('train', 10, 'missing'),
    ('train', 11, 'duplicate'),
    ('train', 12, 'label_range'),
    ('train', 13, 'bad_line'),
    ('val', 1, 'split_overlap'),
    ('test', 2, 'truncated'),
    ('test', 3, 'empty'),
    ('test', 4, 'undecodable'),
    ('test', 5, 'missing'),
    ('test', 6, 'corrupt_video'),
}


@pytest.mark.parametrize('full_decode', [True, False])
def test_every_problem_found_with_its_file(data_root, full_decode):
    report = check_dataset(
        make_config(data_root), full_decode=full_decode, progress=False)
    found = {(p.split, p.line, p.kind) for p in report.problems}
    assert found == EXPECTED
    assert len(report.problems) == len(EXPECTED)
    by_line = {(p.split, p.line): p for p in report.problems}
    assert by_line[('train', 3)].path == _frame(data_root, 'cut', 2)
    assert by_line[('train', 4)].path == _frame(data_root, 'noeoi', 4)
    assert 'img_00003.jpg' in by_line[('train', 5)].detail
    assert 'label 5 is outside [0, 2)' in by_line[('train', 12)].detail
    assert by_line[('test', 2)].path == osp.join(data_root, 'videos',
                                                 'cut.mp4')
    assert 'truncated MP4' in by_line[('test', 2)].detail
    if full_decode:
        assert 'header says 10 frames' in by_line[('test', 6)].detail
    assert not report.ok


def test_clean_config_passes_and_num_classes_override(data_root):
    cfg = make_config(data_root)
    cfg.train_dataloader.dataset.ann_file = osp.join(data_root, 'val.txt')
    cfg.test_dataloader.dataset.dataset.ann_file = osp.join(
        data_root, 'ok.txt')
    write_list(osp.join(data_root, 'ok.txt'), ['ok.mp4 1'])
    report = check_dataset(cfg, splits=['train', 'test'], progress=False)
    assert report.ok, report.summary()
    assert 'No problems found.' in report.summary()
    report = check_dataset(
        cfg, splits=['train'], num_classes=1, progress=False)
    assert [p.kind for p in report.problems] == ['label_range']


def test_parallel_workers_give_the_same_report(data_root):
    serial = check_dataset(make_config(data_root), progress=False)
    parallel = check_dataset(make_config(data_root), workers=2, progress=True)
    assert serial.to_dict() == parallel.to_dict()


def test_cli_exit_status_and_json(data_root, tmp_path):
    cfg_path = str(tmp_path / 'cfg.py')
    make_config(data_root).dump(cfg_path)
    out = str(tmp_path / 'report.json')
    proc = subprocess.run([
        sys.executable, 'tools/data/check_dataset.py', cfg_path, '--split',
        'train', 'test', '--workers', '2', '--json', out, '--quick'
    ],
                          cwd=REPO,
                          capture_output=True,
                          text=True,
                          timeout=300)
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert f'train.txt:10: {osp.join(data_root, "frames", "absent")}' in (
        proc.stdout)
    assert '16 problem(s) found' in proc.stdout
    report = json.load(open(out))
    assert report['ok'] is False
    assert report['counts']['missing'] == 2
    assert {d['split'] for d in report['datasets']} == {'train', 'test'}
