"""Datasets: fault-tolerant mmaction2 datasets and the dataset checker."""
from .faults import (
    AnnotationError,
    DataFaultError,
    DataProblem,  # noqa
    SkipLimitError)
from .robust import RobustRawframeDataset, RobustVideoDataset  # noqa: F401

__all__ = [
    'AnnotationError', 'DataFaultError', 'DataProblem', 'SkipLimitError',
    'RobustRawframeDataset', 'RobustVideoDataset'
]
