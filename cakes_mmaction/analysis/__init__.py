"""Analysis: cost of CAKES networks (mmengine totals + cost.py rows) and
the speed/memory benchmark (``benchmark``, imported on demand)."""
from .complexity import (ComplexityReport, complexity_report,
                         config_complexity, format_report)

__all__ = [
    'ComplexityReport', 'complexity_report', 'config_complexity',
    'format_report'
]
