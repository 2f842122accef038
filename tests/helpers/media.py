"""Tiny frames and videos for tests, good and deliberately damaged."""
import os
import os.path as osp
import struct
from typing import Iterator, Tuple

import numpy as np

__all__ = [
    'write_frames', 'write_video', 'truncate_file', 'mp4_faststart',
    'write_list', 'zero_tail'
]


def _frame(rng: np.random.RandomState, size: Tuple[int, int]) -> np.ndarray:
    h, w = size
    return (rng.rand(h, w, 3) * 255).astype(np.uint8)


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
    import cv2
    os.makedirs(frame_dir, exist_ok=True)
    rng = np.random.RandomState(seed)
    paths = []
    for i in range(num_frames):
        path = osp.join(frame_dir, filename_tmpl.format(start_index + i))
        if not cv2.imwrite(path, _frame(rng, size)):
            raise OSError(f'cv2 could not write {path}')
        paths.append(path)
    return paths


def write_video(path: str,
                num_frames: int,
                size: Tuple[int, int] = (32, 32),
                fps: int = 10,
                seed: int = 0,
                faststart: bool = True,
                fourcc: str = 'mp4v') -> str:
    """Write a small video with OpenCV (the container follows the name).

    Args:
        path (str): Destination: ``.mp4``, or ``.avi``/``.mkv`` with
            another ``fourcc``.
        num_frames (int): Frames.
        size (tuple[int, int]): ``(H, W)``; decord needs widths that are
            multiples of 8 here. Defaults to ``(32, 32)``.
        fps (int): Defaults to 10.
        seed (int): Content seed. Defaults to 0.
        faststart (bool): Put the index (``moov``) before the data, as
            streaming encoders do, so a copy cut short still opens and
            promises all frames. MP4 only. Defaults to True.
        fourcc (str): Codec, e.g. ``'MJPG'`` for an AVI or MKV. Defaults to
            ``'mp4v'`` (MPEG-4 part 2).

    Returns:
        str: ``path``.
    """
    import cv2
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    h, w = size
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*fourcc), fps,
                             (w, h))
    if not writer.isOpened():
        raise OSError(f'cv2 cannot write {fourcc} into {path}')
    rng = np.random.RandomState(seed)
    for _ in range(num_frames):
        writer.write(_frame(rng, size))
    writer.release()
    if faststart and path.lower().endswith('.mp4'):
        with open(path, 'rb') as f:
            data = f.read()
        with open(path, 'wb') as f:
            f.write(mp4_faststart(data))
    return path


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


def _boxes(buf: bytes, start: int, end: int) -> Iterator[tuple]:
    pos = start
    while pos + 8 <= end:
        size, kind = struct.unpack('>I4s', buf[pos:pos + 8])
        if size < 8:
            raise ValueError(f'unsupported MP4 box size {size} at {pos}')
        yield pos, size, kind
        pos += size


def mp4_faststart(data: bytes) -> bytes:
    """Move the ``moov`` box of an MP4 before ``mdat``.

    Chunk offsets (``stco``) are shifted by the size of ``moov``.

    Args:
        data (bytes): An MP4 with ``moov`` at the end.

    Returns:
        bytes: The same movie with ``moov`` first.
    """
    top = list(_boxes(data, 0, len(data)))
    kinds = [k for _, _, k in top]
    if b'moov' not in kinds or b'mdat' not in kinds:
        raise ValueError('not an MP4 with moov and mdat boxes')
    if kinds.index(b'moov') < kinds.index(b'mdat'):
        return data
    pos, size, _ = top[kinds.index(b'moov')]
    moov = bytearray(data[pos:pos + size])

    def shift(start: int, end: int) -> None:
        for bpos, bsize, kind in _boxes(moov, start, end):
            if kind in (b'trak', b'mdia', b'minf', b'stbl'):
                shift(bpos + 8, bpos + bsize)
            elif kind == b'stco':
                count = struct.unpack('>I', moov[bpos + 12:bpos + 16])[0]
                for k in range(count):
                    at = bpos + 16 + 4 * k
                    value = struct.unpack('>I', moov[at:at + 4])[0]
                    struct.pack_into('>I', moov, at, value + size)
            elif kind == b'co64':
                raise ValueError('co64 chunk offsets are not supported')

    shift(8, len(moov))
    out = bytearray()
    for bpos, bsize, kind in top:
        if kind == b'moov':
            continue
        if kind == b'mdat':
            out += moov
        out += data[bpos:bpos + bsize]
    return bytes(out)


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
