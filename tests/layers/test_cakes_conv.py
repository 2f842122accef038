import itertools
import random

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.analysis import FlopAnalyzer, parameter_count

from cakes_mmaction.assignment import AssignmentError
from cakes_mmaction.layers import CAKESConv3d
from cakes_mmaction.shapes import SHAPE_SETS, parse_shape

SETS = {'video': list(SHAPE_SETS['video']),
        'volumetric': list(SHAPE_SETS['volumetric'])}


def _random_counts(width, shapes, rng, zeros):
    """Random split of ``width``; ``zeros`` forces some counts to 0."""
    shapes = list(shapes)
    rng.shuffle(shapes)
    live = shapes[:max(1, len(shapes) - zeros)]
    cuts = sorted(rng.randint(0, width) for _ in live[1:])
    parts = [b - a for a, b in zip([0] + cuts, cuts + [width])]
    counts = dict.fromkeys(shapes, 0)
    counts.update(zip(live, parts))
    return counts


def _dense_forward(layer, x, weight, bias):
    padding = tuple(d * (k // 2)
                    for d, k in zip(layer.dilation, layer.kernel_size))
    return F.conv3d(x, weight, bias, layer.stride, padding, layer.dilation)


CASES = list(itertools.product(
    ['video', 'volumetric'],  # shape set
    [0, 1],  # zero-count shapes forced
    [1, 2],  # spatial stride
    [1, 2],  # temporal stride
    [1, (1, 2, 2), 2],  # dilation
    [False, True],  # bias
))


@pytest.mark.parametrize('shape_set,zeros,s_stride,t_stride,dilation,bias',
                         CASES)
def test_equals_dense_masked_conv(shape_set, zeros, s_stride, t_stride,
                                  dilation, bias):
    """CAKES layer == one dense 3x3x3 conv zero outside each sub-kernel."""
    seed = CASES.index(
        (shape_set, zeros, s_stride, t_stride, dilation, bias))
    rng = random.Random(seed)
    torch.manual_seed(seed)
    counts = _random_counts(7, SETS[shape_set], rng, zeros)
    layer = CAKESConv3d(5, counts, spatial_stride=s_stride,
                        temporal_stride=t_stride, dilation=dilation,
                        bias=bias)
    for p in layer.parameters():
        nn.init.normal_(p)
    assert set(layer.shapes) == {s for s, n in counts.items() if n}

    weight, dense_bias = layer.to_dense()
    weight = weight.detach().requires_grad_()
    if dense_bias is not None:
        dense_bias = dense_bias.detach().requires_grad_()
    x = torch.randn(2, 5, 6, 9, 8, requires_grad=True)
    x_ref = x.detach().clone().requires_grad_()

    out = layer(x)
    ref = _dense_forward(layer, x_ref, weight, dense_bias)
    assert out.shape == ref.shape
    torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-4)

    grad = torch.randn_like(out)
    out.backward(grad)
    ref.backward(grad)
    torch.testing.assert_close(x.grad, x_ref.grad, rtol=1e-4, atol=1e-4)
    start = 0
    for name, branch in layer.branches.items():
        t, h, w = parse_shape(name).dims
        n = branch.out_channels
        t0, h0, w0 = (3 - t) // 2, (3 - h) // 2, (3 - w) // 2
        torch.testing.assert_close(
            branch.weight.grad,
            weight.grad[start:start + n, :, t0:t0 + t, h0:h0 + h,
                        w0:w0 + w], rtol=1e-4, atol=1e-4)
        if bias:
            torch.testing.assert_close(branch.bias.grad,
                                       dense_bias.grad[start:start + n])
        start += n
    assert start == layer.out_channels == 7


def test_kernel_five_and_concatenation_order():
    torch.manual_seed(0)
    counts = {'1x5x5': 3, '5x1x1': 2, '5x5x5': 0, '5x5x1': 1}
    layer = CAKESConv3d(4, counts, kernel_size=5)
    # Canonical order: volume desc, then (T, H, W) desc; no empty branch.
    assert layer.shapes == ('5x5x1', '1x5x5', '5x1x1')
    assert list(layer.counts) == ['5x5x5', '5x5x1', '1x5x5', '5x1x1']
    assert sorted(k for k in layer.state_dict()) == [
        'branches.1x5x5.weight', 'branches.5x1x1.weight',
        'branches.5x5x1.weight'
    ]
    x = torch.randn(1, 4, 6, 7, 7)
    out = layer(x)
    parts = [layer.branches[s](x) for s in layer.shapes]
    torch.testing.assert_close(out, torch.cat(parts, 1))
    weight, _ = layer.to_dense()
    torch.testing.assert_close(out, F.conv3d(x, weight, padding=2))
    assert '1x5x5: 3' in repr(layer) and '5x5x5: 0' in repr(layer)


# --------------------------------------------------------------------------
# Inflation from a 2D kernel: filters by position, per-shape rules.
# --------------------------------------------------------------------------
ZERO_PATTERNS = [
    {'3x3x3': 3, '1x3x3': 4, '3x1x1': 5},
    {'3x3x3': 0, '1x3x3': 7, '3x1x1': 5},  # official defect 6
    {'3x3x3': 6, '1x3x3': 0, '3x1x1': 6},
    {'3x3x3': 0, '1x3x3': 0, '3x1x1': 12},
    {'3x3x3': 12},
]


def _constant(n, c, t, h, w, space=True):
    """Random clip constant in time (and in space when ``space``)."""
    if space:
        return torch.randn(n, c, 1, 1, 1).expand(n, c, t, h, w).contiguous()
    return torch.randn(n, c, 1, h, w).expand(n, c, t, h, w).contiguous()


@pytest.mark.parametrize('counts', ZERO_PATTERNS)
def test_inflation_reproduces_2d_on_constant_input(counts):
    torch.manual_seed(1)
    layer = CAKESConv3d(6, counts)
    w2d = torch.randn(12, 6, 3, 3)
    layer.inflate_from_2d(w2d)
    # Constant in space and time: every branch (3x1x1 too) gives the 2D
    # response at interior positions, channel for channel.
    x = _constant(2, 6, 5, 5, 5)
    out = layer(x)[:, :, 1:-1, 1:-1, 1:-1]
    ref = F.conv2d(x[:, :, 0], w2d, padding=1)[:, :, 1:-1, 1:-1]
    torch.testing.assert_close(out, ref[:, :, None].expand_as(out),
                               rtol=1e-4, atol=1e-4)
    # Constant in time only: the 3D and 2D branches still do, at every
    # spatial position of interior frames; the 1D branch does not.
    x = _constant(2, 6, 5, 6, 6, space=False)
    out = layer(x)[:, :, 1:-1]
    ref = F.conv2d(x[:, :, 0], w2d, padding=1)[:, :, None].expand_as(out)
    n_spatial = counts.get('3x3x3', 0) + counts.get('1x3x3', 0)
    torch.testing.assert_close(out[:, :n_spatial], ref[:, :n_spatial],
                               rtol=1e-4, atol=1e-4)
    if counts.get('3x1x1'):
        assert not torch.allclose(out[:, n_spatial:], ref[:, n_spatial:],
                                  atol=1e-2)


def test_inflation_rules_per_shape():
    w2d = torch.randn(9, 2, 3, 3)
    layer = CAKESConv3d(2, {'3x3x3': 0, '1x3x3': 2, '3x1x1': 3,
                            '3x3x1': 4})
    layer.inflate_from_2d(w2d)
    # Concatenation order 3x3x1, 1x3x3, 3x1x1 (3x3x3 is empty): filters
    # 0-3, 4-5 and 6-8.
    assert layer.shapes == ('3x3x1', '1x3x3', '3x1x1')
    plane = layer.branches['3x3x1'].weight
    for t in range(3):
        torch.testing.assert_close(plane[:, :, t, :, 0],
                                   w2d[0:4].sum(3) / 3)
    torch.testing.assert_close(layer.branches['1x3x3'].weight[:, :, 0],
                               w2d[4:6])
    one_d = layer.branches['3x1x1'].weight
    for t in range(3):
        torch.testing.assert_close(one_d[:, :, t, 0, 0],
                                   w2d[6:9].sum((2, 3)) / 3)


def test_inflation_rejects_wrong_2d_shape():
    layer = CAKESConv3d(2, {'1x3x3': 4}, name='layer2.0.conv2')
    with pytest.raises(AssignmentError, match=r"layer 'layer2.0.conv2': 2D "
                       r'weight of shape \(5, 2, 3, 3\).*expected '
                       r'\(4, 2, 3, 3\)'):
        layer.inflate_from_2d(torch.zeros(5, 2, 3, 3))


# --------------------------------------------------------------------------
# Cost, construction, checkpoints.
# --------------------------------------------------------------------------
@pytest.mark.parametrize('bias,stride', [(False, 1), (True, 2)])
def test_analytic_cost_matches_mmengine(bias, stride):
    layer = CAKESConv3d(6, {'3x3x3': 2, '1x3x3': 0, '3x1x1': 5, '1x1x1': 1},
                        spatial_stride=stride, temporal_stride=stride,
                        bias=bias)
    x = torch.randn(1, 6, 5, 8, 8)
    out_thw = layer(x).shape[2:]
    analyzer = FlopAnalyzer(layer, (x, ))
    analyzer.unsupported_ops_warnings(False)
    flops = analyzer.by_module()
    params = parameter_count(layer)
    costs = layer.cost(out_thw)
    assert list(costs) == ['3x3x3', '1x3x3', '3x1x1', '1x1x1']
    assert costs['1x3x3'].flops == costs['1x3x3'].params == 0
    for shape in layer.shapes:
        assert costs[shape].flops == flops[f'branches.{shape}']
        assert costs[shape].params == params[f'branches.{shape}']
    assert sum(c.flops for c in costs.values()) == flops['']
    assert sum(c.params for c in costs.values()) == params['']


def test_from_dense_reads_geometry():
    dense = nn.Conv3d(4, 6, 3, stride=(2, 2, 2), padding=(1, 2, 2),
                      dilation=(1, 2, 2), bias=True)
    layer = CAKESConv3d.from_dense(dense, {'3x3x3': 2, '1x3x3': 4},
                                   name='x.conv2')
    assert layer.stride == (2, 2, 2) and layer.dilation == (1, 2, 2)
    assert layer.bias_enabled and layer.in_channels == 4
    assert layer.padding == dense.padding
    x = torch.randn(1, 4, 5, 9, 9)
    assert layer(x).shape == dense(x).shape


@pytest.mark.parametrize('kwargs,pattern', [
    (dict(counts={'3x3x3': 2, '1x3x3': 1}, groups=2),
     r"layer 'x': grouped convolutions are not supported \(groups=2\)"),
    (dict(counts={'3x3x3': 2, '1x3x3': 2}, stride=(1, 1, 2)),
     r"layer 'x': spatial strides must match"),
    (dict(counts={'3x3x3': 2, '1x3x3': 3}),
     r"layer 'x': counts .* sum to 5, expected the layer width 4"),
])
def test_from_dense_errors(kwargs, pattern):
    counts = kwargs.pop('counts')
    dense = nn.Conv3d(4, 4, 3, **kwargs)
    with pytest.raises(AssignmentError, match=pattern):
        CAKESConv3d.from_dense(dense, counts, name='x')


@pytest.mark.parametrize('counts,kernel,pattern', [
    ({'5x1x1': 2}, 3, r'shape 5x1x1 is not a sub-kernel of the dense 3x3x3'),
    ({'3x3x3': 2}, (1, 3, 3), r'not a sub-kernel of the dense 1x3x3'),
    ({'3x3x3': -2, '1x3x3': 4}, 3, r'count of 3x3x3 must be a non-negative '
     r'int, got -2'),
    ({'3x3x3': 1.5}, 3, r'non-negative int, got 1.5'),
    ({'3x3x3': True}, 3, r'non-negative int, got True'),
    ({'3x3x3': 0, '1x3x3': 0}, 3, r'no output channels'),
])
def test_constructor_errors_name_the_layer(counts, kernel, pattern):
    with pytest.raises(AssignmentError, match=pattern) as err:
        CAKESConv3d(4, counts, kernel, name='l1')
    assert str(err.value).startswith("layer 'l1': ")
    with pytest.raises(ValueError, match='kernel extent'):
        CAKESConv3d(4, {'2x3x3': 1})


def test_checkpoint_of_another_assignment_is_refused():
    a = CAKESConv3d(4, {'3x3x3': 2, '1x3x3': 3, '3x1x1': 3})
    b = CAKESConv3d(4, {'3x3x3': 0, '1x3x3': 5, '3x1x1': 3})
    holder = nn.Module()
    holder.conv2 = nn.Module()
    holder.conv2.conv = b
    sd = {f'conv2.conv.{k}': v for k, v in a.state_dict().items()}
    with pytest.raises(AssignmentError) as err:
        holder.load_state_dict(sd)
    message = str(err.value)
    assert "layer 'conv2'" in message
    assert "{'3x3x3': 2, '1x3x3': 3, '3x1x1': 3} in the checkpoint" in message
    assert "{'1x3x3': 5, '3x1x1': 3} in the model" in message
    same = CAKESConv3d(4, {'3x3x3': 2, '1x3x3': 3, '3x1x1': 3})
    same.load_state_dict(a.state_dict())
    torch.testing.assert_close(same.to_dense()[0], a.to_dense()[0])


def test_registered_and_initialised():
    from mmaction.registry import MODELS
    layer = MODELS.build(dict(type='CAKESConv3d', in_channels=4,
                              counts={'3x3x3': 3, '3x1x1': 2}, bias=True))
    assert isinstance(layer, CAKESConv3d)
    for branch in layer.branches.values():
        nn.init.constant_(branch.weight, 7.)
        nn.init.constant_(branch.bias, 7.)
    layer.init_weights()
    for name, branch in layer.branches.items():
        assert not torch.any(branch.weight == 7.), name
        assert torch.all(branch.bias == 0), name
