"""Data faults: one record per problem, and the errors that carry them.

Every message names the annotation file and line, the media file and what
was expected, so a run never stops on a trace without a file name.
"""
from dataclasses import asdict, dataclass
from typing import Iterable, Optional

__all__ = [
    'DataProblem', 'AnnotationError', 'DataFaultError', 'SkipLimitError',
    'format_problems'
]


@dataclass(frozen=True)
class DataProblem:
    """One problem found in an annotation list or a media file.

    Args:
        kind (str): Short category, e.g. ``'missing'``, ``'truncated'``,
            ``'frame_count'``, ``'label_range'``, ``'duplicate'``.
        path (str): The media file or folder concerned (or the annotation
            file for problems of the list itself).
        detail (str): What was expected and what was found.
        ann_file (str, optional): The annotation list. Defaults to None.
        line (int, optional): 1-based line in ``ann_file``. Defaults to None.
        split (str, optional): ``'train'``, ``'val'`` or ``'test'``.
            Defaults to None.
    """

    kind: str
    path: str
    detail: str
    ann_file: Optional[str] = None
    line: Optional[int] = None
    split: Optional[str] = None

    def __str__(self) -> str:
        where = ''
        if self.ann_file:
            where = f'{self.ann_file}:{self.line}: ' if self.line else (
                f'{self.ann_file}: ')
        media = f'{self.path}: ' if self.path != self.ann_file else ''
        return f'{where}{media}[{self.kind}] {self.detail}'

    def to_dict(self) -> dict:
        """Plain dict for JSON reports."""
        return asdict(self)


def format_problems(problems: Iterable[DataProblem], limit: int = 20) -> str:
    """One line per problem, at most ``limit`` lines plus a count.

    Args:
        problems (Iterable[DataProblem]): The problems.
        limit (int): Lines to show. Defaults to 20.

    Returns:
        str: The text.
    """
    problems = list(problems)
    lines = [str(p) for p in problems[:limit]]
    if len(problems) > limit:
        lines.append(f'... and {len(problems) - limit} more')
    return '\n'.join(lines)


class AnnotationError(ValueError):
    """An annotation list that cannot be used (bad lines, bad labels)."""


class DataFaultError(RuntimeError):
    """A sample that cannot be loaded; the message names its files.

    Args:
        message (str): The whole message (list line, sample, file, reason).
        path (str, optional): The bad file (the frame file, not only its
            folder, when one is known). Defaults to None.
        reason (str, optional): What is wrong with it. Defaults to None.
    """

    def __init__(self,
                 message: str,
                 path: Optional[str] = None,
                 reason: Optional[str] = None) -> None:
        super().__init__(message)
        self.path = path
        self.reason = reason


class SkipLimitError(RuntimeError):
    """More samples were skipped than the dataset's policy allows."""
