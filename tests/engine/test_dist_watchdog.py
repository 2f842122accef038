"""DistWatchdogHook / PeerWatchdog: a lost rank is named, the rest stop."""
import datetime
import os
import os.path as osp
import socket
import subprocess
import sys
import time

import pytest
import torch.distributed as dist
from mmengine.runner import Runner

from cakes_mmaction.harness.engine.watchdog import (WATCHDOG_EXIT_CODE,
                                                    PeerWatchdog)
from tests.helpers.toy import toy_config

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def free_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


# -- the watchdog alone, two "ranks" in one process --------------------------
@pytest.fixture
def store():
    return dist.TCPStore(
        '127.0.0.1',
        0,
        is_master=True,
        wait_for_workers=False,
        timeout=datetime.timedelta(seconds=10))


def pair(store, timeout=1.0):
    reports = {0: [], 1: []}
    dogs = [
        PeerWatchdog(
            store,
            rank,
            2,
            interval=0.1,
            timeout=timeout,
            on_lost=reports[rank].append,
            prefix='t') for rank in (0, 1)
    ]
    return dogs, reports


def wait_for(predicate, seconds):
    end = time.time() + seconds
    while time.time() < end:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_stopped_peer_is_named_by_both_sides(store):
    (zero, one), reports = pair(store)
    zero.start(), one.start()
    zero.progress, one.progress = 7, 5
    time.sleep(0.3)
    one.post_failure('DataFaultError: list.txt:3: clip.mp4: truncated MP4')
    one.stop()  # dies without saying it finished
    assert wait_for(lambda: reports[0], 5)
    report = reports[0][0]
    assert report.startswith('lost rank(s) [1]: rank 1 sent no heartbeat')
    assert '5 finished iteration(s)' in report
    assert 'it reported: DataFaultError: list.txt:3' in report
    assert 'This rank (0) had finished 7 iteration(s)' in report
    zero.stop()


def test_rank_zero_verdict_reaches_the_others(store):
    dogs = [
        PeerWatchdog(
            store,
            r,
            3,
            interval=0.1,
            timeout=1.0,
            prefix='v',
            on_lost=lambda text, r=r: reports[r].append(text))
        for r in range(3)
    ]
    reports = {r: [] for r in range(3)}
    for dog in dogs:
        dog.start()
    time.sleep(0.3)
    dogs[2].stop()
    assert wait_for(lambda: reports[0] and reports[1], 5)
    assert reports[0][0].startswith('lost rank(s) [2]')
    assert reports[1][0] == reports[0][0]
    dogs[0].stop(), dogs[1].stop()


def test_finished_peer_is_not_lost_and_diagnose(store):
    (zero, one), reports = pair(store, timeout=0.5)
    zero.start(), one.start()
    zero.progress, one.progress = 4, 3
    time.sleep(0.3)
    report = zero.diagnose(grace=0.3)
    assert 'still send heartbeats' in report
    assert "finished iterations per rank: {0: '4', 1: '3'}" in report
    one.finish()
    time.sleep(1.0)
    assert reports[0] == []
    zero.stop()
    # A peer that never started is lost after the startup timeout.
    lonely = PeerWatchdog(
        store,
        0,
        3,
        interval=0.1,
        timeout=0.3,
        startup_timeout=0.5,
        prefix='s',
        on_lost=reports[1].append).start()
    assert wait_for(lambda: reports[1], 5)
    assert 'never sent a heartbeat' in reports[1][0]
    lonely.stop()


def test_arguments_are_checked(store):
    with pytest.raises(ValueError, match='interval < timeout'):
        PeerWatchdog(store, 0, 2, interval=5, timeout=1)


# -- real 2-process gloo runs ------------------------------------------------
def launch(work, port, *extra):
    procs = []
    for rank in (0, 1):
        env = dict(
            os.environ,
            RANK=str(rank),
            LOCAL_RANK=str(rank),
            WORLD_SIZE='2',
            MASTER_ADDR='127.0.0.1',
            MASTER_PORT=str(port))
        log = open(osp.join(osp.dirname(work), f'rank{rank}.log'), 'w')
        procs.append(
            subprocess.Popen([
                sys.executable, '-m', 'tests.helpers.train_toy', work,
                '--launcher', 'pytorch', '--epochs', '4', '--watchdog', '4',
                '--dist-timeout', '300', '--kill-after-iter', '6',
                '--kill-rank', '1', *extra
            ],
                             cwd=REPO,
                             env=env,
                             stdout=log,
                             stderr=subprocess.STDOUT))
    return procs


def proc_state(pid):
    try:
        with open(f'/proc/{pid}/stat') as f:
            return f.read().rsplit(')', 1)[1].split()[0]
    except OSError:
        return None


def run_and_time(tmp_path, sig):
    work = str(tmp_path / 'work')
    procs = launch(work, free_port(), '--kill-signal', sig)
    zero, one = procs
    try:
        # When did rank 1 die (SIGKILL) or freeze (SIGSTOP)?
        deadline = time.time() + 240
        while time.time() < deadline:
            if one.poll() is not None or proc_state(one.pid) == 'T':
                break
            assert zero.poll() is None, open(tmp_path / 'rank0.log').read()
            time.sleep(0.05)
        lost_at = time.time()
        zero.wait(timeout=90)
        elapsed = time.time() - lost_at
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=30)
    return work, zero.returncode, elapsed, open(tmp_path / 'rank0.log').read()


def test_killed_rank_stops_rank0_then_resume_with_one_process(tmp_path):
    work, code, elapsed, log = run_and_time(tmp_path, 'SIGKILL')
    assert code not in (0, None)
    assert elapsed < 60
    # gloo's own error names an address; the watchdog names the rank.
    assert 'lost rank(s) [1]: rank 1 sent no heartbeat' in log
    assert 'Connection reset by peer' in log or 'Connection closed' in log
    # The 2-process run saved epoch 2; one process takes over from it.
    assert open(osp.join(work, 'last_checkpoint')).read() == osp.join(
        work, 'epoch_2.pth')
    cfg = toy_config(work, max_epochs=4)
    cfg.resume = True
    runner = Runner.from_cfg(cfg)
    runner.train()
    assert runner.epoch == 4 and runner.iter == 2 * 2 + 2 * 4


def test_frozen_rank_stops_rank0_within_the_watchdog_timeout(tmp_path):
    work, code, elapsed, log = run_and_time(tmp_path, 'SIGSTOP')
    # Blocked in a collective (process group timeout 300 s), rank 0 is
    # ended by the watchdog.
    assert code == WATCHDOG_EXIT_CODE, log[-3000:]
    assert elapsed < 60
    assert 'lost rank(s) [1]: rank 1 sent no heartbeat' in log
    assert 'resume with --resume' in log
