import pytest
import torch

from cakes_mmaction.search import top_c


def test_top_c_counts_per_shape_and_breaks_ties_by_position():
    scores = torch.tensor([0.1, 0.9, 0.5, 0.5, 0.3, 0.9])
    chosen = top_c(scores, 2)
    assert chosen.indices.tolist() == [1, 5]
    assert chosen.counts == [1, 0, 1]
    # All equal (an untrained supernet): exactly C, the first block.
    chosen = top_c(torch.ones(6), 3)
    assert chosen.indices.tolist() == [0, 1, 2] and chosen.counts == [3, 0]


def test_top_c_refuses_what_is_not_blocks_of_the_width():
    with pytest.raises(ValueError, match='not blocks of width 4'):
        top_c(torch.ones(6), 4)
    with pytest.raises(ValueError, match='NaN'):
        top_c(torch.tensor([1.0, float('nan')]), 1)
