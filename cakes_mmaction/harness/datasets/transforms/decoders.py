"""mmaction's decoders, but a bad file raises an error naming that file.

A missing, empty, truncated or corrupt file raises instead of a bare
OpenCV / decord message (or a silently wrong sample). The byte checks run
on the bytes read for decoding, so every file is read once.
"""
import os.path as osp
from typing import Dict, List, Optional, Tuple

import numpy as np
from mmaction.datasets.transforms import (DecordDecode, DecordInit,
                                          RawFrameDecode)
from mmaction.registry import TRANSFORMS
from mmengine.fileio import FileClient

from ...media import check_image_bytes, check_video_file, video_bytes_problem

__all__ = [
    'SampleDecodeError', 'CheckedRawFrameDecode', 'CheckedDecordInit',
    'CheckedDecordDecode'
]


class SampleDecodeError(RuntimeError):
    """A video or frame file that cannot be decoded; ``path`` names it.

    Args:
        path (str): The offending file or folder.
        message (str): What is wrong with it.
    """

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f'{path}: {message}')
        self.path = path
        self.reason = message


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return f'{type(err).__name__}: {text[0][:200] if text else ""}'


class _CheckedFileClient:
    """Reads bytes through a FileClient and rejects what cannot be right.

    A missing file raises an error naming it; the bytes read are checked
    by the byte checks of :mod:`~cakes_mmaction.harness.media` (empty
    file, JPEG/PNG markers for frames, the MP4 box structure for videos),
    so each file is read once, for decoding and checking alike. The last
    path read is kept so a decoding failure that follows can name it too.
    """

    def __init__(self, client: FileClient, what: str) -> None:
        self.client = client
        self.what = what
        self.last_path: Optional[str] = None

    def get(self, path: str) -> bytes:
        self.last_path = path
        try:
            data = self.client.get(path)
        except FileNotFoundError as err:
            raise FileNotFoundError(
                f'{path}: {self.what} file not found') from err
        if self.what == 'video':
            reason = video_bytes_problem(data, path)
        else:
            reason = check_image_bytes(data, path)
        if reason:
            raise SampleDecodeError(path, reason)
        return data


@TRANSFORMS.register_module()
class CheckedRawFrameDecode(RawFrameDecode):
    """:class:`RawFrameDecode` whose errors name the frame file.

    Args:
        **kwargs: :class:`RawFrameDecode` arguments (``io_backend``,
            ``decoding_backend``).
    """

    def transform(self, results: Dict) -> Dict:
        """Decode the sampled frames.

        Args:
            results (dict): Needs ``frame_dir``, ``filename_tmpl``,
                ``frame_inds``, ``modality``.

        Returns:
            dict: With ``imgs``, ``img_shape``, ``original_shape``.
        """
        frame_dir = results['frame_dir']
        if self.io_backend == 'disk' and not osp.isdir(frame_dir):
            raise FileNotFoundError(f'{frame_dir}: frame folder not found')
        if not isinstance(self.file_client, _CheckedFileClient):
            self.file_client = _CheckedFileClient(
                FileClient(self.io_backend, **self.kwargs), 'frame')
        try:
            results = super().transform(results)
        except (FileNotFoundError, SampleDecodeError):
            raise
        except Exception as err:  # OpenCV's error for undecodable bytes
            path = self.file_client.last_path or frame_dir
            raise SampleDecodeError(
                path, f'cannot decode this frame ({_first_line(err)})'
            ) from err
        bad = [i for i, img in enumerate(results['imgs']) if img is None]
        if bad:
            raise SampleDecodeError(frame_dir,
                                    f'frames at positions {bad} decoded empty')
        return results


@TRANSFORMS.register_module()
class CheckedDecordInit(DecordInit):
    """:class:`DecordInit` whose errors name the video file.

    A missing, empty, truncated (no index, a container cut short) or
    corrupt video, or one with no frames, raises an error naming it.

    Local files (``io_backend='disk'``) are decoded *by path*, after the
    container structure (MP4/MOV boxes, AVI RIFF chunks, Matroska/WebM
    elements) has been checked from its headers. mmaction2's
    :class:`DecordInit` reads the whole file into memory and decodes from
    there, and decord's in-memory reader crashes the process (SIGSEGV) on a
    cut AVI; by path the same file gives an error. Other backends keep the
    in-memory path with the same byte checks on the bytes read.

    Args:
        **kwargs: :class:`DecordInit` arguments (``io_backend``,
            ``num_threads``).
    """

    def _get_video_reader(self, filename: str) -> object:
        if osp.splitext(filename)[0] == filename:
            filename = filename + '.mp4'  # as DecordInit does
        if self.io_backend == 'disk' and not self.kwargs:
            return self._open_by_path(filename)
        if not isinstance(self.file_client, _CheckedFileClient):
            self.file_client = _CheckedFileClient(
                FileClient(self.io_backend, **self.kwargs), 'video')
        try:
            reader = super()._get_video_reader(filename)
        except (FileNotFoundError, SampleDecodeError):
            raise
        except Exception as err:  # decord's DECORDError / RuntimeError
            raise SampleDecodeError(
                self.file_client.last_path or filename,
                f'decord cannot open this video, truncated or corrupt? '
                f'({_first_line(err)})') from err
        if len(reader) == 0:
            raise SampleDecodeError(filename, 'video has no frames')
        return reader

    def _open_by_path(self, filename: str) -> object:
        import decord
        if not osp.exists(filename):
            raise FileNotFoundError(f'{filename}: video file not found')
        reason = check_video_file(filename)
        if reason:
            raise SampleDecodeError(filename, reason)
        try:
            reader = decord.VideoReader(filename, num_threads=self.num_threads)
        except Exception as err:  # decord's DECORDError / RuntimeError
            raise SampleDecodeError(
                filename, f'decord cannot open this video, truncated or '
                f'corrupt? ({_first_line(err)})') from err
        if len(reader) == 0:
            raise SampleDecodeError(filename, 'video has no frames')
        return reader


@TRANSFORMS.register_module()
class CheckedDecordDecode(DecordDecode):
    """:class:`DecordDecode` whose errors name the video file.

    Args:
        mode (str): ``'accurate'`` or ``'efficient'``. Defaults to
            ``'accurate'``.
    """

    def transform(self, results: Dict) -> Dict:
        """Decode the sampled frames.

        Args:
            results (dict): Needs ``video_reader``, ``frame_inds`` and (to
                name the file) ``filename``.

        Returns:
            dict: With ``imgs``, ``img_shape``, ``original_shape``.
        """
        filename = results.get('filename', '<video>')
        wanted = np.asarray(results['frame_inds']).reshape(-1)
        try:
            results = super().transform(results)
        except Exception as err:  # decord's DECORDError and friends
            raise SampleDecodeError(
                filename, f'decord cannot decode frames '
                f'{wanted.tolist()} of {results.get("total_frames")} '
                f'({_first_line(err)})') from err
        shapes: List[Tuple[int, ...]] = [
            getattr(img, 'shape', ()) for img in results['imgs']
        ]
        if len(shapes) != len(wanted) or any(
                len(s) != 3 or 0 in s for s in shapes):
            raise SampleDecodeError(
                filename, f'decord returned {len(shapes)} frames of shapes '
                f'{sorted(set(shapes))} for {len(wanted)} requested')
        return results
