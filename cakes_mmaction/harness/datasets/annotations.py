"""Strict, line-numbered parsing of mmaction2 annotation lists.

mmaction2's datasets parse their lists without line numbers: a blank line,
a missing field or a label that is not an integer fails with a bare
``IndexError``/``ValueError``, and a label outside the classifier's range
only fails later, inside the loss, far from the list. This module reads the
same two formats and reports every bad line with its number:

- rawframes (:class:`~mmaction.datasets.RawframeDataset`):
  ``frame_dir [offset] total_frames label [label ...]``, split on
  whitespace;
- videos (:class:`~mmaction.datasets.VideoDataset`):
  ``filename label [label ...]``, split on ``delimiter``.
"""
import os.path as osp
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

from mmengine.fileio import list_from_file

from .faults import DataProblem

__all__ = ['AnnotationEntry', 'parse_annotation_list', 'find_duplicates']

_BOM = '\ufeff'


@dataclass(frozen=True)
class AnnotationEntry:
    """One usable line of an annotation list.

    Args:
        line (int): 1-based line number.
        media (str): The media path as written in the list.
        path (str): ``media`` joined with the dataset's data prefix.
        labels (tuple[int]): Labels; ``(-1,)`` for an unlabelled line.
        total_frames (int, optional): Frames given by the list
            (rawframes only).
        offset (int): First frame offset (rawframes ``with_offset``).
            Defaults to 0.
    """

    line: int
    media: str
    path: str
    labels: Tuple[int, ...]
    total_frames: Optional[int] = None
    offset: int = 0


def _parse_int(text: str, what: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ValueError(f'{what} {text!r} is not an integer') from None


def _split_line(text: str, kind: str, with_offset: bool,
                delimiter: str) -> Tuple[str, Optional[int], int, List[str]]:
    """Fields of one line: media, total_frames, offset, label texts."""
    if kind == 'rawframes':
        fields = text.split()
        need = 3 if with_offset else 2
        if len(fields) < need:
            layout = ('frame_dir offset total_frames label'
                      if with_offset else 'frame_dir total_frames label')
            raise ValueError(f'expected "{layout}", got {len(fields)} '
                             f'field(s)')
        offset = _parse_int(fields[1], 'offset') if with_offset else 0
        total = _parse_int(fields[need - 1], 'total_frames')
        return fields[0], total, offset, fields[need:]
    fields = text.split(delimiter)
    return fields[0], None, 0, fields[1:]


def parse_annotation_list(
    ann_file: str,
    kind: str,
    *,
    prefix: Optional[str] = None,
    with_offset: bool = False,
    multi_class: bool = False,
    delimiter: str = ' ',
    num_classes: Optional[int] = None,
    allow_unlabelled: bool = False,
    split: Optional[str] = None,
    strip_bom: bool = True
) -> Tuple[List[AnnotationEntry], List[DataProblem]]:
    """Parse an annotation list and report every bad line.

    Args:
        ann_file (str): The list.
        kind (str): ``'rawframes'`` or ``'video'``.
        prefix (str, optional): Data prefix joined to each media path.
            Defaults to None.
        with_offset (bool): Rawframes lines carry an offset. Defaults to
            False.
        multi_class (bool): Lines may carry several labels. Defaults to
            False.
        delimiter (str): Field separator of video lists. Defaults to
            ``' '``.
        num_classes (int, optional): Labels must be in
            ``[0, num_classes)``. Defaults to None (not checked).
        allow_unlabelled (bool): Accept lines without a label (mmaction2
            gives them label -1; only meaningful for inference). Defaults
            to False.
        split (str, optional): Recorded in the problems. Defaults to None.
        strip_bom (bool): A UTF-8 byte-order mark at the start (written by
            some Windows editors) is dropped, as the robust datasets do.
            False reports it as a problem: mmaction2's own datasets read it
            as an invisible first character of the first path. Defaults
            to True.

    Returns:
        tuple[list[AnnotationEntry], list[DataProblem]]: The usable lines
        and the problems, both in file order.
    """
    if kind not in ('rawframes', 'video'):
        raise ValueError(f"kind must be 'rawframes' or 'video', got {kind!r}")
    if not osp.isfile(ann_file):
        problem = DataProblem(
            'missing',
            ann_file,
            'annotation list not found',
            ann_file,
            split=split)
        return [], [problem]
    entries: List[AnnotationEntry] = []
    problems: List[DataProblem] = []

    def bad(line_no: int, media: str, kind_: str, detail: str) -> None:
        problems.append(
            DataProblem(kind_, media or ann_file, detail, ann_file, line_no,
                        split))

    lines = list_from_file(ann_file)
    if lines and lines[0].startswith(_BOM):
        lines[0] = lines[0][len(_BOM):]
        if not strip_bom:
            bad(1, '', 'bad_line', 'the list starts with a UTF-8 byte-order '
                'mark (U+FEFF, invisible), which this dataset type reads as '
                'part of the first path; save the list as UTF-8 without a '
                'BOM, or use a Robust*Dataset, which drops it')
    for line_no, raw in enumerate(lines, start=1):
        text = raw.strip()
        if not text:
            bad(line_no, '', 'bad_line', 'empty line (mmaction2 fails on '
                'it with an IndexError)')
            continue
        try:
            media, total, offset, label_texts = _split_line(
                text, kind, with_offset, delimiter)
            labels = tuple(_parse_int(t, 'label') for t in label_texts)
        except ValueError as err:
            bad(line_no, '', 'bad_line', f'{err}: {text!r}')
            continue
        path = osp.join(prefix, media) if prefix else media
        if total is not None and total <= 0:
            bad(line_no, path, 'frame_count',
                f'total_frames is {total}, expected a positive count')
            continue
        if offset < 0:
            bad(line_no, path, 'bad_line', f'offset is {offset}, expected '
                '>= 0')
            continue
        if not labels:
            if not allow_unlabelled:
                bad(
                    line_no, path, 'label_missing',
                    'no label on this line (mmaction2 would use -1, which '
                    'no classifier accepts)')
                continue
            labels = (-1, )
        elif len(labels) > 1 and not multi_class:
            bad(
                line_no, path, 'bad_line',
                f'{len(labels)} labels {list(labels)} but the dataset is '
                'not multi_class')
            continue
        elif num_classes is not None:
            out = [la for la in labels if not 0 <= la < num_classes]
            if out:
                bad(
                    line_no, path, 'label_range',
                    f'label {out[0]} is outside [0, {num_classes}) of the '
                    f'classifier ({num_classes} classes)')
                continue
        entries.append(
            AnnotationEntry(line_no, media, path, labels, total, offset))
    if not entries and not problems:
        problems.append(
            DataProblem(
                'empty',
                ann_file,
                'the annotation list has no entries (an empty file); a '
                'dataset needs at least one sample',
                ann_file,
                split=split))
    return entries, problems


def find_duplicates(entries: Sequence[AnnotationEntry],
                    ann_file: str,
                    split: Optional[str] = None) -> List[DataProblem]:
    """Entries whose media path appeared on an earlier line.

    Args:
        entries (Sequence[AnnotationEntry]): Parsed lines.
        ann_file (str): Their list, for the messages.
        split (str, optional): Recorded in the problems.

    Returns:
        list[DataProblem]: One problem per repeated line.
    """
    first = {}
    problems = []
    for entry in entries:
        key = (entry.path, entry.offset)
        if key in first:
            problems.append(
                DataProblem('duplicate', entry.path,
                            f'also listed on line {first[key]}', ann_file,
                            entry.line, split))
        else:
            first[key] = entry.line
    return problems
