"""The project's one set-up of mmengine's FLOP counter.

``mmengine.analysis.FlopAnalyzer`` traces one forward with ``torch.jit``
and counts multiply-adds per module (fvcore's convention: a convolution's
bias is not counted, max-pool and residual additions are not counted at
all). Every whole-model count of the project (the complexity report, the
model zoo, the benchmark) goes through :func:`count_flops`, so they count
the same way: in eval mode, without autograd, on a zero input on the
model's device, with mmengine's warnings replaced by the returned list of
operators it could not count.
"""
from dataclasses import dataclass, field
from typing import Dict, Sequence

import torch
import torch.nn as nn

__all__ = ['FlopCount', 'count_flops']


@dataclass
class FlopCount:
    """Multiply-adds of one forward, as mmengine counts them.

    Args:
        total (int): The whole model.
        by_module (dict[str, int]): By module name (``''`` is the whole
            model).
        unsupported_ops (dict[str, int]): Operators mmengine did not
            count, with how often they ran.
    """

    total: int
    by_module: Dict[str, int] = field(default_factory=dict)
    unsupported_ops: Dict[str, int] = field(default_factory=dict)


def count_flops(model: nn.Module, input_shape: Sequence[int]) -> FlopCount:
    """Count the multiply-adds of ``model(zeros(input_shape))``.

    The model runs in eval mode (inference: batch norms count as in eval)
    under ``torch.no_grad``; every submodule's mode is restored afterwards.
    Traced CAKES layers run their reference forward whatever their
    ``impl``, so a plan's zero-padded taps never count.

    Args:
        model (nn.Module): Called with one tensor.
        input_shape (Sequence[int]): Shape of that tensor, batch included.

    Returns:
        FlopCount: Total, per module and what went uncounted.
    """
    from mmengine.analysis import FlopAnalyzer

    param = next(model.parameters(), None)
    device = param.device if param is not None else torch.device('cpu')
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        with torch.no_grad():
            analyzer = FlopAnalyzer(
                model, (torch.zeros(tuple(input_shape), device=device), ))
            analyzer.unsupported_ops_warnings(False)
            analyzer.uncalled_modules_warnings(False)
            return FlopCount(
                total=int(analyzer.total()),
                by_module={k: int(v)
                           for k, v in analyzer.by_module().items()},
                unsupported_ops=dict(analyzer.unsupported_ops()))
    finally:
        for module, training in modes:
            module.training = training
