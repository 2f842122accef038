"""A bad video never kills a process: every container decord reads.

decord segfaults when a cut AVI is decoded from memory, which is what
mmaction2's ``DecordInit`` does; the checked decoder decodes local files by
path after walking the container (MP4 boxes, AVI RIFF chunks, Matroska/WebM
elements), so a cut file is a named, skippable error in the demo, in
training with DataLoader workers and in testing.
"""
import json
import os
import os.path as osp
import shutil
import signal
import subprocess
import sys

import pytest
import torch
from mmaction.registry import TRANSFORMS
from mmcv.transforms import BaseTransform
from mmengine.config import Config

from cakes_mmaction.harness.apis import build_test_cfg, build_train_cfg
from cakes_mmaction.harness.apis import test as run_test
from cakes_mmaction.harness.apis import train
from cakes_mmaction.harness.datasets.faults import DataFaultError
from cakes_mmaction.harness.datasets.transforms import (CheckedDecordInit,
                                                        SampleDecodeError)
from cakes_mmaction.harness.media import (check_video_file, probe_video,
                                          video_bytes_problem)
from cakes_mmaction.harness.synthetic import generate_synthetic_dataset
from tests.helpers.media import truncate_file, write_video

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DEMO = osp.join(ROOT, 'configs/demo/cakes_tiny_synthetic.py')

# (file name, fourcc, what the message says)
CONTAINERS = [
    ('mjpg.avi', 'MJPG', 'truncated AVI'),
    ('xvid.avi', 'XVID', 'truncated AVI'),
    ('mjpg.mkv', 'MJPG', 'truncated Matroska/WebM'),
    ('vp8.webm', 'VP80', 'truncated Matroska/WebM'),
    ('mpeg4.mp4', 'mp4v', 'truncated MP4'),
]


def _write(folder, name, fourcc, frames=16, cut=None):
    path = osp.join(str(folder), name)
    write_video(path, frames, size=(32, 32), fourcc=fourcc)
    if cut is not None:
        truncate_file(path, cut)
    return path


@pytest.fixture(scope='module')
def videos(tmp_path_factory):
    folder = tmp_path_factory.mktemp('containers')
    made = {}
    for name, fourcc, words in CONTAINERS:
        try:
            good = _write(folder, 'good_' + name, fourcc)
        except OSError:  # a writer this OpenCV build lacks
            continue
        made[name] = (good, _write(folder, 'cut_' + name, fourcc, cut=0.5),
                      words)
    assert {'mjpg.avi', 'mjpg.mkv', 'mpeg4.mp4'} <= set(made)
    return made


_CRASH = """
import io, sys
import decord
data = open(sys.argv[1], 'rb').read()
reader = decord.VideoReader(io.BytesIO(data), num_threads=1)
reader.get_batch(list(range(len(reader)))).asnumpy()
"""


def test_decord_from_memory_crashes_on_a_cut_avi(videos):
    # The hazard itself, as mmaction2's DecordInit meets it: a segfault,
    # no exception, no file name (kept here so that a fixed decord shows).
    cut = videos['mjpg.avi'][1]
    proc = subprocess.run([sys.executable, '-c', _CRASH, cut],
                          capture_output=True,
                          timeout=120)
    assert proc.returncode == -signal.SIGSEGV


@pytest.mark.parametrize('name', [c[0] for c in CONTAINERS])
def test_every_cut_container_is_named(videos, name):
    if name not in videos:
        pytest.skip(f'OpenCV cannot write {name} here')
    good, cut, words = videos[name]
    assert check_video_file(good) is None
    with open(good, 'rb') as f:
        assert video_bytes_problem(f.read(), good) is None
    reason = check_video_file(cut)
    assert reason is not None and reason.startswith(words)
    assert 'cut short' in reason
    with open(cut, 'rb') as f:
        assert video_bytes_problem(f.read(), cut) == reason
    # The checker reports it too, as truncated.
    assert probe_video(cut)[1] == reason
    # The checked decoder opens the good file by path and names the cut
    # one, in this process (it would have crashed from memory).
    decoder = CheckedDecordInit()
    assert decoder(dict(filename=good))['total_frames'] == 16
    with pytest.raises(SampleDecodeError) as info:
        decoder(dict(filename=cut))
    assert info.value.path == cut and words in str(info.value)


def _model_checkpoint(cfg, path):
    from mmaction.registry import MODELS
    model = MODELS.build(cfg.model)
    torch.save(dict(state_dict=model.state_dict(), meta=dict()), path)
    return path


_DEMO = """
import sys
import cakes_mmaction
from cakes_mmaction.harness.apis.inference import recognize_video
try:
    recognize_video(sys.argv[1], sys.argv[2], sys.argv[3])
except Exception as err:
    print(f'{type(err).__name__}: {err}')
    sys.exit(3)
"""


def test_demo_names_a_cut_avi_and_exits_normally(videos, tmp_path):
    cfg = Config.fromfile(DEMO)
    ckpt = _model_checkpoint(cfg, str(tmp_path / 'model.pth'))
    cut = videos['mjpg.avi'][1]
    proc = subprocess.run([sys.executable, '-c', _DEMO, cut, DEMO, ckpt],
                          capture_output=True,
                          text=True,
                          cwd=ROOT,
                          timeout=300)
    assert proc.returncode == 3, proc.stderr[-2000:]
    assert cut in proc.stdout and 'truncated AVI' in proc.stdout


def _video_pipeline(test_mode):
    return [
        dict(type='CheckedDecordInit'),
        dict(
            type='SegmentSampleFrames', num_segments=8, test_mode=test_mode),
        dict(type='CheckedDecordDecode'),
        dict(type='FormatShape', input_format='NCTHW'),
        dict(type='PackActionInputs')
    ]


def test_train_skips_and_test_names_a_cut_avi_with_two_workers(
        videos, tmp_path):
    data = generate_synthetic_dataset(
        str(tmp_path / 'syn'),
        num_per_class=2,
        size=32,
        num_pairs=1,
        formats=('videos', ))
    cut = videos['mjpg.avi'][1]
    for split in ('train', 'val'):
        with open(data.video_list(split), 'a') as f:
            f.write(f'{cut} 0\n')

    def options():  # merging consumes _delete_: a fresh dict each time
        return _video_options(data)

    work_dir = str(tmp_path / 'work')
    runner = train(
        build_train_cfg(
            DEMO, work_dir=work_dir, no_validate=True, cfg_options=options()))
    assert runner.epoch == 1
    with open(osp.join(work_dir, 'skipped_samples.json')) as f:
        summary = json.load(f)[0]
    assert summary['skipped'] == 1
    sample = summary['samples'][0]
    assert sample['media'] == cut and sample['file'] == cut
    assert sample['reason'].startswith('truncated AVI')
    # Testing never skips: the run stops naming the file, in the workers'
    # parent, instead of "DataLoader worker killed by signal".
    with pytest.raises(DataFaultError) as info:
        run_test(
            build_test_cfg(
                DEMO,
                osp.join(work_dir, 'epoch_1.pth'),
                work_dir=work_dir,
                cfg_options=options()))
    assert cut in str(info.value) and 'truncated AVI' in str(info.value)


def _video_options(data):
    options = {}
    for split in ('train', 'val', 'test'):
        options[f'{split}_dataloader'] = dict(
            num_workers=2,
            persistent_workers=False,
            batch_size=2,
            dataset=dict(
                _delete_=True,
                type='RobustVideoDataset',
                ann_file=data.video_list('train' if split == 'train' else
                                         'val'),
                data_prefix=dict(video=data.videos),
                pipeline=_video_pipeline(split != 'train'),
                num_classes=data.num_classes,
                test_mode=split != 'train'))
    options['train_dataloader']['dataset'].update(
        on_error='skip', max_skips=3, max_skip_ratio=None)
    options.update({
        'model.cls_head.num_classes': data.num_classes,
        'train_cfg.max_epochs': 1,
        'default_hooks.checkpoint.interval': 1,
        'log_level': 'WARNING',
    })
    return options


@TRANSFORMS.register_module(force=True)
class SegfaultOn(BaseTransform):
    """Crash the process (SIGSEGV) on one file, as a decoder bug does."""

    def __init__(self, name: str) -> None:
        self.name = name

    def transform(self, results: dict) -> dict:
        if results['filename'].endswith(self.name):
            os.kill(os.getpid(), signal.SIGSEGV)
        return results


def test_a_worker_killed_by_a_decoder_crash_is_named(tmp_path):
    # Defence in depth: should a decoder still crash on some file, the
    # run stops naming the sample the dead worker was loading.
    data = generate_synthetic_dataset(
        str(tmp_path / 'syn'),
        num_per_class=2,
        size=32,
        num_pairs=1,
        formats=('videos', ))
    first = open(data.video_list('train')).read().split()[0]
    crash = osp.join(data.videos, 'crash.mp4')
    shutil.copy(osp.join(data.videos, first), crash)
    with open(data.video_list('train'), 'a') as f:
        f.write('crash.mp4 0\n')
    options = _video_options(data)
    options['train_dataloader']['dataset']['pipeline'].insert(
        0, dict(type='SegfaultOn', name='crash.mp4'))
    with pytest.raises(DataFaultError) as info:
        train(
            build_train_cfg(
                DEMO,
                work_dir=str(tmp_path / 'work'),
                no_validate=True,
                cfg_options=options))
    message = str(info.value)
    assert 'DataLoader worker' in message
    assert f'sample 4: {crash}' in message
    assert info.value.path == crash
