"""DistWatchdogHook: stop a distributed run promptly when a rank is lost."""
import logging
import sys
from typing import Optional

from mmaction.registry import HOOKS
from mmengine.dist import barrier, get_rank, get_world_size
from mmengine.hooks import Hook
from mmengine.logging import print_log

from ..watchdog import PeerWatchdog, connect_store

__all__ = ['DistWatchdogHook']


@HOOKS.register_module()
class DistWatchdogHook(Hook):
    """Name a lost rank and stop the others within a bounded time.

    In a run of several processes, every process runs a
    :class:`~cakes_mmaction.harness.engine.watchdog.PeerWatchdog` from
    ``before_run`` to ``after_run``:

    - a rank that dies (killed, out of memory, its node gone) or freezes
      stops sending heartbeats; after ``timeout`` seconds the others log
      ``lost rank(s) [k]`` with the iteration it had reached, and exit with
      status 70, even when blocked inside a collective;
    - when a collective fails first (gloo reports a closed connection
      without naming a rank), the uncaught exception is followed by the
      same diagnosis, after watching the heartbeats for a few intervals;
      a rank that dies of its own error posts that error, and the others
      repeat it.

    Set ``env_cfg.dist_cfg.timeout`` too (``init_cpu_distributed`` and
    mmengine pass it to ``init_process_group``): it bounds a collective
    waiting on a rank that is alive but stuck, which heartbeats cannot see.

    The hook does nothing in single-process runs.

    Args:
        timeout (float): Seconds without a heartbeat before a rank is lost.
            Defaults to 60.
        interval (float): Seconds between heartbeats. Defaults to 2.
        startup_timeout (float, optional): Seconds to wait for a rank's
            first heartbeat. Defaults to ``3 * timeout``.
    """

    priority = 'VERY_HIGH'

    def __init__(self,
                 timeout: float = 60.0,
                 interval: float = 2.0,
                 startup_timeout: Optional[float] = None) -> None:
        if not 0 < interval < timeout:
            raise ValueError(f'need 0 < interval < timeout, got interval='
                             f'{interval}, timeout={timeout}')
        self.timeout = timeout
        self.interval = interval
        self.startup_timeout = startup_timeout
        self.watchdog: Optional[PeerWatchdog] = None
        self._previous_hook = None

    def before_run(self, runner) -> None:
        """Start the heartbeats and the diagnosis of uncaught errors.

        Args:
            runner (Runner): The runner.
        """
        world_size = get_world_size()
        if world_size < 2:
            return
        store = connect_store(timeout=max(10.0, 3 * self.interval))
        if store is None:
            print_log(
                'DistWatchdogHook: MASTER_ADDR/MASTER_PORT are not set, so '
                'there is no store to send heartbeats through; only '
                'env_cfg.dist_cfg.timeout bounds a hang',
                logger='current',
                level=logging.WARNING)
            return
        self.watchdog = PeerWatchdog(
            store,
            get_rank(),
            world_size,
            interval=self.interval,
            timeout=self.timeout,
            startup_timeout=self.startup_timeout,
            logger=runner.logger).start()
        self._previous_hook = sys.excepthook
        sys.excepthook = self._excepthook

    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch=None,
                         outputs=None) -> None:
        """Publish progress with the heartbeat.

        Args:
            runner (Runner): The runner.
            batch_idx (int): Index in the epoch.
            data_batch: Unused.
            outputs: Unused.
        """
        if self.watchdog is not None:
            self.watchdog.progress = runner.iter + 1

    def after_run(self, runner) -> None:
        """Say this rank finished; stop the watchdog once all have.

        Args:
            runner (Runner): The runner.
        """
        if self.watchdog is None:
            return
        # Nobody may see the store vanish (its host exiting) before every
        # rank has marked itself finished.
        self.watchdog.finishing = True
        barrier()
        self.watchdog.finish()
        self.watchdog = None
        if sys.excepthook == self._excepthook:
            sys.excepthook = self._previous_hook

    def _excepthook(self, exc_type, exc, tb) -> None:
        watchdog = self.watchdog
        if watchdog is not None and not issubclass(exc_type,
                                                   KeyboardInterrupt):
            lines = str(exc).strip().splitlines()
            watchdog.post_failure(
                f'{exc_type.__name__}: {lines[0] if lines else ""}')
            watchdog.stop()
            report = watchdog.diagnose()
            watchdog._log(f'DistWatchdog (rank {watchdog.rank}): this rank '
                          f'stops on {exc_type.__name__}; {report}')
        (self._previous_hook or sys.__excepthook__)(exc_type, exc, tb)
