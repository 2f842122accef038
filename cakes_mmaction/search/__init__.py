"""Kernel-shrinking search: supernets, the sparsity hook, export.

Importing it registers ``ResNet3dCAKESSupernet`` and
``CAKESSearchRecognizer`` in mmaction2's ``MODELS`` and
``CAKESSparsityHook`` in its ``HOOKS``.
"""
from .export import (assignment_total, export_assignment, parse_budget,
                     parse_latency_budget, searched_geometry, select_budget,
                     select_top_c)
from .hooks import CAKESSparsityHook
from .measured_cost import (ShapeCostTable, measure_config_costs,
                            measure_shape_costs)
from .supernet import CAKESSearchRecognizer, ResNet3dCAKESSupernet
from .supernet_conv import CAKESSupernetConv3d, shape_penalty_weights
from .top_c import TopC, top_c, top_c_indices

__all__ = [
    'CAKESSupernetConv3d', 'ResNet3dCAKESSupernet', 'CAKESSearchRecognizer',
    'CAKESSparsityHook', 'select_top_c', 'select_budget', 'parse_budget',
    'searched_geometry', 'export_assignment', 'shape_penalty_weights',
    'top_c_indices', 'parse_latency_budget', 'assignment_total',
    'ShapeCostTable', 'measure_shape_costs', 'measure_config_costs', 'top_c',
    'TopC'
]
