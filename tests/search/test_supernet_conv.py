import pytest
import torch
import torch.nn.functional as F

from cakes_mmaction.assignment import AssignmentError
from cakes_mmaction.search import (CAKESSupernetConv3d, shape_penalty_weights,
                                   top_c_indices)
from cakes_mmaction.shapes import parse_shape

SHAPES = ['3x3x3', '1x3x3', '3x1x1']


def make_layer(scheme, width=4, shapes=SHAPES, in_channels=3, seed=0):
    torch.manual_seed(seed)
    layer = CAKESSupernetConv3d(in_channels, width, shapes, scheme=scheme)
    layer.init_weights()
    with torch.no_grad():
        layer.bn.weight.copy_(torch.rand(layer.out_channels) + 0.5)
        layer.bn.bias.copy_(torch.rand(layer.out_channels))
    return layer


def candidate_outputs(layer, x, use_running_stats):
    """Every candidate computed on its own: its branch's filter, then BN."""
    outs = []
    for shape, branch in layer.branches.items():
        dims = parse_shape(shape).dims
        for i in range(layer.width):
            outs.append(
                F.conv3d(
                    x,
                    branch.weight[i:i + 1],
                    stride=1,
                    padding=tuple(d // 2 for d in dims)))
    raw = torch.cat(outs, dim=1)
    bn = layer.bn
    if use_running_stats:
        mean, var = bn.running_mean, bn.running_var
    else:
        mean = raw.mean(dim=(0, 2, 3, 4))
        var = raw.var(dim=(0, 2, 3, 4), unbiased=False)
    shape = (1, -1, 1, 1, 1)
    return ((raw - mean.view(shape)) / torch.sqrt(var.view(shape) + bn.eps) *
            bn.weight.view(shape) + bn.bias.view(shape))


def reference_top_c(scores, c):
    """Python's sort: |gamma| descending, then candidate position."""
    values = [abs(float(v)) for v in scores]
    return sorted(range(len(values)), key=lambda i: (-values[i], i))[:c]


def test_top_c_indices_matches_sorted_reference_and_breaks_ties():
    scores = torch.tensor([0.5, 0.9, 0.5, 0.1, 0.9, 0.5, 0.0, 0.5])
    for c in range(len(scores) + 1):
        assert top_c_indices(scores, c).tolist() == reference_top_c(scores, c)
    # all equal: exactly c, the earliest candidates (official code kept all)
    assert top_c_indices(torch.ones(12), 4).tolist() == [0, 1, 2, 3]
    with pytest.raises(ValueError, match='NaN'):
        top_c_indices(torch.tensor([1.0, float('nan')]), 1)


@pytest.mark.parametrize('shapes,expected', [
    (['3x3x3', '1x3x3', '3x1x1'], [9 / 13, 3 / 13, 1 / 13]),
    (['3x3x3', '1x3x3'], [3 / 4, 1 / 4]),
    (['1x3x3', '3x1x1'], [3 / 4, 1 / 4]),
    (['3x3x1', '1x1x3', '1x1x1'], [9 / 13, 3 / 13, 1 / 13]),
])
def test_penalty_weights_are_volume_shares(shapes, expected):
    weights = shape_penalty_weights(shapes)
    assert list(weights.values()) == pytest.approx(expected)
    assert set(shape_penalty_weights(shapes, False).values()) == {1.0}


def test_c_scheme_keeps_every_candidate_and_penalty_gradient():
    layer = make_layer('C')
    with torch.no_grad():
        layer.bn.weight[::3] *= -1  # both signs
    x = torch.randn(2, 3, 4, 6, 6)
    y = layer(x)
    assert layer.last_mask is None
    torch.testing.assert_close(y, candidate_outputs(layer, x, False))
    layer.bn.weight.grad = None
    layer.l1_penalty(reweight=True).backward()
    weights = torch.tensor([9 / 13] * 4 + [3 / 13] * 4 + [1 / 13] * 4)
    torch.testing.assert_close(layer.bn.weight.grad,
                               weights * torch.sign(layer.bn.weight.detach()))


def test_p_scheme_keeps_exactly_c_and_same_candidate_per_channel():
    layer = make_layer('P', width=4)
    layer.train()
    x = torch.randn(2, 3, 4, 6, 6)
    masks = []
    for _ in range(6):
        y = layer(x)
        mask = layer.last_mask
        assert mask.dtype == torch.bool and int(mask.sum()) == layer.width
        ref = candidate_outputs(layer, x, False)
        # channel j is candidate j when kept, exactly zero when dropped
        torch.testing.assert_close(y[:, mask], ref[:, mask])
        assert torch.count_nonzero(y[:, ~mask]) == 0
        masks.append(mask.clone())
    assert len({tuple(m.tolist()) for m in masks}) > 1  # resampled


def test_p_scheme_sampling_follows_torch_seed():

    def run():
        layer = make_layer('P')
        torch.manual_seed(123)
        out = []
        for _ in range(3):
            layer(torch.zeros(1, 3, 2, 4, 4))
            out.append(layer.last_mask.tolist())
        return out

    assert run() == run()


def test_p_scheme_eval_is_the_top_c_network_and_deterministic():
    layer = make_layer('P', width=4)
    with torch.no_grad():
        layer.bn.weight.copy_(
            torch.tensor([.2, -.9, .2, .3, .9, .1, .2, .05, .3, .2, .2, .2]))
    x = torch.randn(2, 3, 4, 6, 6)
    layer.train()
    for _ in range(3):  # fill the running statistics
        layer(x)
    layer.eval()
    first = layer(x)
    second = layer(x)
    torch.testing.assert_close(first, second, rtol=0, atol=0)
    keep = reference_top_c(layer.bn.weight.detach(), 4)
    assert sorted(keep) == torch.nonzero(layer.last_mask).flatten().tolist()
    ref = candidate_outputs(layer, x, True)
    torch.testing.assert_close(first[:, keep], ref[:, keep])
    dropped = [j for j in range(12) if j not in keep]
    assert torch.count_nonzero(first[:, dropped]) == 0


def test_p_scheme_running_stats_update_in_training_only():
    layer = make_layer('P')
    x = torch.randn(2, 3, 4, 6, 6) * 3 + 1
    before = layer.bn.running_mean.clone(), layer.bn.running_var.clone()
    layer.eval()
    layer(x)
    torch.testing.assert_close(layer.bn.running_mean, before[0])
    layer.train()
    layer(x)
    raw = torch.cat([b(x) for b in layer.branches.values()], dim=1)
    expected = 0.9 * before[0] + 0.1 * raw.mean(dim=(0, 2, 3, 4))
    torch.testing.assert_close(layer.bn.running_mean, expected)
    assert not torch.allclose(layer.bn.running_var, before[1])


def test_inflation_gives_each_group_a_full_copy():
    layer = make_layer('C', width=4, in_channels=3)
    w2d = torch.randn(4, 3, 3, 3)
    layer.inflate_from_2d(w2d)
    torch.testing.assert_close(layer.branches['1x3x3'].weight[:, :, 0], w2d)
    torch.testing.assert_close(layer.branches['3x3x3'].weight,
                               w2d.unsqueeze(2).repeat(1, 1, 3, 1, 1) / 3)
    torch.testing.assert_close(
        layer.branches['3x1x1'].weight[:, :, :, 0, 0],
        w2d.sum(dim=(2, 3)).unsqueeze(2).repeat(1, 1, 3) / 3)
    # On an input constant in space and time every group gives the 2D
    # response away from the borders.
    x = torch.ones(1, 3, 5, 7, 7) * torch.randn(1, 3, 1, 1, 1)
    raw = torch.cat([b(x) for b in layer.branches.values()], dim=1)
    inner = raw[:, :, 1:-1, 1:-1, 1:-1]
    for g in (1, 2):
        torch.testing.assert_close(inner[:, 4 * g:4 * g + 4], inner[:, :4])
    used = layer.inflate_bn_from_2d(
        dict(weight=torch.arange(4.), running_var=torch.full((4, ), 2.)))
    assert used == ['weight', 'running_var']
    assert layer.bn.weight.tolist() == [0., 1., 2., 3.] * 3
    with pytest.raises(AssignmentError, match='cannot be inflated'):
        layer.inflate_from_2d(torch.randn(12, 3, 3, 3))


def test_invalid_layers_raise():
    with pytest.raises(ValueError, match='scheme'):
        CAKESSupernetConv3d(3, 4, SHAPES, scheme='Q')
    with pytest.raises(AssignmentError, match='two distinct'):
        CAKESSupernetConv3d(3, 4, ['3x3x3'])
    with pytest.raises(AssignmentError, match='not a sub-kernel'):
        CAKESSupernetConv3d(3, 4, ['3x3x3', '5x1x1'])
    with pytest.raises(ValueError, match='affine BatchNorm over 12'):
        CAKESSupernetConv3d(3, 4, SHAPES, norm=torch.nn.BatchNorm3d(4))
