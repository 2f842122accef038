"""SIGKILL a training process mid-save, resume it, compare the weights."""
import glob
import os
import os.path as osp
import signal
import subprocess
import sys
import time

import torch
from mmengine.runner import Runner

from cakes_mmaction.harness.engine import verify_checkpoint_file
from tests.helpers.toy import toy_config

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
EPOCHS = 4  # 16 samples / batch 4 = 4 iterations per epoch
BALLAST = 2**21  # an 8 MB buffer: every save takes a while


def train(work_dir, resume=False, checkpoint=None):
    cfg = toy_config(
        work_dir, max_epochs=EPOCHS, checkpoint=checkpoint, ballast=BALLAST)
    cfg.resume = resume
    runner = Runner.from_cfg(cfg)
    runner.train()
    return {k: v.clone() for k, v in runner.model.state_dict().items()}


def kill_during_a_save(work):
    """Start training; SIGKILL it while it writes a checkpoint after epoch 2.

    Returns:
        str: The temporary file being written when the process died.
    """
    proc = subprocess.Popen([
        sys.executable, '-m', 'tests.helpers.train_toy', work,
        '--epochs',
        str(EPOCHS), '--ballast',
        str(BALLAST)
    ],
                            cwd=REPO,
                            stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE,
                            text=True)
    deadline = time.time() + 240
    try:
        while time.time() < deadline and proc.poll() is None:
            if osp.exists(osp.join(work, 'epoch_2.pth')):
                temps = glob.glob(osp.join(work, '.*.tmp'))
                if temps:
                    proc.send_signal(signal.SIGKILL)
                    proc.wait(timeout=60)
                    return temps[0]
            time.sleep(0.001)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=60)
    raise AssertionError(f'no save was caught (exit {proc.returncode}): '
                         f'{proc.stderr.read()[-3000:]}')


def test_sigkill_during_save_then_resume_gives_uninterrupted_weights(tmp_path):
    work = str(tmp_path / 'killed')
    temp = kill_during_a_save(work)
    # Only complete files carry final names; the pointer is complete too.
    assert osp.basename(temp).startswith('.')
    for path in glob.glob(osp.join(work, '*.pth')):
        assert verify_checkpoint_file(path) is None, path
    pointed = open(osp.join(work, 'last_checkpoint')).read()
    assert verify_checkpoint_file(pointed) is None
    # Resume continues from there and removes the temporary file.
    resumed = train(work, resume=True)
    assert not glob.glob(osp.join(work, '.*.tmp'))
    reference = train(str(tmp_path / 'reference'))
    assert reference.keys() == resumed.keys()
    for key in reference:
        assert torch.equal(reference[key], resumed[key]), key
    # Without the saved random states (dropout, data noise, the
    # DataLoader's seed draws) the resumed run ends elsewhere.
    other = str(tmp_path / 'no_rng')
    os.makedirs(other)
    for name in os.listdir(work):
        if name.endswith('.pth') and 'epoch_1' in name:
            os.link(osp.join(work, name), osp.join(other, name))
    open(osp.join(other, 'last_checkpoint'),
         'w').write(osp.join(other, 'epoch_1.pth'))
    different = train(
        other,
        resume=True,
        checkpoint=dict(
            type='AtomicCheckpointHook', interval=1, save_rng_state=False))
    assert not all(torch.equal(reference[k], different[k]) for k in reference)
