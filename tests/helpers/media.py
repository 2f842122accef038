"""Tiny frames and videos for tests, good and deliberately damaged.

The files are written by the package's one writer
(:mod:`cakes_mmaction.harness.media.writers`); this module only draws
their random content and damages them.
"""
import os
import os.path as osp
from typing import Tuple

import numpy as np

from cakes_mmaction.harness.media import write_frames as _write_frames
from cakes_mmaction.harness.media import write_video as _write_video

__all__ = [
    'write_frames', 'write_video', 'truncate_file', 'write_list', 'zero_tail'
]


def _frames(num_frames: int, size: Tuple[int, int],
            seed: int) -> np.ndarray:
    h, w = size
    rng = np.random.RandomState(seed)
    return np.stack([(rng.rand(h, w, 3) * 255).astype(np.uint8)
                     for _ in range(num_frames)])


def write_frames(frame_dir: str,
                 num_frames: int,
                 size: Tuple[int, int] = (16, 16),
                 filename_tmpl: str = 'img_{:05}.jpg',
                 start_index: int = 1,
                 seed: int = 0) -> list:
    """Write ``num_frames`` random JPEG frames.

    Args:
        frame_dir (str): Folder to create.
        num_frames (int): Frames.
        size (tuple[int, int]): ``(H, W)``. Defaults to ``(16, 16)``.
        filename_tmpl (str): Defaults to ``'img_{:05}.jpg'``.
        start_index (int): Number of the first file. Defaults to 1.
        seed (int): Content seed. Defaults to 0.

    Returns:
        list[str]: The frame paths.
    """
    return _write_frames(frame_dir, _frames(num_frames, size, seed),
                         filename_tmpl=filename_tmpl,
                         start_index=start_index)


def write_video(path: str,
                num_frames: int,
                size: Tuple[int, int] = (32, 32),
                fps: int = 10,
                seed: int = 0,
                faststart: bool = True,
                fourcc: str = 'mp4v') -> str:
    """Write a small random video (the container follows the name).

    Args:
        path (str): Destination: ``.mp4``, or ``.avi``/``.mkv`` with
            another ``fourcc``.
        num_frames (int): Frames.
        size (tuple[int, int]): ``(H, W)``; decord needs widths that are
            multiples of 8 here. Defaults to ``(32, 32)``.
        fps (int): Defaults to 10.
        seed (int): Content seed. Defaults to 0.
        faststart (bool): ``moov`` before the data (see
            :func:`~cakes_mmaction.harness.media.write_video`). Defaults to
            True.
        fourcc (str): Codec. Defaults to ``'mp4v'`` (MPEG-4 part 2).

    Returns:
        str: ``path``.
    """
    return _write_video(path, _frames(num_frames, size, seed), fps=fps,
                        fourcc=fourcc, faststart=faststart)


def truncate_file(path: str, keep: float) -> int:
    """Cut a file short, as an interrupted copy or download does.

    Args:
        path (str): The file.
        keep (float): Fraction of the bytes to keep (< 1), or a byte count
            (>= 1).

    Returns:
        int: The new size.
    """
    size = osp.getsize(path)
    new = int(size * keep) if keep < 1 else int(keep)
    with open(path, 'r+b') as f:
        f.truncate(new)
    return new


def zero_tail(path: str, keep: float) -> None:
    """Overwrite the end of a file with zeros, keeping its size.

    This is what a file preallocated by a copy tool looks like after a
    crash: the container is whole, the data is not.

    Args:
        path (str): The file.
        keep (float): Fraction of the bytes left intact.
    """
    size = osp.getsize(path)
    start = int(size * keep)
    with open(path, 'r+b') as f:
        f.seek(start)
        f.write(bytes(size - start))


def write_list(path: str, lines: list) -> str:
    """Write an annotation list, one entry per line.

    Args:
        path (str): Destination.
        lines (list[str]): Lines without newlines.

    Returns:
        str: ``path``.
    """
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    with open(path, 'w') as f:
        f.write(''.join(line + '\n' for line in lines))
    return path
