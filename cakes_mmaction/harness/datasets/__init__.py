"""Datasets and transforms (registered in mmaction2's registries).

- ``robust``: fault-tolerant RawframeDataset / VideoDataset (raise or skip
  policy), with ``sample_checks`` (what is wrong with a sample's media),
  ``annotations``, ``faults``, ``class_names``, ``inflight`` and
  ``skip_ledger`` behind them;
- ``transforms``: the transforms the shipped configs use.

The offline checker (``harness.dataset_check``) and the synthetic
generator (``harness.synthetic``) are packages of their own; the
generator's names are re-exported here, where they were before the split.
"""
from ..synthetic.generator import (CLASS_PAIRS, SyntheticDataset,
                                   generate_synthetic_dataset,
                                   order_blind_ceiling)
from .faults import (AnnotationError, DataFaultError, DataProblem,
                     SkipLimitError)
from .robust import RobustRawframeDataset, RobustVideoDataset
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
