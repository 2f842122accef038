"""The one writer of frames and videos: the synthetic generator and the
tests' media helpers write through it.

Frames are RGB ``uint8`` arrays of shape ``(T, H, W, 3)``, as the
generator renders them and mmaction2's pipelines decode them.
"""
import os
import os.path as osp
import struct
from typing import List, Optional

import numpy as np

from .containers import mp4_boxes

__all__ = ['write_frames', 'write_video', 'mp4_faststart']


def write_frames(frame_dir: str,
                 frames: np.ndarray,
                 filename_tmpl: str = 'img_{:05}.jpg',
                 start_index: int = 1,
                 quality: Optional[int] = None) -> List[str]:
    """Write frames as one image file each (the rawframes layout).

    Args:
        frame_dir (str): Folder to create.
        frames (np.ndarray): ``(T, H, W, 3)`` RGB ``uint8``.
        filename_tmpl (str): File name of frame ``i``. Defaults to
            ``'img_{:05}.jpg'`` (mmaction2's).
        start_index (int): Number of the first file. Defaults to 1.
        quality (int, optional): JPEG quality. Defaults to None (OpenCV's
            default, 95).

    Returns:
        list[str]: The frame paths.
    """
    import cv2
    os.makedirs(frame_dir, exist_ok=True)
    params = [] if quality is None else [cv2.IMWRITE_JPEG_QUALITY, quality]
    paths = []
    for i, frame in enumerate(frames):
        path = osp.join(frame_dir, filename_tmpl.format(start_index + i))
        if not cv2.imwrite(path, cv2.cvtColor(frame, cv2.COLOR_RGB2BGR),
                           params):
            raise OSError(f'{path}: OpenCV could not write the frame')
        paths.append(path)
    return paths


def write_video(path: str,
                frames: np.ndarray,
                fps: int = 10,
                fourcc: str = 'mp4v',
                faststart: bool = False) -> str:
    """Write a video with OpenCV (the container follows the file name).

    Args:
        path (str): Destination: ``.mp4``, or ``.avi``/``.mkv`` with
            another ``fourcc``.
        frames (np.ndarray): ``(T, H, W, 3)`` RGB ``uint8``; decord 0.6.0
            fails on some frame widths (16, 24, 48, 72 px).
        fps (int): Defaults to 10.
        fourcc (str): Codec, e.g. ``'MJPG'`` for an AVI or MKV. Defaults to
            ``'mp4v'`` (MPEG-4 part 2).
        faststart (bool): Put the index (``moov``) before the data, as
            streaming encoders do, so a copy cut short still opens and
            promises all frames. MP4 only. Defaults to False.

    Returns:
        str: ``path``.
    """
    import cv2
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    height, width = frames.shape[1:3]
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*fourcc), fps,
                             (width, height))
    if not writer.isOpened():
        raise OSError(f'{path}: OpenCV cannot write {fourcc} videos here')
    for frame in frames:
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()
    if faststart and path.lower().endswith('.mp4'):
        with open(path, 'rb') as f:
            data = f.read()
        with open(path, 'wb') as f:
            f.write(mp4_faststart(data))
    return path


def mp4_faststart(data: bytes) -> bytes:
    """Move the ``moov`` box of an MP4 before ``mdat``.

    Chunk offsets (``stco``) are shifted by the size of ``moov``.

    Args:
        data (bytes): An MP4 with ``moov`` at the end.

    Returns:
        bytes: The same movie with ``moov`` first.

    Raises:
        ValueError: Not an MP4 with ``moov`` and ``mdat`` boxes, one whose
            boxes are damaged (:class:`~.containers.ContainerError`), or
            one with 64-bit chunk offsets (``co64``).
    """
    top = list(mp4_boxes(lambda pos, n: data[pos:pos + n], 0, len(data)))
    kinds = [kind for _, _, kind in top]
    if b'moov' not in kinds or b'mdat' not in kinds:
        raise ValueError('not an MP4 with moov and mdat boxes')
    if kinds.index(b'moov') < kinds.index(b'mdat'):
        return data
    pos, size, _ = top[kinds.index(b'moov')]
    moov = bytearray(data[pos:pos + size])

    def shift(start: int, end: int) -> None:
        boxes = mp4_boxes(lambda at, n: bytes(moov[at:at + n]), start, end)
        for bpos, bsize, kind in boxes:
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
