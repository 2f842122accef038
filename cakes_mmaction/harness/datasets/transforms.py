"""Transforms of the shipped configs, registered in mmaction's TRANSFORMS.

* :class:`SegmentSampleFrames`: TSN segment sampling (one frame per
  segment) that yields ONE clip of ``num_segments`` frames, the input of a
  3D network as in the paper.
* :class:`ClassNameFlip`: horizontal flip whose label swap is derived from
  the dataset's class-name file (Something-Something's *left* / *right*
  classes), never from hard-coded indices (the official code used V2's
  indices for V1).
* :class:`CheckedRawFrameDecode`, :class:`CheckedDecordInit`,
  :class:`CheckedDecordDecode`: mmaction's decoders, but a missing, empty,
  truncated or corrupt file raises an error naming that file instead of a
  bare OpenCV / decord message (or a silently wrong sample). The byte checks
  run on the bytes read for decoding, so every file is read once; the
  robust datasets leave the per-file checks to these decoders when their
  pipeline uses them.
"""
import logging
import os.path as osp
import re
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
from mmengine.fileio import FileClient
from mmengine.logging import print_log

from mmaction.datasets.transforms import (DecordDecode, DecordInit, Flip,
                                          RawFrameDecode, SampleFrames)
from mmaction.registry import TRANSFORMS
from ..media import check_image_bytes, check_video_file, video_bytes_problem

__all__ = [
    'SampleDecodeError', 'SegmentSampleFrames', 'ClassNameFlip',
    'flip_label_map_from_names', 'read_class_names', 'describe_flip_map',
    'unpaired_handedness_words', 'HANDEDNESS_WORDS', 'CheckedRawFrameDecode',
    'CheckedDecordInit', 'CheckedDecordDecode'
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


@TRANSFORMS.register_module()
class SegmentSampleFrames(SampleFrames):
    """TSN segment sampling returning one clip of ``num_segments`` frames.

    The video is cut into ``num_segments`` equal segments and one frame is
    taken from each: at a random offset when training, at the segment
    centre when testing (:class:`SampleFrames` with ``clip_len=1``). The
    frames then form one ``num_segments``-frame clip for ``FormatShape``
    (``'NCTHW'``), not ``num_segments`` one-frame clips.

    Args:
        num_segments (int): Frames per clip. Defaults to 8.
        test_mode (bool): Segment centres instead of random offsets.
            Defaults to False.
        **kwargs: Other :class:`SampleFrames` arguments
            (``out_of_bound_opt``, ``keep_tail_frames``, ...).
    """

    def __init__(self,
                 num_segments: int = 8,
                 test_mode: bool = False,
                 **kwargs) -> None:
        for fixed in ('clip_len', 'num_clips', 'frame_interval'):
            if fixed in kwargs:
                raise ValueError(
                    f'SegmentSampleFrames takes num_segments, not {fixed}='
                    f'{kwargs[fixed]!r}: one frame per segment, one clip')
        super().__init__(
            clip_len=1,
            frame_interval=1,
            num_clips=num_segments,
            test_mode=test_mode,
            **kwargs)
        self.num_segments = num_segments

    def transform(self, results: Dict) -> Dict:
        """Sample the frame indices.

        Args:
            results (dict): Needs ``total_frames`` and ``start_index``.

        Returns:
            dict: With ``frame_inds``, ``clip_len=num_segments`` and
            ``num_clips=1``.
        """
        results = super().transform(results)
        results['clip_len'] = self.num_segments
        results['num_clips'] = 1
        return results


# --------------------------------------------------------------------------
# Flip with a label map derived from the class names
# --------------------------------------------------------------------------
def read_class_names(class_file: str) -> List[str]:
    """Read one class name per line; the line number is the label.

    Args:
        class_file (str): Text file (e.g. SthV1's
            ``something-something-v1-labels.csv``, whose names may contain
            commas, so lines are taken whole).

    Returns:
        list[str]: Names, stripped.
    """
    if not osp.isfile(class_file):
        raise FileNotFoundError(f'{class_file}: class-name file not found')
    with open(class_file, encoding='utf-8') as f:
        lines = f.read().splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    for line_no, line in enumerate(lines, start=1):
        if not line.strip():
            raise ValueError(f'{class_file}:{line_no}: empty class name; '
                             'expected one name per line (label = line)')
    return [line.strip() for line in lines]


def flip_label_map_from_names(
        names: Sequence[str],
        swap_words: Sequence[Sequence[str]] = (('left', 'right'), ),
        source: str = 'class names') -> Dict[int, int]:
    """Label map of a mirror flip: swap the words of each pair in names.

    Whole words are swapped, all pairs at once, keeping the case of the
    first letter: ``'Pushing something from left to right'`` maps to
    ``'Pushing something from right to left'``. Names without any of the
    words map to themselves and are left out.

    Args:
        names (Sequence[str]): Class names by label.
        swap_words (Sequence[Sequence[str]]): Word pairs a mirror swaps.
            Defaults to ``(('left', 'right'),)``.
        source (str): The file, for error messages. Defaults to
            ``'class names'``.

    Returns:
        dict[int, int]: Label to mirrored label, for the labels that change.

    Raises:
        ValueError: A name whose mirrored name is not a class.
    """
    twin = {}
    for pair in swap_words:
        if len(pair) != 2:
            raise ValueError(f'swap_words holds word pairs, got {pair!r}')
        a, b = (w.lower() for w in pair)
        twin[a], twin[b] = b, a
    pattern = re.compile(
        r'\b(' + '|'.join(re.escape(w) for w in twin) + r')\b',
        re.IGNORECASE)

    def swap(match: re.Match) -> str:
        word = match.group(0)
        new = twin[word.lower()]
        return new.capitalize() if word[0].isupper() else new

    index = {name: i for i, name in enumerate(names)}
    label_map = {}
    for i, name in enumerate(names):
        mirrored = pattern.sub(swap, name)
        if mirrored == name:
            continue
        if mirrored not in index:
            raise ValueError(
                f'{source}: class {i} {name!r} has no mirror twin: expected '
                f'a class named {mirrored!r} (swapping '
                f'{[tuple(p) for p in swap_words]})')
        label_map[i] = index[mirrored]
    return label_map


#: Words that name a handedness, which a horizontal mirror changes. A class
#: name holding one that no swap pair covers gets a warning: its mirror
#: image may be another class (e.g. 'clockwise' / 'counterclockwise').
HANDEDNESS_WORDS = ('left', 'right', 'leftward', 'rightward', 'leftwards',
                    'rightwards', 'clockwise', 'anticlockwise',
                    'counterclockwise', 'counter-clockwise', 'anti-clockwise')


def unpaired_handedness_words(
        names: Sequence[str],
        swap_words: Sequence[Sequence[str]] = (('left', 'right'), )
) -> Dict[int, List[str]]:
    """Class names holding a handedness word that no swap pair covers.

    Args:
        names (Sequence[str]): Class names by label.
        swap_words (Sequence[Sequence[str]]): The flip's word pairs.
            Defaults to ``(('left', 'right'),)``.

    Returns:
        dict[int, list[str]]: Label to the uncovered words of its name.
    """
    paired = {w.lower() for pair in swap_words for w in pair}
    pattern = re.compile(
        r'(?<![\w-])(' + '|'.join(
            re.escape(w)
            for w in sorted(HANDEDNESS_WORDS, key=len, reverse=True)) +
        r')(?![\w-])', re.IGNORECASE)
    found = {}
    for label, name in enumerate(names):
        words = sorted({
            m.group(0).lower()
            for m in pattern.finditer(name)
        } - paired)
        if words:
            found[label] = words
    return found


@TRANSFORMS.register_module()
class ClassNameFlip(Flip):
    """Horizontal flip that swaps the labels of mirror-image classes.

    The label map is derived from the dataset's class names by
    :func:`flip_label_map_from_names`, so it is right for any dataset and
    any class order (e.g. Something-Something V1 and V2 differ). The names
    come from ``class_file``, or, when that is None, from the dataset that
    owns the pipeline: the robust datasets take a ``class_file`` of their
    own and hand its names to every ``ClassNameFlip`` of their pipeline
    (one key per dataset instead of a pipeline index). The derived map is
    logged, and a class name with a handedness word that no pair swaps
    (e.g. 'clockwise' without ``('clockwise', 'counterclockwise')``) gets
    a warning.

    Args:
        class_file (str, optional): One class name per line, line number =
            label. Defaults to None (names given by the dataset).
        swap_words (Sequence[Sequence[str]]): Word pairs a mirror swaps.
            Defaults to ``(('left', 'right'),)``.
        flip_ratio (float): Probability of flipping. Defaults to 0.5.
        **kwargs: Other :class:`Flip` arguments (``lazy``).
    """

    def __init__(self,
                 class_file: Optional[str] = None,
                 swap_words: Sequence[Sequence[str]] = (('left', 'right'), ),
                 flip_ratio: float = 0.5,
                 **kwargs) -> None:
        for fixed in ('direction', 'flip_label_map'):
            if fixed in kwargs:
                raise ValueError(f'ClassNameFlip flips horizontally with '
                                 f'the map of class_file; got {fixed}')
        super().__init__(
            flip_ratio=flip_ratio,
            direction='horizontal',
            flip_label_map=None,
            **kwargs)
        self.swap_words = [tuple(pair) for pair in swap_words]
        self.class_file = class_file
        self.class_names: Optional[List[str]] = None
        if class_file is not None:
            self.set_class_names(read_class_names(class_file), class_file)

    def set_class_names(self, names: Sequence[str], source: str) -> None:
        """Derive the label map from class names, log it, warn on gaps.

        Args:
            names (Sequence[str]): Class names by label.
            source (str): Where they come from (the class-name file), for
                messages.
        """
        self.flip_label_map = flip_label_map_from_names(
            names, self.swap_words, source=source)
        self.class_names = list(names)
        self.class_file = source
        print_log(
            f'ClassNameFlip: {describe_flip_map(names, self.flip_label_map)}'
            f' (from {source}, swapping {self.swap_words})',
            logger='current')
        unpaired = unpaired_handedness_words(names, self.swap_words)
        if unpaired:
            listed = '; '.join(f'{label} {names[label]!r}: {words}'
                               for label, words in unpaired.items())
            print_log(
                f'ClassNameFlip: {len(unpaired)} class name(s) of {source} '
                f'hold a handedness word that no swap pair covers, so a '
                f'mirrored clip keeps its label: {listed}. Add the pair to '
                f'swap_words (e.g. [("left", "right"), ("clockwise", '
                f'"counterclockwise")]) if a mirror turns one class into '
                f'another.',
                logger='current',
                level=logging.WARNING)

    def transform(self, results: Dict) -> Dict:
        """Flip, swapping the labels of mirror-image classes.

        Args:
            results (dict): mmaction's results dict.

        Returns:
            dict: The flipped (or not) results.
        """
        if self.class_names is None:
            raise RuntimeError(
                'ClassNameFlip has no class names: give the dataset a '
                'class_file (e.g. train_dataloader.dataset.class_file=...; '
                'the robust datasets pass it on) or the step its own '
                'class_file')
        return super().transform(results)

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(class_file={self.class_file!r}, '
                f'flip_ratio={self.flip_ratio}, '
                f'flip_label_map={self.flip_label_map})')


def describe_flip_map(names: Sequence[str],
                      label_map: Dict[int, int]) -> str:
    """One line naming every pair of classes a mirror swaps.

    Args:
        names (Sequence[str]): Class names by label.
        label_map (dict[int, int]): From :func:`flip_label_map_from_names`.

    Returns:
        str: E.g. ``"2 pair(s) swapped: 0 'left' <-> 1 'right', ..."``.
    """
    pairs = sorted({tuple(sorted(item)) for item in label_map.items()})
    if not pairs:
        return f'no class of {len(names)} is swapped by a mirror'
    listed = ', '.join(f'{a} {names[a]!r} <-> {b} {names[b]!r}'
                       for a, b in pairs)
    return f'{len(pairs)} pair(s) of {len(names)} classes swapped: {listed}'


# --------------------------------------------------------------------------
# Decoders that name the bad file
# --------------------------------------------------------------------------
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
