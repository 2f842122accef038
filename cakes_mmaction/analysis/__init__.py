"""Cost analysis of CAKES networks (mmengine totals + cost.py rows)."""
from .complexity import (ComplexityReport, complexity_report,
                         config_complexity, format_report)

__all__ = [
    'ComplexityReport', 'complexity_report', 'config_complexity',
    'format_report'
]
