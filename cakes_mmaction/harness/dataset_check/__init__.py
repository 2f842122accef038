"""The offline dataset checker behind ``tools/data/check_dataset.py``."""
from .checker import DatasetReport, DatasetSpec, check_dataset, dataset_specs

__all__ = ['DatasetSpec', 'DatasetReport', 'dataset_specs', 'check_dataset']
