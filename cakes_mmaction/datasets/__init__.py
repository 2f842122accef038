"""Datasets and transforms: the synthetic temporal-reasoning dataset and the
transforms the shipped configs use (registered in mmaction's TRANSFORMS)."""
from .synthetic import (CLASS_PAIRS, SyntheticDataset,  # noqa: F401
                        generate_synthetic_dataset, order_blind_ceiling)
from .transforms import (CheckedDecordDecode, CheckedDecordInit,  # noqa: F401
                         CheckedRawFrameDecode, ClassNameFlip,
                         SampleDecodeError, SegmentSampleFrames,
                         flip_label_map_from_names)
