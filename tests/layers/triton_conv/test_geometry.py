"""The layer as the kernels see it: tables, packing, output sizes."""
import pytest
import torch

from cakes_mmaction.layers import CAKESConv3d
from cakes_mmaction.layers.triton_conv.geometry import (ConvGeometry,
                                                        layer_geometry,
                                                        output_size,
                                                        pack_weights,
                                                        unpack_weights)


def _layer():
    return CAKESConv3d(
        4, {
            '3x3x3': 2,
            '1x3x3': 0,
            '3x1x1': 3
        },
        temporal_stride=2,
        spatial_stride=1)


def test_layer_geometry_keeps_shapes_with_channels_in_order():
    geometry = layer_geometry(_layer())
    assert geometry.counts == (2, 3)
    assert geometry.dims == ((3, 3, 3), (3, 1, 1))
    assert geometry.stride == (2, 1, 1)
    assert ConvGeometry.from_lists(*geometry.as_lists()) == geometry


def test_tables_locate_channels_weights_and_padding():
    geometry = layer_geometry(_layer())
    rows = geometry.shape_table(4)
    assert rows == [[2, 0, 0, 3, 3, 3, 1, 1, 1, 27],
                    [3, 2, 27 * 4 * 2, 3, 1, 1, 1, 0, 0, 3]]
    taps = geometry.tap_table(4)
    assert len(taps) == 30
    # Tap 13 of 3x3x3 is the centre; tap 2 of 3x1x1 is one frame ahead.
    assert taps[13][:6] == [2, 0, 13 * 4 * 2, 0, 0, 0]
    assert taps[29][:6] == [3, 2, 27 * 4 * 2 + 2 * 4 * 3, 1, 0, 0]


def test_pack_round_trip_and_layout():
    layer = _layer()
    weights = [b.weight for b in layer.branches.values()]
    packed = pack_weights(weights)
    assert packed.numel() == sum(w.numel() for w in weights)
    # [t][h][w][C_in][n]: element (tap 0, c_in 1, n 0) of 3x3x3.
    assert packed[1 * 2 + 0] == weights[0][0, 1, 0, 0, 0]
    back = unpack_weights(packed, layer_geometry(layer), 4)
    for got, want in zip(back, weights):
        assert torch.equal(got, want)


@pytest.mark.parametrize('size,stride,want', [
    ((2, 4, 5, 7, 9), (1, 1, 1), (2, 6, 5, 7, 9)),
    ((2, 4, 5, 7, 9), (2, 2, 2), (2, 6, 3, 4, 5)),
    ((1, 4, 1, 2, 2), (2, 2, 2), (1, 6, 1, 1, 1)),
])
def test_output_size_matches_conv3d(size, stride, want):
    geometry = ConvGeometry((2, 4), ((3, 3, 3), (1, 3, 3)), stride)
    assert output_size(geometry, size) == want
    conv = torch.nn.Conv3d(4, 6, 3, stride=stride, padding=1)
    assert tuple(conv(torch.zeros(size)).shape) == want


def test_geometry_rejects_bad_values():
    with pytest.raises(ValueError, match='positive'):
        ConvGeometry((0, ), ((3, 3, 3), ), (1, 1, 1))
    with pytest.raises(ValueError, match='odd'):
        ConvGeometry((1, ), ((2, 3, 3), ), (1, 1, 1))
    with pytest.raises(ValueError, match='stride'):
        ConvGeometry((1, ), ((3, 3, 3), ), (1, 0, 1))
