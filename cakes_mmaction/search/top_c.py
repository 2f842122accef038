"""Top-C selection: which candidates of a supernet layer are kept.

The paper's rule, per layer: keep the ``C`` candidates with the largest
``|gamma|`` and count how many belong to each shape. The P-scheme eval mask,
the sparsity hook's log of the shares and the exporter all ask
:func:`top_c`.
"""
from typing import List, NamedTuple

import torch

__all__ = ['TopC', 'top_c', 'top_c_indices']


def top_c_indices(scores: torch.Tensor, c: int) -> torch.Tensor:
    """Indices of the ``c`` most important candidates, deterministically.

    Candidates are ranked by score descending; equal scores keep their
    position order, which in a supernet layer is shape order (canonical),
    then filter index. Exactly ``c`` indices are returned whatever the ties
    (the official ``>=`` threshold kept more on ties).

    Args:
        scores (Tensor): 1-D importances (``|gamma|``) in candidate order.
        c (int): How many to keep, ``0 <= c <= len(scores)``.

    Returns:
        Tensor: ``c`` candidate indices (int64), most important first.
    """
    scores = scores.detach().reshape(-1)
    if not 0 <= c <= scores.numel():
        raise ValueError(f'cannot keep {c} of {scores.numel()} candidates')
    if torch.isnan(scores).any():
        raise ValueError('importances contain NaN; the search diverged')
    # A stable sort of -score keeps equal scores in index order.
    order = torch.sort(-scores.float(), stable=True).indices
    return order[:c]


class TopC(NamedTuple):
    """The candidates a layer keeps.

    Args:
        indices (Tensor): The ``C`` kept candidates, most important first.
        counts (list[int]): How many of them each shape block holds, in
            candidate (shape) order.
    """

    indices: torch.Tensor
    counts: List[int]


def top_c(scores: torch.Tensor, width: int) -> TopC:
    """Keep the ``width`` most important of ``n * width`` candidates.

    Args:
        scores (Tensor): ``n * width`` importances in candidate order:
            shape blocks of ``width`` candidates, canonical shape order.
        width (int): ``C``, the layer's width and each block's size.

    Returns:
        TopC: The kept candidates and their count per shape (summing to
        ``width``); ties as :func:`top_c_indices`.
    """
    scores = scores.detach().reshape(-1)
    if width < 1 or scores.numel() % width:
        raise ValueError(f'{scores.numel()} candidates are not blocks of '
                         f'width {width}')
    kept = top_c_indices(scores, width)
    counts = torch.bincount(
        torch.div(kept, width, rounding_mode='floor').cpu(),
        minlength=scores.numel() // width).tolist()
    return TopC(kept, counts)
