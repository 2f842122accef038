"""The synthetic temporal-reasoning datasets: the demo's and the hard one.

``generator`` renders the demo's clips and writes a dataset (rawframes
and videos with their lists); ``hard`` renders the cluttered benchmark's
clips, written by the same generator.
"""
from .generator import (CLASS_PAIRS, SyntheticDataset,
                        generate_synthetic_dataset, order_blind_ceiling,
                        render_clip)
from .hard import HARD_CLASS_PAIRS, HARD_KINDS, render_hard_clip

__all__ = [
    'CLASS_PAIRS', 'SyntheticDataset', 'generate_synthetic_dataset',
    'order_blind_ceiling', 'render_clip', 'HARD_CLASS_PAIRS', 'HARD_KINDS',
    'render_hard_clip'
]
