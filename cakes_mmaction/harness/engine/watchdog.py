"""Peer liveness for multi-process runs: heartbeats through the TCPStore.

When one process of a distributed run dies, the others learn of it only
through their next collective: over gloo a killed peer gives "Connection
reset by peer" (naming an address, not a rank), and a hung or frozen peer
gives nothing until the process group timeout (30 minutes by default).

:class:`PeerWatchdog` runs a daemon thread in every process. It posts a
heartbeat (a counter and the last finished iteration) to the rendezvous
TCPStore every ``interval`` seconds and watches the others' heartbeats.
A peer whose heartbeat has not changed for ``timeout`` seconds (and that
did not say it finished) is lost: the watchdog logs which rank, how long
ago, and at which iteration, then ends this process with ``exit_code`` --
the main thread may be blocked inside a collective and cannot be
interrupted any other way. Checkpoints are written atomically, so ending
at any moment is safe.

For errors the main thread does see (the collective fails), the watchdog
adds :meth:`PeerWatchdog.diagnose` to the traceback through
``sys.excepthook``: it waits a few heartbeats and names the peers that
stopped, and any error message a peer posted before dying.
"""
import datetime
import logging
import os
import sys
import threading
import time
from typing import Any, Callable, Dict, List, Optional

__all__ = ['PeerWatchdog', 'connect_store', 'WATCHDOG_EXIT_CODE']

#: Exit status of a process stopped by the watchdog.
WATCHDOG_EXIT_CODE = 70


def connect_store(timeout: float = 30.0) -> Any:
    """A new client of the run's rendezvous TCPStore.

    torchrun (its agent hosts the store) and ``env://`` launches set
    ``MASTER_ADDR`` and ``MASTER_PORT``; a dedicated client keeps the
    watchdog's traffic off the process group's own connection.

    Args:
        timeout (float): Seconds a store operation may wait. Defaults to 30.

    Returns:
        TCPStore | None: The client, or None without the variables.
    """
    import torch.distributed as dist
    addr, port = os.environ.get('MASTER_ADDR'), os.environ.get('MASTER_PORT')
    if not addr or not port:
        return None
    return dist.TCPStore(
        addr,
        int(port),
        is_master=False,
        timeout=datetime.timedelta(seconds=timeout),
        wait_for_workers=False)


class PeerWatchdog:
    """Heartbeats of every rank, and the verdict when one stops.

    Rank 0 watches every rank; the other ranks watch rank 0 and rank 0's
    verdict, so the store sees O(world size) operations per interval.

    Args:
        store: A ``torch.distributed.Store`` shared by all ranks.
        rank (int): This process's rank.
        world_size (int): Number of processes.
        interval (float): Seconds between heartbeats. Defaults to 2.
        timeout (float): Seconds without a heartbeat after which a peer is
            lost. Defaults to 60.
        startup_timeout (float, optional): The same for a peer never seen
            (it may still be importing). Defaults to ``3 * timeout``.
        on_lost (Callable, optional): Called from the watchdog thread with
            the report text when a peer is lost. Defaults to logging it and
            ending the process with :data:`WATCHDOG_EXIT_CODE`.
        logger (logging.Logger, optional): Where reports go. Defaults to
            mmengine's current logger.
        prefix (str): Key prefix in the store. Defaults to
            ``'cakes_watchdog'`` plus torchelastic's restart count.
    """

    def __init__(self,
                 store: Any,
                 rank: int,
                 world_size: int,
                 interval: float = 2.0,
                 timeout: float = 60.0,
                 startup_timeout: Optional[float] = None,
                 on_lost: Optional[Callable[[str], None]] = None,
                 logger: Optional[logging.Logger] = None,
                 prefix: Optional[str] = None) -> None:
        if not 0 < interval < timeout:
            raise ValueError(f'need 0 < interval < timeout, got interval='
                             f'{interval}, timeout={timeout}')
        self.store = store
        self.rank = rank
        self.world_size = world_size
        self.interval = interval
        self.timeout = timeout
        self.startup_timeout = startup_timeout or 3 * timeout
        self.on_lost = on_lost or self._exit
        self.logger = logger
        restart = os.environ.get('TORCHELASTIC_RESTART_COUNT', '0')
        self.prefix = prefix or f'cakes_watchdog/{restart}'
        self.progress = 0  # finished training iterations
        self.finishing = False
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._count = 0
        self._seen: Dict[int, tuple] = {}  # rank -> (value, when changed)
        self._started = time.monotonic()

    # -- keys -----------------------------------------------------------
    def _key(self, kind: str, rank: int) -> str:
        return f'{self.prefix}/{kind}/{rank}'

    def _read(self, kind: str, rank: int) -> Optional[str]:
        key = self._key(kind, rank)
        if not self.store.check([key]):
            return None
        return self.store.get(key).decode('utf-8', 'replace')

    @property
    def _watched(self) -> List[int]:
        if self.rank == 0:
            return [r for r in range(self.world_size) if r != 0]
        return [0]

    # -- life cycle -----------------------------------------------------
    def start(self) -> 'PeerWatchdog':
        """Post the first heartbeat and start the thread.

        Returns:
            PeerWatchdog: ``self``.
        """
        self._beat()
        self._thread = threading.Thread(
            target=self._run, name='cakes-peer-watchdog', daemon=True)
        self._thread.start()
        return self

    def finish(self) -> None:
        """Say this rank finished normally, then stop the thread."""
        self.finishing = True
        try:
            self.store.set(self._key('done', self.rank), '1')
        except Exception:  # the store may already be gone at shutdown
            pass
        self.stop()

    def stop(self) -> None:
        """Stop the thread (without saying the rank finished)."""
        self._stop.set()
        if self._thread is not None and (self._thread
                                         is not threading.current_thread()):
            self._thread.join(timeout=self.interval + 5)
        self._thread = None

    def post_failure(self, message: str) -> None:
        """Tell the peers why this rank is about to die.

        Args:
            message (str): One line.
        """
        try:
            self.store.set(self._key('fail', self.rank), message[:500])
        except Exception:
            pass

    # -- the thread -----------------------------------------------------
    def _beat(self) -> None:
        self._count += 1
        self.store.set(
            self._key('hb', self.rank), f'{self._count} {self.progress}')

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self._beat()
                report = self.check()
            except Exception as err:
                if self.finishing or self._stop.is_set():
                    return
                report = (
                    f'lost contact with the rendezvous store '
                    f'({os.environ.get("MASTER_ADDR")}:'
                    f'{os.environ.get("MASTER_PORT")}), which rank 0 or the '
                    f'launcher hosts: it has died ({type(err).__name__}: '
                    f'{str(err).splitlines()[0] if str(err) else ""})')
            if report and not self.finishing:
                self.on_lost(report)
                return

    def check(self) -> Optional[str]:
        """Look at the watched peers once.

        Returns:
            str | None: A report naming the lost ranks, or None.
        """
        now = time.monotonic()
        if self.rank != 0:
            verdict = self._read('verdict', 0)
            if verdict:
                return verdict
        lost = {}
        for peer in self._watched:
            if self._read('done', peer):
                continue
            value = self._read('hb', peer)
            old = self._seen.get(peer)
            if old is None:
                self._seen[peer] = (value, now
                                    if value is not None else self._started)
            elif old[0] != value:
                self._seen[peer] = (value, now)
            since = self._seen[peer][1]
            limit = self.timeout if value is not None else (
                self.startup_timeout)
            if now - since > limit:
                lost[peer] = (now - since, value)
        if not lost:
            return None
        report = self._describe(lost)
        if self.rank == 0:
            try:
                self.store.set(self._key('verdict', 0), report)
            except Exception:
                pass
        return report

    def _describe(self, lost: Dict[int, tuple]) -> str:
        parts = []
        for peer, (age, value) in sorted(lost.items()):
            if value is None:
                text = (f'rank {peer} never sent a heartbeat in '
                        f'{age:.0f} s')
            else:
                done = value.split()[-1]
                text = (f'rank {peer} sent no heartbeat for {age:.1f} s '
                        f'(its last heartbeat: {done} finished iteration(s))')
            failure = self._read('fail', peer)
            if failure:
                text += f'; it reported: {failure}'
            parts.append(text)
        ranks = sorted(lost)
        return (f'lost rank(s) {ranks}: {"; ".join(parts)}. This rank '
                f'({self.rank}) had finished {self.progress} iteration(s).')

    def diagnose(self, grace: Optional[float] = None) -> str:
        """Which peers are gone, after watching for ``grace`` seconds.

        Used when a collective failed: a live peer's heartbeat moves
        within an interval or two; a dead one's does not.

        Args:
            grace (float, optional): Seconds to watch. Defaults to three
                intervals.

        Returns:
            str: A report naming the lost ranks (or saying none was).
        """
        grace = 3 * self.interval if grace is None else grace
        peers = [r for r in range(self.world_size) if r != self.rank]
        try:
            before = {p: self._read('hb', p) for p in peers}
            time.sleep(grace)
            lost = {}
            for peer in peers:
                if self._read('done', peer):
                    continue
                value = self._read('hb', peer)
                if value == before[peer]:
                    lost[peer] = (grace, value)
        except Exception as err:
            return (f'cannot reach the rendezvous store ({type(err).__name__})'
                    f': rank 0 or the launcher has died')
        if not lost:
            done = {p: (v or '? ?').split()[-1] for p, v in before.items()}
            done[self.rank] = str(self.progress)
            done = dict(sorted(done.items()))
            return (f'all {len(peers)} peer(s) still send heartbeats, so '
                    f'none died; finished iterations per rank: {done} (a '
                    f'rank behind the others is the one that is stuck)')
        return self._describe(lost)

    # -- default action -------------------------------------------------
    def _log(self, message: str, level: int = logging.ERROR) -> None:
        logger = self.logger
        if logger is None:
            from mmengine.logging import MMLogger
            logger = MMLogger.get_current_instance()
        logger.log(level, message)
        for handler in getattr(logger, 'handlers', []):
            try:
                handler.flush()
            except Exception:
                pass

    def _exit(self, report: str) -> None:
        self._log(f'DistWatchdog (rank {self.rank}): {report} Stopping this '
                  f'process with exit code {WATCHDOG_EXIT_CODE}; resume with '
                  '--resume (the same or another number of processes).')
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(WATCHDOG_EXIT_CODE)
