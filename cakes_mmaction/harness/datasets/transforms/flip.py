"""The horizontal flip whose label swap comes from the class names.

Something-Something's *left* / *right* classes swap under a flip; the
swap is derived from the dataset's class-name file, never from hard-coded
indices (the official code used V2's indices for V1).
"""
import logging
import os.path as osp
import re
from typing import Dict, List, Optional, Sequence

from mmaction.datasets.transforms import Flip
from mmaction.registry import TRANSFORMS
from mmengine.logging import print_log

__all__ = [
    'ClassNameFlip', 'flip_label_map_from_names', 'read_class_names',
    'describe_flip_map', 'unpaired_handedness_words', 'HANDEDNESS_WORDS'
]


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
