"""AtomicCheckpointHook: mmengine's CheckpointHook, safe against crashes.

The choice of the checkpoint ``--resume`` continues from is
:mod:`cakes_mmaction.harness.engine.resume_choice`; the stand-ins through
which CheckpointHook's own code writes and deletes are
:mod:`cakes_mmaction.harness.engine.hooks.checkpoint_views`.
"""
import logging
import os.path as osp
import shutil
import tempfile
import time
from contextlib import contextmanager
from typing import Any, Iterator, Optional

from mmaction.registry import HOOKS
from mmengine.dist import (all_gather_object, broadcast_object_list, get_rank,
                           get_world_size, is_distributed, is_main_process)
from mmengine.fileio import LocalBackend
from mmengine.hooks import CheckpointHook
from mmengine.logging import print_log

from ....checkpoints.fit import (check_checkpoint_fits, checkpoint_state_dict,
                                 head_classes)
from ....checkpoints.nonfinite import (NonFiniteError, describe_nonfinite,
                                       nonfinite_tensors)
from ..checkpoint_io import atomic_write_text, remove_stale_temp_files
from ..resume_choice import choose_resume_checkpoint
from ..rng_state import get_rng_state, set_rng_state
from .checkpoint_views import DeferredRemovals, RunnerWithWorkDir

__all__ = ['AtomicCheckpointHook', 'CheckpointResumeError']

_PATH_KEYS = ('last_ckpt', 'best_ckpt')


class CheckpointResumeError(RuntimeError):
    """The checkpoint given to ``--resume`` cannot be resumed from."""


def _is_path_key(key: str) -> bool:
    return key in _PATH_KEYS or key.startswith('best_ckpt_')


@HOOKS.register_module()
class AtomicCheckpointHook(CheckpointHook):
    """CheckpointHook whose files are never partial and never misplaced.

    Differences from mmengine's :class:`~mmengine.hooks.CheckpointHook`
    (every argument of which it takes):

    - checkpoints go through the ``'atomic_local'`` file backend
      (temporary file, ``fsync``, ``os.replace``), so a crash or a full
      disk during a save leaves the previous checkpoint and
      ``last_checkpoint`` as they were;
    - ``last_checkpoint`` is written the same way, after the checkpoint is
      complete;
    - the checkpoint dropped by ``max_keep_ckpts`` and the previous best
      one are deleted only after the new file is complete (CheckpointHook
      deletes them first, so a failed save there can leave nothing);
    - ``resume=True`` (``--resume``) resumes from the newest *complete*
      checkpoint: a truncated or damaged newest file is skipped with a
      warning, falling back to the previous one
      (:func:`~cakes_mmaction.harness.engine.checkpoint_io.find_resume_checkpoint`);
      an explicit ``--resume PATH`` that is incomplete, or a folder whose
      checkpoints are all incomplete, is refused with the files named;
    - the best/last checkpoint paths kept in the message hub are saved
      relative to the checkpoint folder and re-anchored in the current one
      on resume, so resuming from a copied or moved work dir never deletes
      a "previous best" file in the original;
    - with ``save_rng_state`` the Python, NumPy and torch random states of
      every rank are saved and restored on resume, and validation is made
      neutral for the training random stream, so a resumed run in
      deterministic mode ends with the same weights as an uninterrupted
      one (dropout and random augmentation included);
    - a checkpoint loaded with ``load_from``/``--resume`` (or by
      ``tools/test.py``) is checked against the model before its weights
      are copied (``check_checkpoint_fits``): one error naming the file
      when it belongs to another model, instead of a log of missing keys
      and random weights.

    Args:
        *args: Positional arguments of CheckpointHook.
        save_rng_state (bool): Save and restore random states. Defaults to
            True.
        check_fit (bool): Check loaded checkpoints against the model.
            Defaults to True.
        **kwargs: Keyword arguments of CheckpointHook. ``backend_args``
            defaults to ``dict(backend='atomic_local')``; another backend
            (e.g. a remote store) keeps its own write semantics.
    """

    def __init__(self,
                 *args,
                 save_rng_state: bool = True,
                 check_fit: bool = True,
                 **kwargs) -> None:
        if kwargs.get('backend_args') is None and kwargs.get(
                'file_client_args') is None:
            kwargs['backend_args'] = dict(backend='atomic_local')
        super().__init__(*args, **kwargs)
        self.save_rng_state = save_rng_state
        self.check_fit = check_fit
        self._rng_states: Optional[list] = None
        self._scratch: Optional[str] = None
        self._deferring = False
        self._train_rng: Optional[dict] = None

    # -- where checkpoints are -----------------------------------------
    def _checkpoint_dir(self, runner) -> Optional[str]:
        """The folder CheckpointHook.before_train will choose (local only)."""
        out_dir = self.out_dir if self.out_dir is not None else (
            runner.work_dir)
        if '://' in str(out_dir):
            return None
        if out_dir != runner.work_dir:
            out_dir = osp.join(out_dir,
                               osp.basename(runner.work_dir.rstrip(osp.sep)))
        return out_dir

    @property
    def _local(self) -> bool:
        backend = getattr(self, 'file_backend', None)
        if isinstance(backend, DeferredRemovals):
            backend = backend._backend
        return isinstance(backend, LocalBackend)

    def _anchor(self, path: Any) -> Any:
        """A saved best/last path, re-anchored in the current folder."""
        if not isinstance(path, str) or not path or not self._local:
            return path
        if not osp.isabs(path):
            return osp.join(self.out_dir, path)
        if osp.dirname(osp.abspath(path)) != osp.abspath(self.out_dir):
            return osp.join(self.out_dir, osp.basename(path))
        return path

    # -- resume ---------------------------------------------------------
    def before_run(self, runner) -> None:
        """Choose the checkpoint ``--resume`` continues from.

        ``Runner.load_or_resume`` runs after ``before_run``; it resumes from
        ``runner._load_from`` when set, which is where the choice goes
        (the Runner has no public setter for it).

        Args:
            runner (Runner): The runner.
        """
        if not getattr(runner, '_resume', False):
            return
        ckpt_dir = self._checkpoint_dir(runner)
        if ckpt_dir is None:
            return
        chosen, error = None, None
        if is_main_process():
            chosen, error = choose_resume_checkpoint(
                runner._load_from, runner.work_dir, ckpt_dir,
                self.filename_tmpl)
        if is_distributed():
            shared = [chosen, error]
            broadcast_object_list(shared, src=0)
            chosen, error = shared
        if error:
            raise CheckpointResumeError(error)
        if chosen is not None:
            runner._load_from = chosen

    def before_train(self, runner) -> None:
        """Set up as CheckpointHook, then re-anchor resumed paths.

        Args:
            runner (Runner): The runner.
        """
        super().before_train(runner)
        if not self._local:
            return
        if is_main_process():
            for path in remove_stale_temp_files(self.out_dir):
                print_log(
                    f'removed {path}, left by a save that was killed',
                    logger='current',
                    level=logging.WARNING)
        hub = runner.message_hub
        for key in list(hub.runtime_info):
            if _is_path_key(key):
                value = hub.get_info(key)
                anchored = self._anchor(value)
                if anchored != value and osp.isabs(value):
                    print_log(
                        f'{key} {value} is outside {self.out_dir} (a copied '
                        f'or moved work dir); using {anchored}',
                        logger='current',
                        level=logging.WARNING)
                if anchored != value:
                    hub.update_info(key, anchored)
        if getattr(self, 'best_ckpt_path', None):
            self.best_ckpt_path = self._anchor(self.best_ckpt_path)
        for key, value in getattr(self, 'best_ckpt_path_dict', {}).items():
            self.best_ckpt_path_dict[key] = self._anchor(value)

    # -- saving ---------------------------------------------------------
    @contextmanager
    def _deferred_removals(self) -> Iterator[None]:
        """Hold back deletions until the body has saved successfully."""
        if self._deferring or not hasattr(self, 'file_backend'):
            yield
            return
        backend, queue = self.file_backend, []
        self.file_backend = DeferredRemovals(backend, queue)
        self._deferring = True
        try:
            yield
        finally:
            self.file_backend = backend
            self._deferring = False
        for operation, path in queue:  # reached only when the save worked
            getattr(backend, operation)(path)

    def before_val(self, runner) -> None:
        """Keep the training random state out of validation's reach.

        Validation draws random numbers (a DataLoader iterator draws its
        base seed, some pipelines are random) after the epoch's checkpoint
        was written. A resumed run does not repeat that validation, so the
        state saved in the checkpoint would not be where the uninterrupted
        run continues. Restoring it in :meth:`after_val` makes validation
        neutral for training.

        Args:
            runner (Runner): The runner.
        """
        if self.save_rng_state:
            self._train_rng = get_rng_state()

    def after_val(self, runner) -> None:
        """Restore the random state saved in :meth:`before_val`.

        Args:
            runner (Runner): The runner.
        """
        if self._train_rng is not None:
            set_rng_state(self._train_rng)
            self._train_rng = None

    def _save_checkpoint_with_step(self, runner, step, meta) -> None:
        model = getattr(runner.model, 'module', runner.model)
        bad = nonfinite_tensors(model.state_dict().items())
        if bad:
            # Writing it would replace the last good checkpoint (and
            # last_checkpoint) with weights nothing can use.
            raise NonFiniteError(
                f'refusing to save the checkpoint of step {step}: '
                f'{describe_nonfinite(bad, len(model.state_dict()))}. The '
                f'last checkpoint, {runner.message_hub.get_info("last_ckpt")}'
                f', is kept. The training diverged: lower the learning rate '
                f'or clip gradients, and --resume from it.')
        if self.save_rng_state:
            # Inside validation (save_best), save the state training will
            # continue from, not validation's.
            state = self._train_rng or get_rng_state()
            self._rng_states = (
                all_gather_object(state) if is_distributed() else [state])
        with self._deferred_removals():
            if not self._local:
                super()._save_checkpoint_with_step(runner, step, meta)
                return
            if self._scratch is None:
                self._scratch = tempfile.mkdtemp(prefix='cakes_ckpt_pointer_')
            super()._save_checkpoint_with_step(
                RunnerWithWorkDir(runner, self._scratch), step, meta)
            if is_main_process():
                # Only now is the checkpoint complete (and synced).
                atomic_write_text(
                    osp.join(runner.work_dir, 'last_checkpoint'),
                    self.last_ckpt)

    def _save_best_checkpoint(self, runner, metrics) -> None:
        with self._deferred_removals():
            super()._save_best_checkpoint(runner, metrics)

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        """Add random states and the save time; store best/last paths
        relative to the folder.

        ``meta.saved_at`` (seconds since the epoch) orders checkpoints on
        resume: file times do not survive a copy of the work dir.

        Args:
            runner (Runner): The runner.
            checkpoint (dict): The checkpoint about to be written.
        """
        meta = checkpoint.get('meta')
        if isinstance(meta, dict):
            meta['saved_at'] = time.time()
        if self.save_rng_state and self._rng_states is not None:
            checkpoint['rng_state'] = list(self._rng_states)
        info = checkpoint.get('message_hub', {}).get('runtime_info')
        if not info or not self._local or self.out_dir is None:
            return
        info = dict(info)
        for key, value in info.items():
            if _is_path_key(key) and isinstance(
                    value, str) and (osp.dirname(value) == self.out_dir):
                info[key] = osp.basename(value)
        checkpoint['message_hub'] = dict(
            checkpoint['message_hub'], runtime_info=info)

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        """Check the checkpoint fits the model; restore random states.

        mmengine calls this before it copies the weights into the model, so
        a checkpoint of another model stops here with one message instead
        of a log of missing keys and a run from random weights.

        Args:
            runner (Runner): The runner.
            checkpoint (dict): The loaded checkpoint.
        """
        resuming = getattr(runner, '_resume', False)
        if self.check_fit:
            model = getattr(runner.model, 'module', runner.model)
            source = str(
                getattr(runner, '_load_from', None) or 'the checkpoint')
            config = getattr(runner.cfg, 'filename', None)
            check_checkpoint_fits(
                model.state_dict(),
                checkpoint,
                source,
                strict=resuming,
                config=config)
            self._note_new_head(model, checkpoint, source, config)
        states = checkpoint.get('rng_state')
        if not resuming or not self.save_rng_state:
            return
        if not states:
            print_log(
                'the checkpoint holds no random state (saved without '
                'AtomicCheckpointHook): the resumed run draws different '
                'random numbers than an uninterrupted one',
                logger='current',
                level=logging.WARNING)
            return
        if len(states) != get_world_size():
            print_log(
                f'the checkpoint holds random states of {len(states)} '
                f'process(es), this run has {get_world_size()}: random '
                'numbers will differ from an uninterrupted run',
                logger='current',
                level=logging.WARNING)
            return
        set_rng_state(states[get_rank()])

    @staticmethod
    def _note_new_head(model, checkpoint: dict, source: str,
                       config: Optional[str]) -> None:
        """Say in one line when ``load_from`` brings another class count.

        Fine-tuning on another dataset is what ``load_from`` is for, so
        this is not an error here (testing and the demo refuse it); but
        mmengine's size-mismatch warning does not say that the classifier
        starts from random weights.
        """
        ours = head_classes(model.state_dict())
        theirs = head_classes(checkpoint_state_dict(checkpoint))
        if ours and theirs and ours[1] != theirs[1]:
            print_log(
                f'load_from {source}: its classifier has {theirs[1]} '
                f'classes, the model of {config or "the config"} has '
                f'{ours[1]}: the classifier is trained from random weights '
                f'(fine-tuning). If the data has {theirs[1]} classes, set '
                f'model.cls_head.num_classes={theirs[1]}.',
                logger='current',
                level=logging.WARNING)

    def after_run(self, runner) -> None:
        """Remove the scratch folder.

        Args:
            runner (Runner): The runner.
        """
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)
            self._scratch = None
