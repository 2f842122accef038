"""Checks of whole video files: the container, then a decode."""
import os.path as osp
import re
from typing import Optional, Tuple

from .containers import video_structure_problem

__all__ = ['check_video_file', 'probe_video']


def check_video_file(path: str) -> Optional[str]:
    """Cheap check of a video file: present, not empty, whole container.

    Args:
        path (str): The video.

    Returns:
        str | None: Why the file is bad, or None.
    """
    if not osp.exists(path):
        return 'missing video file'
    if not osp.isfile(path):
        return 'not a regular file'
    if osp.getsize(path) == 0:
        return 'empty video file (0 bytes)'
    return video_structure_problem(path)


def probe_video(path: str,
                full_decode: bool = True,
                chunk: int = 16) -> Tuple[int, Optional[str]]:
    """Open a video with decord and decode it.

    The frame count in an MP4 header can promise frames the file no longer
    holds (a copy cut short), so a readable header is not enough: frames
    are decoded, all of them with ``full_decode`` or else the first and
    the last.

    Args:
        path (str): The video.
        full_decode (bool): Decode every frame. Defaults to True.
        chunk (int): Frames per decode call. Defaults to 16.

    Returns:
        tuple[int, str | None]: Frames in the header and why the file is
        bad (or None).
    """
    reason = check_video_file(path)
    if reason:
        return 0, reason
    import decord
    try:
        reader = decord.VideoReader(path, num_threads=1)
    except Exception as err:  # decord raises RuntimeError or DECORDError
        return 0, f'cannot open the video: {_first_line(err)}'
    total = len(reader)
    if total == 0:
        return 0, 'the video has no frames'
    if full_decode:
        batches = [
            list(range(i, min(i + chunk, total)))
            for i in range(0, total, chunk)
        ]
    else:
        batches = [[0, total - 1]] if total > 1 else [[0]]
    for indices in batches:
        try:
            reader.get_batch(indices).asnumpy()
        except Exception as err:
            return total, (f'truncated or corrupt stream: the header says '
                           f'{total} frames but decoding frames '
                           f'{indices[0]}..{indices[-1]} failed: '
                           f'{_first_line(err)}')
    return total, None


def _first_line(err: BaseException) -> str:
    """The useful part of a decord error: its last line, no source paths."""
    text = str(err).strip().splitlines()
    last = re.sub(r'\[\d\d:\d\d:\d\d\] \S+:\d+: ', '',
                  text[-1] if text else '')
    return f'{type(err).__name__}: {last}'[:300]
