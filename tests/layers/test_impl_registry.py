"""The implementation seam: registry, toy implementations, cached weights."""
import copy
import pickle

import pytest
import torch
import torch.nn.functional as F

from cakes_mmaction.layers import (CAKESConv3d, CAKESImpl, cached_weights,
                                   get_impl, impl_names, register_impl)
from cakes_mmaction.layers.cakes_conv_impl import IMPLS, check_impl, set_impl
from cakes_mmaction.layers.impl_registry import unregister_impl


class _MaskedDense(CAKESImpl):
    """A toy: the layer's ``to_dense`` weight in one F.conv3d."""

    calls = 0

    def forward(self, layer, x):
        type(self).calls += 1
        weight, bias = layer.to_dense()
        pad = tuple(d * (k // 2)
                    for d, k in zip(layer.dilation, layer.kernel_size))
        return F.conv3d(x, weight, bias, layer.stride, pad, layer.dilation)


@pytest.fixture
def toy():
    register_impl('toy_dense')(_MaskedDense)
    yield get_impl('toy_dense')
    unregister_impl('toy_dense')


def _layer(impl='reference'):
    torch.manual_seed(0)
    return CAKESConv3d(
        4, {'3x3x3': 3, '1x3x3': 2, '3x1x1': 2},
        spatial_stride=2,
        dilation=2,
        bias=True,
        impl=impl).double()


def test_stock_impls_are_registered_in_order():
    names = impl_names()
    assert names[:4] == ('reference', 'fast', 'dense', 'taps')
    assert tuple(IMPLS) == names + ('auto', )
    assert 'taps' in IMPLS and 'auto' in IMPLS and 'nope' not in IMPLS
    for name in names:
        assert get_impl(name).name == name


def test_toy_impl_is_picked_up_without_editing_the_layer(toy):
    assert 'toy_dense' in IMPLS and check_impl('toy_dense') == 'toy_dense'
    ref = _layer()
    layer = _layer(impl='toy_dense')  # the constructor accepts it
    x = torch.randn(1, 4, 5, 8, 8, dtype=torch.double)
    before = _MaskedDense.calls
    torch.testing.assert_close(layer(x), ref(x), rtol=0, atol=1e-12)
    assert _MaskedDense.calls == before + 1
    model = torch.nn.ModuleList([_layer(), _layer()])
    assert set_impl(model, 'toy_dense') == 2
    for member in model:
        member(x)
    assert _MaskedDense.calls == before + 3


def test_registry_errors(toy):
    with pytest.raises(ValueError, match="'toy_dense' is already"):
        register_impl('toy_dense')(_MaskedDense)
    register_impl('toy_dense', force=True)(_MaskedDense)
    with pytest.raises(ValueError, match='other than'):
        register_impl('auto')
    with pytest.raises(TypeError, match='not a CAKESImpl'):
        register_impl('toy_other')(object)
    with pytest.raises(ValueError, match=r"unknown CAKES impl 'nope'.*"
                       r"'reference'"):
        get_impl('nope')
    with pytest.raises(ValueError, match="layer 'l1': impl must be one of"):
        CAKESConv3d(4, {'3x3x3': 2}, name='l1', impl='nope')


def test_unavailable_impl_names_layer_and_reason():

    class _Never(CAKESImpl):

        def available(self, layer, x):
            return 'needs a device that does not exist'

    register_impl('toy_never')(_Never)
    try:
        layer = CAKESConv3d(4, {'3x3x3': 2}, name='layer1.0.conv2',
                            impl='toy_never')
        with pytest.raises(RuntimeError,
                           match=r"layer 'layer1.0.conv2': impl 'toy_never' "
                           r'cannot run .*does not exist'):
            layer(torch.randn(1, 4, 3, 4, 4))
    finally:
        unregister_impl('toy_never')


def test_cached_weights_rebuild_on_every_kind_of_change():
    layer = _layer()
    builds = []

    def build():
        builds.append(1)
        return layer.branches['3x3x3'].weight.sum().item()

    first = cached_weights(layer, 'k', build)
    assert cached_weights(layer, 'k', build) == first and len(builds) == 1
    with torch.no_grad():  # in place: an optimizer step
        layer.branches['1x3x3'].weight.add_(1)
    cached_weights(layer, 'k', build)
    assert len(builds) == 2
    layer.load_state_dict(copy.deepcopy(layer.state_dict()))
    cached_weights(layer, 'k', build)
    assert len(builds) == 3
    layer.float()  # dtype
    cached_weights(layer, 'k', build)
    assert len(builds) == 4
    # Not state, not copied, not pickled.
    assert not any('cache' in k for k in layer.state_dict())
    assert '_cakes_weight_cache' not in dict(layer.named_buffers())
    clone = copy.deepcopy(layer)
    assert len(clone.__dict__['_cakes_weight_cache']) == 0
    again = pickle.loads(pickle.dumps(layer))
    assert len(again.__dict__['_cakes_weight_cache']) == 0
