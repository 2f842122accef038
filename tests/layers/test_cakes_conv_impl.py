"""Every CAKESConv3d impl and plan computes the reference function."""
import copy

import pytest
import torch

from cakes_mmaction.layers import CAKESConv3d, get_impl, impl_names
from cakes_mmaction.layers.cakes_conv_impl import (auto_cache,
                                                   clear_auto_cache, fast_plan,
                                                   run_plan, set_cache_dir,
                                                   set_impl)
from cakes_mmaction.layers.cakes_plan import (_plan_cost, block_plan,
                                              candidate_plans, padded_macs,
                                              reference_plan)
from cakes_mmaction.shapes import parse_shape

COUNT_SETS = {
    'video': {'3x3x3': 5, '1x3x3': 19, '3x1x1': 1},
    'video_zero3d': {'3x3x3': 0, '1x3x3': 3, '3x1x1': 17},
    'volumetric': {
        '3x3x3': 2, '3x3x1': 3, '3x1x3': 0, '1x3x3': 4, '3x1x1': 1,
        '1x3x1': 5, '1x1x3': 2, '1x1x1': 9
    },
}
# (temporal stride, spatial stride, dilation, bias)


@pytest.fixture(autouse=True)
def one_thread(tmp_path):
    # Tiny ops on a shared 2-core machine: a second OpenMP thread only
    # waits for its descheduled partner. auto's choices go to a fresh
    # directory per test.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    set_cache_dir(str(tmp_path / 'auto'))
    clear_auto_cache()
    yield
    clear_auto_cache()
    set_cache_dir(None)
    torch.set_num_threads(threads)


#: Every registered implementation but the reference, and auto. Impls
#: registered later (a fused kernel) are covered where available.
OTHER_IMPLS = [n for n in impl_names() if n != 'reference'] + ['auto']


def _skip_unavailable(impl, layer, x):
    if impl != 'auto':
        reason = get_impl(impl).available(layer, x)
        if reason is not None:
            pytest.skip(f'{impl}: {reason}')


GEOMETRIES = {
    'plain': (1, 1, 1, False),
    'strided_bias': (2, 2, 1, True),
    'dilated': (1, 1, (2, 1, 3), False),
    'spatial_stride_dilated': (1, 2, 2, True),
}


def _layer(counts, geometry, impl='reference', in_channels=6):
    t_stride, s_stride, dilation, bias = GEOMETRIES[geometry]
    torch.manual_seed(0)
    layer = CAKESConv3d(
        in_channels,
        COUNT_SETS[counts],
        spatial_stride=s_stride,
        temporal_stride=t_stride,
        dilation=dilation,
        bias=bias,
        impl=impl)
    if bias:  # zero-initialised otherwise: make the bias grad matter
        for branch in layer.branches.values():
            torch.nn.init.normal_(branch.bias)
    return layer


def _grads(layer, x, grad_out):
    x = x.detach().clone().requires_grad_()
    layer.zero_grad(set_to_none=True)
    y = layer(x)
    y.backward(grad_out)
    grads = {'input': x.grad}
    for name, param in layer.named_parameters():
        grads[name] = param.grad
    return y.detach(), grads


@pytest.mark.parametrize('layout', ['contiguous', 'channels_last_3d'])
@pytest.mark.parametrize('impl', OTHER_IMPLS)
@pytest.mark.parametrize('geometry', list(GEOMETRIES))
@pytest.mark.parametrize('counts', list(COUNT_SETS))
def test_impl_matches_reference_forward_backward(counts, geometry, impl,
                                                 layout):
    ref = _layer(counts, geometry).double()
    layer = copy.deepcopy(ref)
    layer.impl = impl
    x = torch.randn(2, 6, 5, 9, 7, dtype=torch.double)
    if layout == 'channels_last_3d':
        x = x.contiguous(memory_format=torch.channels_last_3d)
    _skip_unavailable(impl, layer, x)
    for mode in ('train', 'eval'):
        ref.train(mode == 'train')
        layer.train(mode == 'train')
        grad_out = torch.randn_like(ref(x))
        y_ref, g_ref = _grads(ref, x, grad_out)
        y, g = _grads(layer, x, grad_out)
        torch.testing.assert_close(y, y_ref, rtol=0, atol=1e-12)
        assert set(g) == set(g_ref) and len(g) > 1
        for name in g_ref:
            assert g[name] is not None, f'no grad for {name}'
            torch.testing.assert_close(
                g[name], g_ref[name], rtol=0, atol=1e-12, msg=name)
        with torch.no_grad():
            torch.testing.assert_close(layer(x), ref(x), rtol=0, atol=1e-12)


@pytest.mark.parametrize('counts', list(COUNT_SETS))
def test_every_candidate_plan_matches_reference(counts):
    ref = _layer(counts, 'strided_bias').double()
    x = torch.randn(1, 6, 6, 8, 10, dtype=torch.double)
    weights = {k: b.weight for k, b in ref.branches.items()}
    biases = {k: b.bias for k, b in ref.branches.items()}
    plans = candidate_plans(tuple(ref.counts.items()), 16)
    assert {'reference', 'split', 'dense'} <= set(plans)
    assert any(g.mode == 'frames' for p in plans.values() for g in p.groups)
    expected = ref(x)
    for layout in (torch.contiguous_format, torch.channels_last_3d):
        for name, plan in plans.items():
            y = run_plan(plan, x.contiguous(memory_format=layout), weights,
                         biases, ref.stride, ref.dilation)
            torch.testing.assert_close(
                y, expected, rtol=0, atol=1e-12, msg=f'{name} {layout}')


def test_float32_fast_close_to_reference():
    ref = _layer('video', 'plain', in_channels=16)
    layer = copy.deepcopy(ref)
    layer.impl = 'fast'
    x = torch.randn(1, 16, 4, 12, 12)
    torch.testing.assert_close(layer(x), ref(x), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize('counts', list(COUNT_SETS))
def test_block_plan_partitions_channels(counts):
    items = tuple(
        (s.name, COUNT_SETS[counts][s.name])
        for s in sorted(map(parse_shape, COUNT_SETS[counts]),
                        key=lambda s: s.sort_key()))
    for block in (1, 8, 16):
        plan = block_plan(items, block)
        seen = {s: [] for s, _ in items}
        for group in plan.groups:
            for piece in group.pieces:
                dims = parse_shape(piece.shape).dims
                assert all(d <= k for d, k in zip(dims, group.kernel))
                seen[piece.shape] += range(piece.start, piece.stop)
        for shape, n in items:
            assert sorted(seen[shape]) == list(range(n)), shape
        # The greedy search only ever lowers the cost it minimises.
        sizes = {}
        for group in plan.groups:
            sizes[group.kernel] = group.channels
        ref_sizes = {parse_shape(s).dims: n for s, n in items if n}
        assert _plan_cost(sizes, block, 48) <= _plan_cost(
            ref_sizes, block, 48)


def test_padded_macs_count_what_a_blocked_backend_computes():
    # layer1.0.conv2 of CAKES^P_{1,2,3D}: per branch, 28, 35 and 1 channels
    # are computed as 32, 48 and 16; the block16 plan moves 3 + 1 channels
    # into the 3x3x3 group: 32 x 27 + 32 x 9.
    items = (('3x3x3', 28), ('1x3x3', 35), ('3x1x1', 1))
    assert padded_macs(reference_plan(items), 16) == 32 * 27 + 48 * 9 + 16 * 3
    assert padded_macs(block_plan(items, 16, overhead=0), 16) == 32 * 36
    assert padded_macs(reference_plan(items), 1) == 28 * 27 + 35 * 9 + 3


def test_reference_plan_is_one_group_per_branch():
    items = (('3x3x3', 4), ('1x3x3', 0), ('3x1x1', 3))
    plan = reference_plan(items)
    assert [g.kernel for g in plan.groups] == [(3, 3, 3), (3, 1, 1)]
    assert all(g.mode == 'conv3d' for g in plan.groups)


@pytest.mark.parametrize('impl', OTHER_IMPLS)
def test_traces_record_the_reference(impl):
    # FLOP counters and ONNX export trace the model: they must see one
    # conv per branch (true multiply-adds), and auto must not measure.
    clear_auto_cache()
    ref = _layer('video', 'plain', in_channels=8).eval()
    layer = copy.deepcopy(ref)
    layer.impl = impl
    x = torch.randn(1, 8, 4, 8, 8)
    ops = [[
        node.kind() for node in torch.jit.trace(
            m, (x, ), check_trace=False).inlined_graph.nodes()
    ] for m in (ref, layer)]
    assert ops[1].count('aten::_convolution') == len(ref.branches) == 3
    assert ops[1] == ops[0]
    assert auto_cache() == []


def test_state_dict_identical_across_impls():
    layers = {
        impl: _layer('volumetric', 'strided_bias', impl=impl)
        for impl in ['reference'] + OTHER_IMPLS
    }
    dicts = {impl: layer.state_dict() for impl, layer in layers.items()}
    ref = dicts['reference']
    for impl, sd in dicts.items():
        assert list(sd) == list(ref), impl
        for key in ref:
            assert torch.equal(sd[key], ref[key]), (impl, key)
    # Checkpoints move freely between impls.
    other = _layer('volumetric', 'strided_bias', impl='fast')
    for p in other.parameters():
        torch.nn.init.zeros_(p)
    other.load_state_dict(ref)
    x = torch.randn(1, 6, 4, 6, 6)
    torch.testing.assert_close(other(x), layers['reference'](x))


@pytest.mark.parametrize('impl', ['fast', 'dense', 'taps'])
def test_inference_weight_cache_follows_parameter_updates(impl):
    ref = _layer('video', 'plain', in_channels=8)
    layer = copy.deepcopy(ref)
    layer.impl = impl
    x = torch.randn(1, 8, 4, 6, 6)
    # Float32 sums in another order; a stale weight is off by O(1).
    for step in range(3):
        with torch.no_grad():
            torch.testing.assert_close(layer(x), ref(x), rtol=1e-4,
                                       atol=1e-4)
            for p, q in zip(layer.parameters(), ref.parameters()):
                p.mul_(0.5).add_(1.0)  # as an optimizer step would
                q.mul_(0.5).add_(1.0)
    layer.load_state_dict(_layer('video', 'plain', in_channels=8)
                          .state_dict())
    ref.load_state_dict(layer.state_dict())
    with torch.no_grad():
        torch.testing.assert_close(layer(x), ref(x))


def test_built_weights_are_rebuilt_for_backward_not_kept():
    # fast's 3x3x3 group also computes the 1x3x3 and 3x1x1 channels that
    # overflow a block of 16; autograd keeps a recipe for that built
    # weight, not a copy, and the recipe refuses branch weights changed
    # since the forward, as autograd does for the tensors it saves.
    layer = _layer('video', 'plain', impl='fast', in_channels=4)
    assert len(fast_plan(layer).groups[0].pieces) > 1
    x = torch.randn(1, 4, 3, 5, 5, requires_grad=True)
    layer(x).sum().backward()  # fine when untouched
    y = layer(x)
    with torch.no_grad():
        layer.branches['3x3x3'].weight.add_(1.0)
    with pytest.raises(RuntimeError, match='modified in place between'):
        y.sum().backward()


@pytest.mark.parametrize('impl', ['fast', 'dense', 'taps'])
def test_double_backward_through_built_weights(impl):
    ref = _layer('video', 'strided_bias', in_channels=4).double()
    layer = copy.deepcopy(ref)
    layer.impl = impl
    x = torch.randn(1, 4, 3, 5, 5, dtype=torch.double)
    penalties = []
    for model in (ref, layer):
        xg = x.clone().requires_grad_()
        (gx, ) = torch.autograd.grad(model(xg).square().sum(), xg,
                                     create_graph=True)
        model.zero_grad()
        gx.square().sum().backward()
        penalties.append([p.grad.clone() for p in model.parameters()])
    for a, b in zip(*penalties):
        torch.testing.assert_close(b, a, rtol=1e-9, atol=1e-9)


def test_impl_validation_and_set_impl():
    with pytest.raises(ValueError, match="layer 'l1': impl must be one of"):
        CAKESConv3d(4, {'3x3x3': 2}, name='l1', impl='fastest')
    model = torch.nn.Sequential(
        _layer('video', 'plain'), torch.nn.ReLU(), _layer('video', 'plain'))
    assert set_impl(model, 'auto') == 2
    assert [m.impl for m in model if isinstance(m, CAKESConv3d)] == [
        'auto', 'auto'
    ]
    assert "impl='auto'" in repr(model[0])
    with pytest.raises(ValueError):
        set_impl(model, 'nope')


@pytest.mark.parametrize('impl', OTHER_IMPLS)
def test_backbone_impls_agree(impl):
    from cakes_mmaction.models import ResNet3dCAKES
    kwargs = dict(
        assignment=dict(uniform=['3x3x3', '1x3x3', '3x1x1']),
        depth=18,
        base_channels=8,
        pretrained=None)
    torch.manual_seed(0)
    ref = ResNet3dCAKES(cakes_impl='reference', **kwargs)
    ref.init_weights()
    other = ResNet3dCAKES(cakes_impl=impl, **kwargs)
    assert all(m.impl == impl for m in other.cakes_layers.values())
    first = next(iter(other.cakes_layers.values()))
    _skip_unavailable(impl, first,
                      torch.zeros(2, first.in_channels, 4, 4, 4))
    other.load_state_dict(ref.state_dict())
    x = torch.randn(2, 3, 4, 16, 16)
    outs = []
    for model in (ref, other):
        model.train()
        y = model(x)
        y.square().mean().backward()
        outs.append((y.detach(), {
            k: p.grad.clone()
            for k, p in model.named_parameters()
        }))
    torch.testing.assert_close(outs[1][0], outs[0][0], rtol=1e-4, atol=1e-5)
    for key, grad in outs[0][1].items():
        torch.testing.assert_close(
            outs[1][1][key], grad, rtol=1e-3, atol=1e-5, msg=key)
    with pytest.raises(ValueError, match='cakes_impl must be one of'):
        ResNet3dCAKES(cakes_impl='slow', **kwargs)


def test_fast_splits_only_where_it_pays():
    from cakes_mmaction.layers.cakes_plan import (default_block,
                                                  kernel_padded_macs)
    from cakes_mmaction.layers.impl_plans import FAST_SPLIT_BELOW
    block = default_block('cpu')
    thin = CAKESConv3d(8, {'3x3x3': 2 * block, '1x3x3': 6 * block})
    wide = CAKESConv3d(8, {'3x3x3': 7 * block, '1x3x3': block})
    for layer in (thin, wide):
        # On GPUs (cuDNN) every split measured slower: one masked-dense
        # conv.
        gpu = fast_plan(layer, 'cuda')
        assert len(gpu.groups) == 1 and gpu.groups[0].kernel == (3, 3, 3)
    dense = kernel_padded_macs(8 * block, (3, 3, 3), block)
    assert padded_macs(fast_plan(thin), block) <= FAST_SPLIT_BELOW * dense
    assert len(fast_plan(thin).groups) == 2
    assert len(fast_plan(wide).groups) == 1  # 7/8 of the MACs: no split


@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs CUDA')
@pytest.mark.parametrize('impl', OTHER_IMPLS)
def test_impls_match_reference_on_cuda(impl):
    # The same checks on a GPU (cuDNN), float32 without TF32, both layouts.
    tf32 = torch.backends.cudnn.allow_tf32
    torch.backends.cudnn.allow_tf32 = False
    try:
        ref = _layer('video', 'strided_bias', in_channels=8).cuda()
        layer = copy.deepcopy(ref)
        layer.impl = impl
        for layout in (torch.contiguous_format, torch.channels_last_3d):
            x = torch.randn(2, 8, 5, 9, 7, device='cuda').contiguous(
                memory_format=layout)
            _skip_unavailable(impl, layer, x)
            grad_out = torch.randn_like(ref(x))
            y_ref, g_ref = _grads(ref, x, grad_out)
            y, g = _grads(layer, x, grad_out)
            torch.testing.assert_close(y, y_ref, rtol=1e-4, atol=1e-4)
            for name in g_ref:
                torch.testing.assert_close(
                    g[name], g_ref[name], rtol=1e-4, atol=1e-4, msg=name)
    finally:
        torch.backends.cudnn.allow_tf32 = tf32
