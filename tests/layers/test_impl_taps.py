"""The temporal-tap decomposition: layouts, autocast, its own pieces."""
import copy

import pytest
import torch

from cakes_mmaction.layers import CAKESConv3d, get_impl, impl_names
from cakes_mmaction.layers.impl_taps import tap_layout


def _pair(counts, impl, **kwargs):
    torch.manual_seed(0)
    ref = CAKESConv3d(8, counts, **kwargs)
    layer = copy.deepcopy(ref)
    layer.impl = impl
    return ref, layer


def test_one_conv_per_spatial_slice():
    counts = (('3x3x3', 4), ('3x3x1', 0), ('1x3x3', 5), ('3x1x1', 2),
              ('1x1x1', 1))
    convs = tap_layout(counts, 1)
    assert [c.kernel for c in convs] == [(3, 3), (1, 1)]
    assert [c.rows for c in convs] == [3 * 4 + 5, 3 * 2 + 1]
    # Under a temporal stride, one-tap shapes read only the kept frames.
    convs = tap_layout(counts, 2)
    assert [(c.kernel, c.subsample) for c in convs] == [
        ((3, 3), False), ((3, 3), True), ((1, 1), False), ((1, 1), True)]


@pytest.mark.parametrize('impl', [n for n in impl_names()
                                  if n != 'reference'])
def test_output_keeps_the_input_layout(impl):
    ref, layer = _pair({'3x3x3': 3, '1x3x3': 4, '3x1x1': 2}, impl)
    x = torch.randn(2, 8, 4, 6, 6).contiguous(
        memory_format=torch.channels_last_3d)
    if get_impl(impl).available(layer, x) is not None:
        pytest.skip('unavailable')
    y = layer(x)
    torch.testing.assert_close(y, ref(x), rtol=1e-5, atol=1e-5)
    if impl == 'taps':  # zero-copy frames in, channels-last out
        assert y.is_contiguous(memory_format=torch.channels_last_3d)
        assert layer(x.contiguous()).is_contiguous()


def _cpu_bf16_autocast() -> bool:
    # oneDNN runs bf16 convolutions natively with AVX512-BF16/AMX and
    # emulated elsewhere; a build without them raises.
    try:
        with torch.autocast('cpu', dtype=torch.bfloat16):
            y = torch.nn.functional.conv3d(
                torch.ones(1, 1, 1, 1, 1), torch.ones(1, 1, 1, 1, 1))
        return y.dtype == torch.bfloat16
    except RuntimeError:
        return False


@pytest.mark.skipif(
    not _cpu_bf16_autocast(), reason='no bf16 autocast convolution on CPU')
@pytest.mark.parametrize('impl', [n for n in impl_names()
                                  if n != 'reference'] + ['auto'])
def test_bf16_autocast_matches_reference(impl, tmp_path):
    from cakes_mmaction.layers.cakes_conv_impl import (clear_auto_cache,
                                                       set_cache_dir)
    set_cache_dir(str(tmp_path))
    clear_auto_cache()
    ref, layer = _pair({'3x3x3': 3, '1x3x3': 4, '3x1x1': 2},
                       impl,
                       spatial_stride=2,
                       bias=True)
    for branch in ref.branches.values():
        torch.nn.init.normal_(branch.bias)
    layer.load_state_dict(ref.state_dict())
    x = torch.randn(2, 8, 4, 6, 6)
    if impl != 'auto' and get_impl(impl).available(layer, x) is not None:
        pytest.skip('unavailable')
    results = []
    for model in (ref, layer):
        xg = x.clone().requires_grad_()
        with torch.autocast('cpu', dtype=torch.bfloat16):
            y = model(xg)
        assert y.dtype == torch.bfloat16
        y.float().square().sum().backward()
        results.append([y.float(), xg.grad] +
                       [p.grad for p in model.parameters()])
        model.zero_grad()
    # bf16 keeps 8 bits: compare the whole tensor, relative to its norm
    # (an impl that sums taps in bf16 rounds each partial sum).
    for a, b in zip(*results):
        error = (b.float() - a.float()).norm() / a.float().norm()
        assert error < 1e-2, error
    set_cache_dir(None)
    clear_auto_cache()


def test_zero_count_and_single_shape_layers():
    for counts in ({'3x3x3': 0, '1x3x3': 0, '3x1x1': 5},
                   {'1x1x1': 3}, {'3x3x3': 6, '1x3x3': 0}):
        ref, layer = _pair(counts, 'taps', temporal_stride=2)
        x = torch.randn(1, 8, 5, 5, 5, dtype=torch.float64)
        ref.double(), layer.double()
        torch.testing.assert_close(layer(x), ref(x), rtol=0, atol=1e-12)
