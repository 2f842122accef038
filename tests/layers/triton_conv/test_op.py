"""The fused op (forward, input and weight gradients) equals the reference.

On CPU-only machines the kernels run in triton's interpreter (see
tests/conftest.py), about a second per launch: inputs are one 64-position
tile unless a test is about tiling.
"""
import pytest
import torch

from cakes_mmaction.shapes import SHAPE_SETS
from .triton_testing import check_against_reference, make_layer

#: Odd, unequal counts: every output-channel tile is ragged.
_COUNTS = (5, 3, 2, 1, 3, 2, 1, 2)


def _counts(shape_set):
    shapes = SHAPE_SETS[shape_set]
    return dict(zip(shapes, _COUNTS[:len(shapes)]))


@pytest.mark.parametrize(
    'shape_set', ['video', '12d', '23d', 'volumetric_2d', 'volumetric'])
def test_every_shape_set_fp32(shape_set):
    check_against_reference(make_layer(_counts(shape_set)))


@pytest.mark.parametrize('counts', [
    {
        '3x3x3': 0,
        '1x3x3': 4,
        '3x1x1': 3
    },
    {
        '3x3x3': 0,
        '1x3x3': 0,
        '3x1x1': 3
    },
])
def test_zero_count_shapes(counts):
    check_against_reference(make_layer(counts, in_channels=3))


@pytest.mark.parametrize('stride,size', [((2, 2), (1, 5, 5, 7)),
                                         ((1, 2), (1, 3, 6, 5)),
                                         ((2, 1), (2, 4, 3, 3))])
def test_strides_with_bias(stride, size):
    layer = make_layer({
        '3x3x3': 3,
        '1x3x3': 2,
        '3x1x1': 2
    },
                       stride=stride,
                       bias=True)
    check_against_reference(layer, size=size)


def test_several_tiles_per_axis():
    # 20 input channels (two 16-channel chunks), a shape of 18 channels
    # (two output tiles) and 72 positions (two 64-row tiles).
    layer = make_layer({
        '3x3x3': 0,
        '1x3x3': 18,
        '3x1x1': 1
    },
                       in_channels=20,
                       bias=True)
    check_against_reference(layer, size=(2, 1, 6, 6))


@pytest.mark.parametrize('stride', [(1, 1), (2, 2)])
def test_fp16(stride):
    layer = make_layer({
        '3x3x3': 5,
        '1x3x3': 3,
        '3x1x1': 2
    },
                       stride=stride,
                       bias=True)
    check_against_reference(layer, dtype=torch.float16, tol=1e-2)
