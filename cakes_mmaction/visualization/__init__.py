"""Figures and tables (matplotlib, no pyplot state)."""
from .assignment_plot import (assignment_table, plot_assignments,
                              render_assignments)

__all__ = ['plot_assignments', 'assignment_table', 'render_assignments']
