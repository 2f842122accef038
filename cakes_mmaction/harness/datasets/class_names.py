"""A dataset's class names: one file, checked, handed to the flip.

The class-name file is a dataset-level setting (``class_file`` of the
robust datasets): the dataset reads it once, checks its line count against
``num_classes``, and gives the names to every
:class:`~cakes_mmaction.harness.datasets.transforms.ClassNameFlip` of its
pipeline that has no file of its own. :func:`class_file_problems` runs the same
checks on a config, before anything is built, for ``validate_config``.
"""
import logging
import os.path as osp
from typing import Any, List, Mapping, Optional, Sequence

from mmengine.logging import print_log

from .faults import AnnotationError
from .transforms import (ClassNameFlip, flip_label_map_from_names,
                         read_class_names)

__all__ = ['give_class_names', 'class_file_problems']

_FLIP_TYPES = ('ClassNameFlip', ClassNameFlip)


def _count_problem(class_file: str, count: int,
                   num_classes: Optional[int]) -> Optional[str]:
    if num_classes is None or count == num_classes:
        return None
    return (f'{class_file}: {count} class names, but num_classes is '
            f'{num_classes} (one name per class, line number = label)')


def give_class_names(dataset: Any, class_file: Optional[str]) -> None:
    """Read a dataset's class names and give them to its flips.

    Args:
        dataset (BaseActionDataset): Built, with its ``pipeline``;
            ``num_classes`` is checked when set.
        class_file (str, optional): The class-name file; None leaves every
            flip with its own ``class_file``.

    Raises:
        AnnotationError: A file whose name count is not ``num_classes``.
        ValueError: A flip without names while the dataset has none.
    """
    names = None
    if class_file is not None:
        names = read_class_names(class_file)
        problem = _count_problem(class_file, len(names),
                                 getattr(dataset, 'num_classes', None))
        if problem:
            raise AnnotationError(problem)
        dataset._metainfo['classes'] = tuple(names)
    for transform in getattr(dataset.pipeline, 'transforms', []):
        if not isinstance(transform, ClassNameFlip):
            continue
        if transform.class_names is None:
            if names is None:
                raise ValueError(
                    f'{dataset.ann_file}: the pipeline flips with '
                    'ClassNameFlip, which needs class names: set the '
                    "dataset's class_file (the top-level class_file of "
                    'the shipped data bases)')
            transform.set_class_names(names, class_file)
        elif class_file is not None and osp.abspath(
                transform.class_file) != osp.abspath(class_file):
            print_log(
                f'{dataset.ann_file}: ClassNameFlip reads '
                f'{transform.class_file}, its own class_file, not the '
                f"dataset's {class_file}",
                logger='current',
                level=logging.WARNING)


def _steps(dataset: Mapping) -> Sequence[Mapping]:
    return [
        step for step in dataset.get('pipeline') or []
        if isinstance(step, Mapping)
    ]


def class_file_problems(split: str, dataset: Mapping,
                        head_classes: Optional[int]) -> List[str]:
    """What is wrong with a dataset config's class names, before building.

    Checks that the class-name file exists and has ``num_classes`` names,
    that the dataset's ``num_classes`` equals the head's, that a
    ``ClassNameFlip`` has names to read and that its map can be derived.

    Args:
        split (str): ``'train'``, ``'val'`` or ``'test'``, for messages.
        dataset (Mapping): The dataset's config.
        head_classes (int, optional): ``model.cls_head.num_classes``.

    Returns:
        list[str]: One line per problem, naming the key and the file.
    """
    key = f'{split}_dataloader.dataset'
    problems = []
    num_classes = dataset.get('num_classes')
    if (head_classes is not None and num_classes is not None
            and num_classes != head_classes):
        problems.append(
            f'{key}.num_classes={num_classes} but model.cls_head.num_classes'
            f'={head_classes}: set both (the top-level num_classes of the '
            'data bases feeds both in a child config; '
            'docs/custom_dataset.md)')
    dataset_file = dataset.get('class_file')
    files = [(f'{key}.class_file', dataset_file)] if dataset_file else []
    for i, step in enumerate(_steps(dataset)):
        if step.get('type') not in _FLIP_TYPES:
            continue
        if step.get('class_file'):
            files.append((f'{key}.pipeline.{i}.class_file',
                          step['class_file']))
        elif not dataset_file:
            problems.append(
                f'{key}.pipeline.{i} (ClassNameFlip) has no class names: '
                f'set {key}.class_file')
    for where, path in files:
        try:
            names = read_class_names(path)
        except (OSError, ValueError) as err:
            problems.append(f'{where}: {err}')
            continue
        problem = _count_problem(path, len(names), num_classes)
        if problem:
            problems.append(f'{where}: {problem}')
    for i, step in enumerate(_steps(dataset)):
        path = step.get('class_file') or dataset_file
        if step.get('type') not in _FLIP_TYPES or not path:
            continue
        try:
            flip_label_map_from_names(
                read_class_names(path),
                step.get('swap_words', (('left', 'right'), )),
                source=path)
        except (OSError, ValueError) as err:
            if osp.isfile(path):  # a missing file is reported above
                problems.append(f'{key}.pipeline.{i} (ClassNameFlip): {err}')
    return problems
