"""Datasets and transforms (registered in mmaction2's registries).

- ``robust``: fault-tolerant RawframeDataset / VideoDataset (raise or skip
  policy) and ``checker``: the offline dataset checker.
- ``synthetic``: the synthetic temporal-reasoning dataset of the demo.
- ``transforms``: the transforms the shipped configs use.
"""
from .faults import (AnnotationError, DataFaultError, DataProblem,
                     SkipLimitError)
from .robust import RobustRawframeDataset, RobustVideoDataset
from ..synthetic.generator import (CLASS_PAIRS, SyntheticDataset,
                                   generate_synthetic_dataset,
                                   order_blind_ceiling)
from .transforms import (CheckedDecordDecode, CheckedDecordInit,
                         CheckedRawFrameDecode, ClassNameFlip,
                         SampleDecodeError, SegmentSampleFrames,
                         flip_label_map_from_names)

__all__ = [
    'AnnotationError', 'DataFaultError', 'DataProblem', 'SkipLimitError',
    'RobustRawframeDataset', 'RobustVideoDataset', 'CLASS_PAIRS',
    'SyntheticDataset', 'generate_synthetic_dataset', 'order_blind_ceiling',
    'CheckedDecordDecode', 'CheckedDecordInit', 'CheckedRawFrameDecode',
    'ClassNameFlip', 'SampleDecodeError', 'SegmentSampleFrames',
    'flip_label_map_from_names'
]
