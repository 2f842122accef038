"""Which checkpoint ``--resume`` continues from.

An explicit ``--resume PATH`` must be a complete checkpoint (the newest
complete one next to it is named when it is not); otherwise the newest
complete checkpoint of the run is chosen, damaged newer ones are skipped
with a warning, and a run whose checkpoints are all damaged is refused
rather than silently started over.
"""
import logging
import os.path as osp
from typing import Optional, Tuple

from mmengine.logging import print_log

from .checkpoint_io import find_resume_checkpoint, verify_checkpoint_file

__all__ = ['choose_resume_checkpoint']


def choose_resume_checkpoint(
        explicit: Optional[str], work_dir: str, ckpt_dir: str,
        filename_tmpl: str) -> Tuple[Optional[str], Optional[str]]:
    """The checkpoint to resume from, or why there is none to use.

    Args:
        explicit (str, optional): The path given to ``--resume``, if any.
        work_dir (str): The run's work dir (``last_checkpoint``).
        ckpt_dir (str): The folder of its checkpoints.
        filename_tmpl (str): CheckpointHook's file name template.

    Returns:
        tuple: The chosen checkpoint (None: start from scratch) and an
        error message (None when the run may go on).
    """
    if explicit is not None:
        if '://' in str(explicit):
            return explicit, None
        reason = verify_checkpoint_file(explicit)
        if reason is None:
            return explicit, None
        alternative, _ = find_resume_checkpoint(
            osp.dirname(osp.abspath(explicit)),
            filename_tmpl=filename_tmpl)
        hint = (f' The newest complete checkpoint next to it is '
                f'{alternative}.' if alternative else '')
        return None, (f'cannot resume from {explicit}: {reason}.{hint}')
    chosen, notes = find_resume_checkpoint(work_dir, ckpt_dir,
                                           filename_tmpl)
    for note in notes:
        print_log(note, logger='current', level=logging.WARNING)
    if chosen is None and notes:
        # Checkpoints exist but none is complete: mmengine would follow
        # last_checkpoint to a broken file, and starting over silently
        # would overwrite the run.
        return None, (f'--resume: no complete checkpoint in {ckpt_dir} '
                      f'({"; ".join(notes)}). Remove last_checkpoint '
                      f'to start from scratch.')
    if chosen is None:
        print_log(
            f'--resume: no checkpoint in {ckpt_dir}; training starts '
            'from scratch',
            logger='current',
            level=logging.WARNING)
    else:
        print_log(
            f'--resume: resuming from {chosen}',
            logger='current',
            level=logging.WARNING if notes else logging.INFO)
    return chosen, None
