"""The synthetic temporal-reasoning datasets: the demo's and the hard one.

``render`` draws the demo's clips, ``hard`` the cluttered benchmark's;
``generator`` writes a dataset of either (rawframes and videos with their
lists) through the package's one media writer.
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
