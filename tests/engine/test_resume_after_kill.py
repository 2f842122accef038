"""SIGKILL a training process, resume it, compare with an uninterrupted run."""
import glob
import os
import os.path as osp
import signal
import subprocess
import sys
import time

import torch
from mmengine.runner import Runner

from cakes_mmaction.engine import verify_checkpoint_file
from cakes_mmaction.testing.toy import toy_config

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
EPOCHS = 4  # 16 samples / batch 4 = 4 iterations per epoch


def toy_cmd(*args):
    return [sys.executable, '-m', 'cakes_mmaction.testing.train_toy', *args]


def run_in_process(work_dir, resume=False, checkpoint=None):
    cfg = toy_config(work_dir, max_epochs=EPOCHS, checkpoint=checkpoint)
    cfg.resume = resume
    runner = Runner.from_cfg(cfg)
    runner.train()
    return {k: v.clone() for k, v in runner.model.state_dict().items()}


def test_sigkill_then_resume_gives_the_uninterrupted_weights(tmp_path):
    reference = run_in_process(str(tmp_path / 'reference'))
    work = str(tmp_path / 'killed')
    # Killed in the middle of epoch 3 (iteration 10 of 16).
    proc = subprocess.run(
        toy_cmd(work, '--epochs', str(EPOCHS), '--kill-after-iter', '10'),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=240)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-3000:]
    assert open(osp.join(work, 'last_checkpoint')).read() == osp.join(
        work, 'epoch_2.pth')
    resumed = run_in_process(work, resume=True)
    assert reference.keys() == resumed.keys()
    for key in reference:
        assert torch.equal(reference[key], resumed[key]), key
    # Without the random states, dropout and the data noise draw other
    # numbers after the resume and the weights differ.
    no_rng = dict(type='AtomicCheckpointHook', interval=1,
                  save_rng_state=False)
    work2 = str(tmp_path / 'killed2')
    os.makedirs(work2)
    for name in ('epoch_2.pth', 'last_checkpoint'):
        data = open(osp.join(work, name), 'rb').read()
        if name == 'last_checkpoint':
            data = osp.join(work2, 'epoch_2.pth').encode()
        open(osp.join(work2, name), 'wb').write(data)
    other = run_in_process(work2, resume=True, checkpoint=no_rng)
    assert not all(torch.equal(reference[k], other[k]) for k in reference)


def test_sigkill_during_a_save_leaves_only_complete_files(tmp_path):
    work = str(tmp_path / 'w')
    # A 16 MB buffer makes every save take a while; kill the process as
    # soon as a temporary checkpoint file appears, i.e. mid-write.
    proc = subprocess.Popen(
        toy_cmd(work, '--epochs', '2', '--ballast', str(4 * 2**20)),
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True)
    deadline = time.time() + 240
    killed_during = None
    try:
        while time.time() < deadline and proc.poll() is None:
            temps = glob.glob(osp.join(work, '.*.tmp'))
            if temps:
                proc.send_signal(signal.SIGKILL)
                killed_during = temps[0]
                break
            time.sleep(0.002)
    finally:
        if proc.poll() is None and killed_during is None:
            proc.kill()
        proc.wait(timeout=60)
    assert killed_during is not None, proc.stderr.read()[-3000:]
    assert proc.returncode == -signal.SIGKILL
    final = [
        f for f in glob.glob(osp.join(work, '*.pth'))
        if not osp.basename(f).startswith('.')
    ]
    for path in final:  # no partial file under a final name
        assert verify_checkpoint_file(path) is None, path
    pointer = osp.join(work, 'last_checkpoint')
    if osp.exists(pointer):
        assert verify_checkpoint_file(open(pointer).read()) is None
    # Resume completes and removes the temporary file of the killed save.
    cfg = toy_config(work, max_epochs=2, ballast=4 * 2**20)
    cfg.resume = True
    Runner.from_cfg(cfg).train()
    assert not glob.glob(osp.join(work, '.*.tmp'))
    assert verify_checkpoint_file(osp.join(work, 'epoch_2.pth')) is None
