"""mmaction2 datasets with a documented policy for samples that fail to load.

``RobustRawframeDataset`` and ``RobustVideoDataset`` take the arguments of
mmaction2's ``RawframeDataset`` / ``VideoDataset`` plus a fault policy:

- ``on_error='raise'`` (default): a sample that cannot be loaded stops the
  run with a :class:`~cakes_mmaction.harness.datasets.faults.DataFaultError`
  whose message names the annotation file and line, the sample index, the media
  file (the frame file for rawframes) and what went wrong.
- ``on_error='skip'``: the sample is logged (same message), counted, and
  another one is drawn at random, as mmengine's ``BaseDataset`` refetch
  does. When more than ``max_skips`` distinct samples (or more than
  ``max_skip_ratio`` of the dataset) have been skipped, the run stops with
  a :class:`~cakes_mmaction.harness.datasets.faults.SkipLimitError`. Counts are
  shared by all DataLoader workers of a process; in distributed runs each
  rank counts its own shard. Validation and test datasets
  (``test_mode=True``) always raise: skipping there would change the
  metric silently.

Besides decode errors, the datasets refuse silently wrong samples:

- at construction, every bad line of the list (blank, missing fields, a
  label that is not an integer, or outside ``[0, num_classes)`` when
  ``num_classes`` is given) raises one
  :class:`~cakes_mmaction.harness.datasets.faults.AnnotationError` naming each
  line;
- a frame folder whose frame count disagrees with the list (the last listed
  frame is missing, or frames exist past it) is a fault, since sampling
  would use a wrong temporal range;
- every frame a sample loads is byte-checked before decoding (JPEG
  start/end markers, PNG ``IEND``), as a truncated JPEG may decode into an
  image with grey rows; and a frame the decoder returns as ``None`` is a
  fault naming the frame file.

Each media file is read once. When the pipeline decodes with the checked
decoders
(:class:`~cakes_mmaction.harness.datasets.transforms.CheckedRawFrameDecode`,
:class:`~cakes_mmaction.harness.datasets.transforms.CheckedDecordInit`, as the
shipped configs do), those run the same byte checks
(:mod:`~cakes_mmaction.harness.media`) on the bytes they read to
decode, and the dataset does not read the files beforehand; with mmaction2's
own decoders the dataset reads the few bytes it checks itself. The folder and
frame-count checks look at file names only.
"""
import logging
from typing import Any, Optional

from mmaction.datasets import RawframeDataset, VideoDataset
from mmaction.datasets.transforms import RawFrameDecode
from mmaction.registry import DATASETS
from mmengine.logging import print_log

from .annotations import parse_annotation_list
from .class_names import give_class_names
from .faults import (AnnotationError, DataFaultError, SkipLimitError,
                     format_problems)
from .inflight import InflightTable
from .sample_checks import (decoded_frames_problem, frame_files_problem,
                            images_problem, media_problem)
from .skip_ledger import SkipLedger
from .transforms import (CheckedDecordInit, CheckedRawFrameDecode,
                         SampleDecodeError)

__all__ = ['RobustDatasetMixin', 'RobustRawframeDataset', 'RobustVideoDataset']

_POLICIES = ('raise', 'skip')


class RobustDatasetMixin:
    """Fault policy for mmaction2 datasets; mix in before the dataset class.

    Args:
        *args: Arguments of the dataset class.
        on_error (str): ``'raise'`` or ``'skip'``. Defaults to ``'raise'``.
        max_skips (int, optional): Most distinct samples that may be
            skipped (per rank); one more stops the run. Defaults to 100.
        max_skip_ratio (float, optional): Most skipped samples as a
            fraction of the dataset. Defaults to 0.01. When both limits are
            given the smaller one applies; None disables one.
        check_frames (bool): Byte-check every frame file before decoding
            and check the folder's frame count against the list (rawframes).
            Defaults to True.
        class_file (str, optional): The dataset's class names, one per
            line (line number = label). Their count must equal
            ``num_classes`` when both are given; they become
            ``metainfo['classes']`` and the names of every
            :class:`~cakes_mmaction.harness.datasets.transforms.ClassNameFlip`
            of the pipeline that has no ``class_file`` of its own. Defaults to
            None.
        **kwargs: Keyword arguments of the dataset class.
    """

    _media_kind = ''

    def __init__(self,
                 *args,
                 on_error: str = 'raise',
                 max_skips: Optional[int] = 100,
                 max_skip_ratio: Optional[float] = 0.01,
                 check_frames: bool = True,
                 class_file: Optional[str] = None,
                 **kwargs) -> None:
        if on_error not in _POLICIES:
            raise ValueError(f'on_error must be one of {_POLICIES}, got '
                             f'{on_error!r}')
        if max_skips is not None and (isinstance(max_skips, bool)
                                      or not isinstance(max_skips, int)
                                      or max_skips < 0):
            raise ValueError(f'max_skips must be a non-negative int or None, '
                             f'got {max_skips!r}')
        if max_skip_ratio is not None and not 0 <= max_skip_ratio <= 1:
            raise ValueError(f'max_skip_ratio must be in [0, 1] or None, '
                             f'got {max_skip_ratio!r}')
        if kwargs.get('multi_class') and kwargs.get('num_classes') is None:
            raise ValueError('multi_class=True needs num_classes')
        self.on_error = on_error
        self.max_skips = max_skips
        self.max_skip_ratio = max_skip_ratio
        self.check_frames = check_frames
        self._ledger: Optional[SkipLedger] = None
        self._inflight: Optional[InflightTable] = None
        self.class_file = class_file
        super().__init__(*args, **kwargs)
        give_class_names(self, class_file)

    # -- the list -------------------------------------------------------
    def _media_prefix(self) -> Optional[str]:
        key = 'img' if self._media_kind == 'rawframes' else 'video'
        return self.data_prefix.get(key)

    def load_data_list(self) -> list:
        """Check every line of the list, then parse it as mmaction2 does.

        Returns:
            list[dict]: mmaction2's data list, each with ``ann_line`` (the
            1-based line number) added.
        """
        entries, problems = parse_annotation_list(
            self.ann_file,
            self._media_kind,
            prefix=self._media_prefix(),
            with_offset=getattr(self, 'with_offset', False),
            multi_class=self.multi_class,
            delimiter=getattr(self, 'delimiter', ' '),
            num_classes=self.num_classes,
            allow_unlabelled=self.test_mode)
        if problems:
            raise AnnotationError(
                f'{self.ann_file}: {len(problems)} bad line(s); fix the '
                f'list or run tools/data/check_dataset.py:\n'
                f'{format_problems(problems)}')
        data_list = super().load_data_list()
        if data_list:
            # mmaction2 keeps a UTF-8 byte-order mark as an invisible first
            # character of the first path; the list parser dropped it.
            key = 'frame_dir' if self._media_kind == 'rawframes' else (
                'filename')
            data_list[0][key] = data_list[0][key].replace('\ufeff', '', 1)
        for info, entry in zip(data_list, entries):
            info['ann_line'] = entry.line
        return data_list

    def full_init(self) -> None:
        """Load the list, then create the shared skip ledger."""
        if self._fully_initialized:
            return
        super().full_init()
        self._ledger = SkipLedger(len(self))
        self._inflight = InflightTable()

    # -- one sample -----------------------------------------------------
    @property
    def skip_limit(self) -> Optional[int]:
        """int | None: Most distinct samples that may be skipped."""
        limits = []
        if self.max_skips is not None:
            limits.append(self.max_skips)
        if self.max_skip_ratio is not None:
            limits.append(int(self.max_skip_ratio * len(self)))
        return min(limits) if limits else None

    def _media(self, info: dict) -> str:
        if self._media_kind == 'rawframes':
            return info['frame_dir']
        return info['filename']

    def _fault(self,
               info: dict,
               detail: str,
               path: Optional[str] = None) -> DataFaultError:
        line = info.get('ann_line', '?')
        path = path or self._media(info)
        return DataFaultError(
            f'{self.ann_file}:{line}: sample {info.get("sample_idx")}: '
            f'{path}: {detail}',
            path=path,
            reason=detail)

    def prepare_data(self, idx: int) -> Any:
        """Run the pipeline on sample ``idx`` under the fault policy.

        Args:
            idx (int): The sample index.

        Returns:
            Any: The pipeline output, or None for a skipped sample (the
            base class then draws another one).
        """
        info = self.get_data_info(idx)
        inflight = getattr(self, '_inflight', None)
        if inflight is not None:  # named if a decoder crash kills us
            inflight.begin(f'{self.ann_file}:{info.get("ann_line", "?")}: '
                           f'sample {idx}: {self._media(info)}')
        try:
            return self._load_sample(info)
        except DataFaultError as err:
            if self.test_mode or self.on_error == 'raise':
                raise
            self._skip(idx, err)
            return None
        finally:
            if inflight is not None:
                inflight.end()

    @property
    def decoder_checks_bytes(self) -> bool:
        """bool: The pipeline decodes with a checked decoder, which runs the
        byte checks on the bytes it reads (so the dataset does not read the
        files beforehand)."""
        return any(
            isinstance(t, (CheckedRawFrameDecode, CheckedDecordInit))
            for t in self.pipeline.transforms)

    def _load_sample(self, info: dict) -> Any:
        fixed = dict(info)  # transforms edit ``info`` in place
        decoder_checks = self.decoder_checks_bytes
        self._check_media(fixed, read_files=not decoder_checks)
        results = info
        checked_imgs = None
        for transform in self.pipeline.transforms:
            if (self.check_frames and not decoder_checks
                    and isinstance(transform, RawFrameDecode)):
                problem = frame_files_problem(fixed, results)
                if problem:
                    raise self._fault(fixed, *problem)
            try:
                results = transform(results)
            except DataFaultError:
                raise
            except SampleDecodeError as err:  # names the file already
                raise self._fault(fixed, err.reason, err.path) from err
            except Exception as err:
                detail = (f'{type(transform).__name__} failed: '
                          f'{type(err).__name__}: {err}')
                bad_frame = None
                if isinstance(transform, RawFrameDecode):
                    bad_frame = decoded_frames_problem(fixed, results)
                if bad_frame:
                    raise self._fault(fixed, *bad_frame) from err
                raise self._fault(fixed, detail) from err
            if results is None:
                return None
            imgs = results.get('imgs') if isinstance(results, dict) else None
            if imgs is not None and imgs is not checked_imgs:
                problem = images_problem(fixed, results, self._media_kind)
                if problem:
                    raise self._fault(fixed, *problem)
                checked_imgs = results.get('imgs')
        return results

    def _check_media(self, info: dict, read_files: bool = True) -> None:
        problem = media_problem(info, self._media_kind, self.check_frames,
                                read_files)
        if problem:
            raise self._fault(info, *problem)

    # -- skipping -------------------------------------------------------
    def _skip(self, idx: int, err: DataFaultError) -> None:
        if self._ledger is None:
            self._ledger = SkipLedger(len(self))
        distinct, events = self._ledger.record(idx, err.path, err.reason)
        limit = self.skip_limit
        print_log(
            f'Skipped sample (on_error="skip"): {err} [{distinct} distinct '
            f'sample(s) skipped so far in this process group, limit '
            f'{limit}]',
            logger='current',
            level=logging.WARNING)
        if limit is not None and distinct > limit:
            raise SkipLimitError(
                f'{distinct} samples of {self.ann_file} failed to load, '
                f'more than the limit of {limit} (on_error="skip", '
                f'max_skips={self.max_skips}, '
                f'max_skip_ratio={self.max_skip_ratio}, '
                f'{len(self)} samples); the last one: {err}. List every bad '
                f'file with: python tools/data/check_dataset.py CONFIG')

    def skip_summary(self) -> dict:
        """What was skipped so far in this process and its workers.

        Returns:
            dict: ``ann_file``, ``skipped`` (distinct samples), ``events``,
            ``limit`` and ``samples``: index, list line and media of each,
            and (for the first 1000) the bad ``file`` (the frame file of a
            frame folder) and the ``reason``.
        """
        ledger = self._ledger
        indices = ledger.indices() if ledger is not None else []
        notes = ledger.notes() if ledger is not None else {}
        samples = []
        for idx in indices:
            info = self.get_data_info(idx)
            sample = dict(
                index=idx,
                ann_line=info.get('ann_line'),
                media=self._media(info))
            if idx in notes:
                sample['file'], sample['reason'] = notes[idx]
            samples.append(sample)
        return dict(
            ann_file=self.ann_file,
            skipped=ledger.distinct if ledger is not None else 0,
            events=ledger.events if ledger is not None else 0,
            limit=self.skip_limit,
            samples=samples)


@DATASETS.register_module()
class RobustRawframeDataset(RobustDatasetMixin, RawframeDataset):
    """:class:`~mmaction.datasets.RawframeDataset` with a fault policy.

    See :class:`RobustDatasetMixin` for ``on_error``, ``max_skips``,
    ``max_skip_ratio`` and ``check_frames``; every other argument is
    RawframeDataset's. Give ``num_classes`` to have the labels checked.
    """

    _media_kind = 'rawframes'


@DATASETS.register_module()
class RobustVideoDataset(RobustDatasetMixin, VideoDataset):
    """:class:`~mmaction.datasets.VideoDataset` with a fault policy.

    See :class:`RobustDatasetMixin` for ``on_error``, ``max_skips``,
    ``max_skip_ratio`` and ``check_frames``; every other argument is
    VideoDataset's. Give ``num_classes`` to have the labels checked.
    """

    _media_kind = 'video'
