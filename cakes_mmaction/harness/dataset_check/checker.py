"""Scan the annotation lists and media of a config's datasets.

:func:`check_dataset` finds, before a run starts, every problem that would
otherwise stop it (or silently spoil it) hours later: missing or empty
videos and frame folders, truncated or undecodable videos, frame counts in
the list that disagree with the folder, missing or corrupt frames
(including JPEGs that decode although cut short), labels outside the
classifier's range, bad list lines, duplicate entries, and training clips
that also appear in the validation or test list.

Media are checked in parallel worker processes with mmengine's progress
bar. ``tools/data/check_dataset.py`` is the command line.
"""
import os
import os.path as osp
from dataclasses import asdict, dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

from mmengine.config import Config
from mmengine.registry import DefaultScope

from ..datasets.annotations import (AnnotationEntry, find_duplicates,
                                    parse_annotation_list)
from ..datasets.faults import DataProblem
from ..datasets.robust import RobustDatasetMixin
from ..media import (check_image_file, count_frames, decode_image_file,
                     probe_video)

__all__ = ['DatasetSpec', 'DatasetReport', 'dataset_specs', 'check_dataset']

_SPLITS = ('train', 'val', 'test')


@dataclass(frozen=True)
class DatasetSpec:
    """Where one dataset of a config keeps its list and media.

    Args:
        split (str): ``'train'``, ``'val'`` or ``'test'``.
        kind (str): ``'rawframes'`` or ``'video'``.
        dataset_type (str): The registered dataset type.
        ann_file (str): The annotation list (``data_root`` joined).
        prefix (str): The media prefix (``data_root`` joined).
        filename_tmpl (str): Frame file template (rawframes).
        start_index (int): Number of the first frame file.
        with_offset (bool): Rawframes lines carry an offset.
        multi_class (bool): Lines may carry several labels.
        delimiter (str): Field separator of video lists.
        modality (str): ``'RGB'`` or ``'Flow'``.
        test_mode (bool): Unlabelled lines are allowed.
        strips_bom (bool): The dataset drops a UTF-8 byte-order mark at
            the start of the list (the robust datasets do).
    """

    split: str
    kind: str
    dataset_type: str
    ann_file: str
    prefix: str = ''
    filename_tmpl: str = 'img_{:05}.jpg'
    start_index: int = 1
    with_offset: bool = False
    multi_class: bool = False
    delimiter: str = ' '
    modality: str = 'RGB'
    test_mode: bool = False
    strips_bom: bool = False

    def parse_list(self, num_classes: Optional[int] = None
                   ) -> Tuple[List[AnnotationEntry], List[DataProblem]]:
        """Parse this dataset's annotation list.

        Args:
            num_classes (int, optional): Labels must lie in
                ``[0, num_classes)``. Defaults to None (unchecked).

        Returns:
            tuple[list[AnnotationEntry], list[DataProblem]]: The good
            entries and one problem per bad line.
        """
        return parse_annotation_list(
            self.ann_file,
            self.kind,
            prefix=self.prefix,
            with_offset=self.with_offset,
            multi_class=self.multi_class,
            delimiter=self.delimiter,
            num_classes=num_classes,
            allow_unlabelled=self.test_mode and self.split == 'test',
            split=self.split,
            strip_bom=self.strips_bom)


@dataclass
class DatasetReport:
    """Everything :func:`check_dataset` found.

    Args:
        datasets (list[dict]): Per dataset: split, kind, ann_file, entries.
        problems (list[DataProblem]): Every problem, in list order.
        num_classes (int, optional): The label range that was checked.
    """

    datasets: List[dict] = field(default_factory=list)
    problems: List[DataProblem] = field(default_factory=list)
    num_classes: Optional[int] = None

    @property
    def ok(self) -> bool:
        """bool: No problem was found."""
        return not self.problems

    def counts(self) -> Dict[str, int]:
        """dict[str, int]: Problems per kind."""
        out: Dict[str, int] = {}
        for problem in self.problems:
            out[problem.kind] = out.get(problem.kind, 0) + 1
        return dict(sorted(out.items()))

    def to_dict(self) -> dict:
        """Plain dict for a JSON report."""
        return dict(
            ok=self.ok,
            num_classes=self.num_classes,
            datasets=self.datasets,
            counts=self.counts(),
            problems=[p.to_dict() for p in self.problems])

    def summary(self) -> str:
        """Human-readable report: one line per problem, then totals."""
        lines = [str(p) for p in self.problems]
        for ds in self.datasets:
            lines.append(f'{ds["split"]}: {ds["ann_file"]} ({ds["kind"]}, '
                         f'{ds["entries"]} entries)')
        if self.ok:
            lines.append('No problems found.')
        else:
            counts = ', '.join(f'{k}: {n}' for k, n in self.counts().items())
            lines.append(f'{len(self.problems)} problem(s) found ({counts})')
        return '\n'.join(lines)


def _leaf_datasets(ds_cfg: dict) -> List[dict]:
    """Unwrap RepeatDataset / ConcatDataset / ClassBalancedDataset."""
    if 'datasets' in ds_cfg:
        leaves = []
        for sub in ds_cfg['datasets']:
            leaves += _leaf_datasets(sub)
        return leaves
    if 'dataset' in ds_cfg:
        return _leaf_datasets(ds_cfg['dataset'])
    return [ds_cfg]


def dataset_specs(cfg: Config,
                  splits: Sequence[str] = _SPLITS) -> List[DatasetSpec]:
    """The rawframe and video datasets of a config's dataloaders.

    Each dataset is built with ``lazy_init=True`` (the list is not read)
    and no pipeline, so paths are joined exactly as mmengine joins them.

    Args:
        cfg (Config): The config.
        splits (Sequence[str]): Which dataloaders. Defaults to all three.

    Returns:
        list[DatasetSpec]: One per dataset found.
    """
    from mmaction.datasets import RawframeDataset, VideoDataset
    from mmaction.registry import DATASETS
    specs = []
    for split in splits:
        if split not in _SPLITS:
            raise ValueError(f'unknown split {split!r}; use {_SPLITS}')
        loader = cfg.get(f'{split}_dataloader')
        if not loader or not loader.get('dataset'):
            continue
        for ds_cfg in _leaf_datasets(loader['dataset'].to_dict() if hasattr(
                loader['dataset'], 'to_dict') else dict(loader['dataset'])):
            with DefaultScope.overwrite_default_scope(
                    cfg.get('default_scope') or 'mmaction'):
                # The pipeline and class names are not needed to find the
                # files (validate_config checks class files on its own).
                dataset = DATASETS.build(
                    dict({k: v
                          for k, v in ds_cfg.items() if k != 'class_file'},
                         pipeline=[],
                         lazy_init=True))
            if isinstance(dataset, RawframeDataset):
                kind, prefix = 'rawframes', dataset.data_prefix.get('img')
            elif isinstance(dataset, VideoDataset):
                kind, prefix = 'video', dataset.data_prefix.get('video')
            else:
                continue
            specs.append(
                DatasetSpec(
                    split=split,
                    kind=kind,
                    dataset_type=type(dataset).__name__,
                    ann_file=dataset.ann_file,
                    prefix=prefix or '',
                    filename_tmpl=getattr(dataset, 'filename_tmpl',
                                          'img_{:05}.jpg'),
                    start_index=dataset.start_index,
                    with_offset=getattr(dataset, 'with_offset', False),
                    multi_class=dataset.multi_class,
                    delimiter=getattr(dataset, 'delimiter', ' '),
                    modality=dataset.modality,
                    test_mode=dataset.test_mode,
                    strips_bom=isinstance(dataset, RobustDatasetMixin)))
    return specs


def _problem(spec: DatasetSpec,
             entry: AnnotationEntry,
             kind: str,
             detail: str,
             path: Optional[str] = None) -> DataProblem:
    return DataProblem(kind, path or entry.path, detail, spec.ann_file,
                       entry.line, spec.split)


def _video_kind(reason: str) -> str:
    for prefix, kind in (('missing', 'missing'), ('empty', 'empty'),
                         ('not a regular', 'missing'),
                         ('the video has no', 'empty'),
                         ('cannot open', 'undecodable'),
                         ('not an ', 'undecodable'),
                         ('corrupt MP4', 'undecodable'),
                         ('truncated or corrupt Matroska', 'truncated'),
                         ('truncated MP4', 'truncated'),
                         ('truncated AVI', 'truncated'),
                         ('truncated Matroska', 'truncated'),
                         ('MP4 without', 'truncated')):
        if reason.startswith(prefix):
            return kind
    return 'corrupt_video'


def _frame_names(spec: DatasetSpec, index: int) -> List[str]:
    if spec.modality == 'Flow':
        return [spec.filename_tmpl.format(a, index) for a in ('x', 'y')]
    return [spec.filename_tmpl.format(index)]


def check_entry(
        task: Tuple[DatasetSpec, AnnotationEntry, bool]) -> List[DataProblem]:
    """Check the media of one list entry (runs in a worker process).

    Args:
        task (tuple): ``(spec, entry, full_decode)``.

    Returns:
        list[DataProblem]: Its problems.
    """
    spec, entry, full = task
    if spec.kind == 'video':
        frames, reason = probe_video(entry.path, full_decode=full)
        if reason:
            return [_problem(spec, entry, _video_kind(reason), reason)]
        return []
    if not osp.isdir(entry.path):
        return [_problem(spec, entry, 'missing', 'frame folder not found')]
    first = spec.start_index + entry.offset
    expected = range(first, first + entry.total_frames)
    problems = []
    names = set(os.listdir(entry.path))
    missing = [
        n for i in expected for n in _frame_names(spec, i) if n not in names
    ]
    if spec.modality == 'RGB':
        present = count_frames(entry.path, spec.filename_tmpl)
        if not present:
            return [
                _problem(
                    spec, entry, 'empty',
                    'frame folder holds no frame files matching '
                    f'{spec.filename_tmpl!r}')
            ]
        extra = [i for i in present if i >= first + entry.total_frames]
        if missing or (extra and not spec.with_offset):
            problems.append(
                _problem(
                    spec, entry, 'frame_count',
                    f'the list says {entry.total_frames} frames '
                    f'({_frame_names(spec, first)[0]} .. '
                    f'{_frame_names(spec, expected[-1])[0]}) but the folder '
                    f'has {len(present)}; missing: {missing[:5]}'
                    f'{" ..." if len(missing) > 5 else ""}'))
    elif missing:
        problems.append(
            _problem(
                spec, entry, 'frame_count',
                f'{len(missing)} listed frame files are missing: '
                f'{missing[:5]}'))
    check = decode_image_file if full else check_image_file
    for index in expected:
        for name in _frame_names(spec, index):
            if name not in names:
                continue
            path = osp.join(entry.path, name)
            reason = check(path)
            if reason:
                problems.append(
                    _problem(spec, entry, 'corrupt_frame', reason, path))
    return problems


def _run_tasks(tasks: list, workers: int, progress: bool) -> list:
    if not tasks:
        return []
    if workers > 1:
        if progress:
            from mmengine.utils import track_parallel_progress
            return track_parallel_progress(
                check_entry, tasks, workers, chunksize=8)
        import multiprocessing as mp
        with mp.Pool(workers) as pool:
            return pool.map(check_entry, tasks, chunksize=8)
    if progress:
        from mmengine.utils import track_progress
        return track_progress(check_entry, tasks)
    return [check_entry(t) for t in tasks]


def check_dataset(cfg: Config,
                  splits: Sequence[str] = _SPLITS,
                  workers: int = 1,
                  num_classes: Optional[int] = None,
                  full_decode: bool = True,
                  progress: bool = True) -> DatasetReport:
    """Check the lists and media of a config's datasets.

    Args:
        cfg (Config): The config (``*_dataloader.dataset`` are read).
        splits (Sequence[str]): Which dataloaders. Defaults to
            ``('train', 'val', 'test')``.
        workers (int): Worker processes for the media. Defaults to 1.
        num_classes (int, optional): Label range; defaults to the config's
            ``model.cls_head.num_classes`` when there is one.
        full_decode (bool): Decode every frame and video frame; otherwise
            only byte-level checks and the first/last video frame.
            Defaults to True.
        progress (bool): Show mmengine's progress bar. Defaults to True.

    Returns:
        DatasetReport: Every problem found.
    """
    if num_classes is None:
        head = (cfg.get('model') or {}).get('cls_head') or {}
        num_classes = head.get('num_classes')
    report = DatasetReport(num_classes=num_classes)
    tasks = []
    train_media: Dict[str, Tuple[str, int]] = {}
    held_out: List[Tuple[DatasetSpec, AnnotationEntry]] = []
    for spec in dataset_specs(cfg, splits):
        entries, problems = spec.parse_list(num_classes)
        report.problems += problems
        report.problems += find_duplicates(entries, spec.ann_file, spec.split)
        report.datasets.append(
            dict(asdict(spec), entries=len(entries) + len(problems)))
        for entry in entries:
            tasks.append((spec, entry, full_decode))
            if spec.split == 'train':
                train_media.setdefault(entry.path, (spec.ann_file, entry.line))
            else:
                held_out.append((spec, entry))
    for spec, entry in held_out:
        if entry.path in train_media:
            ann, line = train_media[entry.path]
            report.problems.append(
                _problem(spec, entry, 'split_overlap',
                         f'also in the training list ({ann}:{line})'))
    for found in _run_tasks(tasks, workers, progress):
        report.problems += found
    order = {split: i for i, split in enumerate(_SPLITS)}
    report.problems.sort(key=lambda p: (order.get(p.split, 9), p.ann_file or
                                        '', p.line or 0, p.path))
    return report
