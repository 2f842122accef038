"""Converters from other codebases' checkpoints to cakes-mmaction."""
from .official import (ConversionError, ConversionReport,
                       convert_official_checkpoint,
                       convert_official_state_dict, infer_assignment,
                       matching_preset)

__all__ = [
    'ConversionError', 'ConversionReport', 'convert_official_checkpoint',
    'convert_official_state_dict', 'infer_assignment', 'matching_preset'
]
