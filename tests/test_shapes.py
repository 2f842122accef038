import itertools

import pytest

from cakes_mmaction.shapes import (SHAPE_SETS, KernelShape, canonical_order,
                                   cube_shapes, parse_shape)


def test_parse_forms_agree():
    for dims in itertools.product((1, 3, 5), repeat=3):
        name = 'x'.join(map(str, dims))
        shape = parse_shape(name)
        assert shape.dims == dims
        assert parse_shape(dims) == shape == parse_shape(shape)
        assert shape.name == name == str(shape)
        assert shape.volume == dims[0] * dims[1] * dims[2]
        assert shape.padding == tuple(d // 2 for d in dims)
    assert parse_shape('3X1X1') == KernelShape(3, 1, 1)


@pytest.mark.parametrize('bad', ['3x3', '3x3x3x3', 'axbxc', '2x3x3', '0x1x1',
                                 '3x-1x1', '', (3, 3), (3, 2, 1)])
def test_parse_rejects(bad):
    with pytest.raises(ValueError, match=r'3|shape|extent'):
        parse_shape(bad)


def test_cube_shapes_are_all_sub_kernels():
    for k in (3, 5):
        shapes = cube_shapes(k)
        assert len(shapes) == 8
        assert {s.dims for s in shapes} == set(
            itertools.product((k, 1), repeat=3))
        assert all(s.fits_in(k) for s in shapes)
        volumes = [s.volume for s in shapes]
        assert volumes == sorted(volumes, reverse=True)
    assert not parse_shape('3x3x3').fits_in(5)
    assert parse_shape('1x3x1').fits_in((1, 3, 3))


def test_canonical_order_is_the_official_video_order():
    # The official CAKES code concatenates 3D, then 2D, then 1D branches.
    for perm in itertools.permutations(['3x1x1', '1x3x3', '3x3x3']):
        assert [s.name for s in canonical_order(perm)] == [
            '3x3x3', '1x3x3', '3x1x1'
        ]
    # Duplicates collapse; ties in volume are broken by (T, H, W) desc.
    assert [s.name for s in canonical_order(
        ['1x3x3', '3x3x1', '3x1x3', '1x3x3'])] == ['3x3x1', '3x1x3', '1x3x3']


def test_shape_sets_are_valid_sub_kernels():
    for name, shapes in SHAPE_SETS.items():
        parsed = [parse_shape(s) for s in shapes]
        assert all(s.fits_in(3) for s in parsed), name
        assert len(set(parsed)) == len(parsed), name
    assert set(SHAPE_SETS['volumetric']) == {
        s.name for s in cube_shapes(3)}
