"""AtomicCheckpointHook and checkpoint_io with real mmengine Runners."""
import contextlib
import hashlib
import os
import os.path as osp
import resource
import shutil
import signal
import subprocess

import pytest
import torch
from mmengine.runner import Runner

from cakes_mmaction.checkpoints.safe_load import UnsafeCheckpointError
from cakes_mmaction.harness.engine import (CheckpointWriteError,
                                           atomic_write_bytes,
                                           find_resume_checkpoint,
                                           verify_checkpoint_file)
from cakes_mmaction.harness.engine.hooks.atomic_checkpoint_hook import \
    CheckpointResumeError
from tests.helpers.media import truncate_file
from tests.helpers.toy import toy_config

UPSTREAM = dict(type='CheckpointHook', interval=1)


@contextlib.contextmanager
def file_size_limit(limit):
    """Writes past ``limit`` bytes fail with EFBIG, as on a full disk."""
    old_handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, old_handler)


def train(work_dir,
          epochs,
          checkpoint=None,
          resume=False,
          load_from=None,
          **kwargs):
    cfg = toy_config(
        str(work_dir), max_epochs=epochs, checkpoint=checkpoint, **kwargs)
    cfg.resume = resume
    cfg.load_from = load_from
    runner = Runner.from_cfg(cfg)
    runner.train()
    return runner


def listing(directory):
    out = {}
    for name in sorted(os.listdir(directory)):
        path = osp.join(directory, name)
        if osp.isfile(path):
            out[name] = hashlib.sha256(open(path, 'rb').read()).hexdigest()
    return out


def pointer(work_dir):
    return open(osp.join(work_dir, 'last_checkpoint')).read()


def test_atomic_write_failure_leaves_previous_file(tmp_path):
    path = str(tmp_path / 'x.bin')
    atomic_write_bytes(path, b'old' * 10)
    with file_size_limit(4096):
        with pytest.raises(CheckpointWriteError) as info:
            atomic_write_bytes(path, b'n' * 100000)
    assert path in str(info.value) and 'previous file is intact' in str(
        info.value)
    assert open(path, 'rb').read() == b'old' * 10
    assert os.listdir(tmp_path) == ['x.bin']


@pytest.mark.parametrize('hook,expect_intact', [('AtomicCheckpointHook', True),
                                                ('CheckpointHook', False)])
def test_full_disk_during_save(tmp_path, hook, expect_intact):
    """max_keep_ckpts=1: upstream deletes the old file before writing."""
    work = str(tmp_path)
    ckpt = dict(type=hook, interval=1, max_keep_ckpts=1)
    train(work, 2, ckpt, ballast=200000)
    assert sorted(f for f in os.listdir(work)
                  if f.endswith('.pth')) == ['epoch_2.pth']
    with file_size_limit(300000):
        with pytest.raises(OSError) as info:
            train(work, 3, ckpt, resume=True, ballast=200000)
    epoch2, epoch3 = osp.join(work,
                              'epoch_2.pth'), osp.join(work, 'epoch_3.pth')
    if expect_intact:
        assert epoch3 in str(info.value)
        assert verify_checkpoint_file(epoch2) is None
        assert not osp.exists(epoch3)
        assert pointer(work) == epoch2
        assert not [f for f in os.listdir(work) if f.endswith('.tmp')]
        # ... and the run goes on from epoch 2.
        runner = train(work, 3, ckpt, resume=True, ballast=200000)
        assert runner.epoch == 3 and verify_checkpoint_file(epoch3) is None
    else:
        # Upstream: the only complete checkpoint is gone, a cut one remains.
        assert not osp.exists(epoch2)
        assert 'truncated' in verify_checkpoint_file(epoch3)


def test_resume_skips_truncated_newest_checkpoint(tmp_path, capsys):
    work = str(tmp_path)
    train(work, 3)
    epoch3 = osp.join(work, 'epoch_3.pth')
    truncate_file(epoch3, 0.5)
    assert pointer(work) == epoch3
    # Plain mmengine resume fails on it (with the file named).
    with pytest.raises(UnsafeCheckpointError, match='epoch_3.pth'):
        train(work, 4, UPSTREAM, resume=True)
    runner = train(work, 4, resume=True)
    assert runner.epoch == 4
    out = capsys.readouterr()
    log = out.out + out.err
    assert f'skipping {epoch3} (the last_checkpoint target): truncated' in log
    assert 'resuming from ' + osp.join(work, 'epoch_2.pth') in log
    assert verify_checkpoint_file(epoch3) is None  # rewritten, complete


def test_find_resume_checkpoint_cases(tmp_path):
    work = str(tmp_path)
    train(work, 2)
    e1, e2 = osp.join(work, 'epoch_1.pth'), osp.join(work, 'epoch_2.pth')
    assert find_resume_checkpoint(work)[0] == e2
    # An empty pointer (write interrupted): newest file.
    open(osp.join(work, 'last_checkpoint'), 'w').close()
    path, notes = find_resume_checkpoint(work)
    assert path == e2 and 'is empty' in notes[0]
    # A pointer to epoch 1 but epoch 2 saved later (killed before the
    # pointer update): epoch 2.
    open(osp.join(work, 'last_checkpoint'), 'w').write(e1)
    path, notes = find_resume_checkpoint(work)
    assert path == e2 and 'saved after' in notes[0]
    # Damaged bytes inside the newest: CRC mismatch, fall back.
    data = bytearray(open(e2, 'rb').read())
    data[len(data) // 2] ^= 0xFF
    open(e2, 'wb').write(bytes(data))
    assert 'CRC' in verify_checkpoint_file(e2)
    open(osp.join(work, 'last_checkpoint'), 'w').write(e2)
    assert find_resume_checkpoint(work)[0] == e1
    # Nothing usable: --resume refuses rather than following the pointer to
    # a broken file or silently starting over.
    truncate_file(e1, 0)
    assert find_resume_checkpoint(work)[0] is None
    with pytest.raises(CheckpointResumeError, match='no complete checkpoint'):
        train(work, 3, resume=True)


def test_explicit_resume_of_a_cut_file_is_refused(tmp_path):
    work = str(tmp_path)
    train(work, 2)
    epoch2 = osp.join(work, 'epoch_2.pth')
    truncate_file(epoch2, 0.7)
    with pytest.raises(CheckpointResumeError) as info:
        train(work, 3, resume=True, load_from=epoch2)
    message = str(info.value)
    assert f'cannot resume from {epoch2}: truncated' in message
    assert osp.join(work, 'epoch_1.pth') in message


@pytest.mark.parametrize('hook,original_intact',
                         [('AtomicCheckpointHook', True),
                          ('CheckpointHook', False)])
def test_resuming_a_copied_work_dir_never_touches_the_original(
        tmp_path, hook, original_intact):
    original, copy = str(tmp_path / 'a'), str(tmp_path / 'b')
    ckpt = dict(type=hook, interval=1, save_best='stamp', rule='greater')
    train(original, 2, ckpt)
    assert 'best_stamp_epoch_2.pth' in os.listdir(original)
    before = listing(original)
    shutil.copytree(original, copy)
    train(copy, 3, ckpt, resume=True)
    assert (listing(original) == before) is original_intact
    if original_intact:
        assert 'best_stamp_epoch_2.pth' not in os.listdir(copy)
        assert 'best_stamp_epoch_3.pth' in os.listdir(copy)
        assert pointer(copy) == osp.join(copy, 'epoch_3.pth')
        saved = torch.load(
            osp.join(copy, 'epoch_3.pth'),
            map_location='cpu',
            weights_only=False)
        info = saved['message_hub']['runtime_info']
        assert info['best_ckpt'] == 'best_stamp_epoch_3.pth'
        assert info['last_ckpt'] == 'epoch_3.pth'
    else:  # upstream deletes the best checkpoint of the original dir
        assert 'best_stamp_epoch_2.pth' not in os.listdir(original)


def test_stale_temp_files_are_removed_on_resume(tmp_path):
    work = str(tmp_path)
    train(work, 1)
    stale = osp.join(work, '.epoch_2.pth.0123abcd.tmp')
    open(stale, 'wb').write(b'PK partial')
    train(work, 2, resume=True)
    assert not osp.exists(stale)


def _set_mtimes(folder, newest_first):
    """Give the files adversarial modification times, newest first."""
    for age, name in enumerate(newest_first):
        stamp = 2_000_000_000 - 100 * age
        os.utime(osp.join(folder, name), (stamp, stamp))


def test_resume_from_a_cp_r_copy_follows_the_pointer_not_file_times(
        tmp_path):
    original, copy = str(tmp_path / 'a'), str(tmp_path / 'b')
    train(original, 4)
    subprocess.run(['cp', '-r', original, copy], check=True)
    epoch4 = osp.join(copy, 'epoch_4.pth')
    before = listing(copy)['epoch_4.pth']
    # cp -r gives every file a new time, in copy order: the older
    # checkpoint may well look newer. Neither order changes the choice.
    for order in (['epoch_3.pth', 'epoch_4.pth'],
                  ['epoch_4.pth', 'epoch_3.pth']):
        _set_mtimes(copy, order + ['epoch_2.pth', 'epoch_1.pth'])
        assert find_resume_checkpoint(copy)[0] == epoch4
    # Without the pointer the recorded save time decides, not the file's.
    os.rename(osp.join(copy, 'last_checkpoint'), osp.join(copy, 'pointer'))
    path, notes = find_resume_checkpoint(copy)
    assert path == epoch4, notes
    os.rename(osp.join(copy, 'pointer'), osp.join(copy, 'last_checkpoint'))
    _set_mtimes(copy, ['epoch_3.pth', 'epoch_4.pth'])
    runner = train(copy, 5, resume=True)
    assert runner.epoch == 5
    # Epoch 4 was resumed from, not retrained and overwritten.
    assert listing(copy)['epoch_4.pth'] == before
    assert pointer(copy) == osp.join(copy, 'epoch_5.pth')


def test_stale_checkpoints_of_an_earlier_run_do_not_win(tmp_path):
    work = str(tmp_path)
    train(work, 4)
    # A new run from scratch in the same folder: epoch_3/4 are stale.
    train(work, 2)
    e2 = osp.join(work, 'epoch_2.pth')
    _set_mtimes(work, ['epoch_4.pth', 'epoch_3.pth'])  # stale look newest
    assert find_resume_checkpoint(work)[0] == e2
    os.remove(osp.join(work, 'last_checkpoint'))
    assert find_resume_checkpoint(work)[0] == e2
