"""What is wrong with the media of one sample, before and after decoding.

The robust datasets (:mod:`~cakes_mmaction.harness.datasets.robust`) turn
each problem found here into a fault under their policy. Every check
returns ``None`` for a good sample, or ``(reason, path)``: a one-line
reason and the file it is about (None: the sample's folder or video).
"""
import os.path as osp
from typing import List, Optional, Tuple

import numpy as np

from ..media import (check_image_file, check_video_file, count_frames,
                     decode_image_file, frame_path)

__all__ = [
    'media_problem', 'frame_files', 'frame_files_problem',
    'decoded_frames_problem', 'images_problem'
]

Problem = Optional[Tuple[str, Optional[str]]]


def media_problem(info: dict,
                  media_kind: str,
                  check_frames: bool = True,
                  read_files: bool = True) -> Problem:
    """Check a sample's video file or frame folder against its list entry.

    Args:
        info (dict): The sample's data info (``filename`` for videos;
            ``frame_dir``, ``filename_tmpl``, ``start_index``,
            ``total_frames`` and optionally ``offset`` for rawframes).
        media_kind (str): ``'video'`` or ``'rawframes'``.
        check_frames (bool): Compare the frames in the folder with the
            listed count. Defaults to True.
        read_files (bool): Read the video's container structure (the
            checked decoders do it on the bytes they read otherwise).
            Defaults to True.

    Returns:
        tuple[str, str | None] | None: The problem, if any.
    """
    if media_kind == 'video':
        path = info['filename']
        if not osp.splitext(path)[1]:
            path += '.mp4'  # what mmaction2's DecordInit opens
        if not osp.exists(path):
            return 'missing video file', path
        reason = check_video_file(path) if read_files else None
        return (reason, path) if reason else None
    frame_dir = info['frame_dir']
    if not osp.isdir(frame_dir):
        return 'frame folder not found', None
    if not check_frames or info.get('modality', 'RGB') != 'RGB':
        return None
    tmpl = info['filename_tmpl']
    first = info['start_index'] + info.get('offset', 0)
    last = first + info['total_frames'] - 1
    # One listing of the folder (file names only) finds a frame missing
    # anywhere in the listed range, not only at its end: a gap would
    # fail (or, with a lenient decoder, be filled) only when sampled.
    present = set(count_frames(frame_dir, tmpl))
    gaps = [i for i in range(first, last + 1) if i not in present]
    if gaps and last in present:
        names = [tmpl.format(i) for i in gaps[:5]]
        return (f'the list says {info["total_frames"]} frames '
                f'({tmpl.format(first)} .. {tmpl.format(last)}) but '
                f'{len(gaps)} in that range are missing: {names}'
                f'{" ..." if len(gaps) > 5 else ""}',
                frame_path(frame_dir, tmpl, gaps[0]))
    if last not in present:
        return (f'the list says {info["total_frames"]} frames, so '
                f'{tmpl.format(last)} should exist, but the folder has '
                f'{len(present)} frame files (a wrong count would make the '
                f'sampler reuse or miss frames)', None)
    if 'offset' not in info and last + 1 in present:
        return (f'the list says {info["total_frames"]} frames but the '
                f'folder has {len(present)} (frames after '
                f'{tmpl.format(last)} would never be sampled)', None)
    return None


def frame_files(info: dict, results: dict) -> List[str]:
    """The frame files the sampled ``frame_inds`` will load, once each."""
    inds = np.asarray(results['frame_inds']).reshape(-1)
    offset = info.get('offset', 0)
    seen = dict.fromkeys(int(i) + offset for i in inds)
    return [
        frame_path(info['frame_dir'], info['filename_tmpl'], i) for i in seen
    ]


def frame_files_problem(info: dict, results: dict) -> Problem:
    """Byte checks of the frames a sample is about to decode."""
    if info.get('modality', 'RGB') != 'RGB':
        return None
    for path in frame_files(info, results):
        reason = check_image_file(path)
        if reason:
            return reason, path
    return None


def decoded_frames_problem(info: dict, results: Optional[dict]) -> Problem:
    """The frame that made ``RawFrameDecode`` fail and why, if one is bad
    (a full decode of each sampled frame)."""
    if info.get('modality', 'RGB') != 'RGB' or 'frame_inds' not in (results
                                                                    or {}):
        return None
    for path in frame_files(info, results):
        reason = decode_image_file(path)
        if reason:
            return reason, path
    return None


def images_problem(info: dict, results: dict, media_kind: str) -> Problem:
    """Decoded frames that are empty, or of different shapes."""
    imgs = results['imgs']
    shapes = set()
    for i, img in enumerate(imgs):
        if img is None or not hasattr(img, 'shape') or img.size == 0:
            where = None
            if media_kind == 'rawframes' and 'frame_inds' in results:
                inds = np.asarray(results['frame_inds']).reshape(-1)
                where = frame_path(info['frame_dir'], info['filename_tmpl'],
                                   int(inds[i]) + info.get('offset', 0))
            return (f'frame {i} of the clip decoded to nothing '
                    f'({type(img).__name__}); the file is corrupt', where)
        shapes.add(tuple(img.shape))
    if len(shapes) > 1:
        return f'decoded frames differ in shape: {sorted(shapes)}', None
    return None
