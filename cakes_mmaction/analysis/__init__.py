"""Analysis: the tool libraries over the core and the harness.

Cost of CAKES networks (mmengine totals + cost.py rows), the speed/memory
benchmark (``benchmark``), the search evaluation (``search_evaluation``)
and the GPU machine check (``gpu_check``), the latter imported on demand.
"""
from .complexity import (ComplexityReport, complexity_report,
                         config_complexity, format_report)

__all__ = [
    'ComplexityReport', 'complexity_report', 'config_complexity',
    'format_report'
]
