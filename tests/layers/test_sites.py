import itertools

import torch
from mmaction.registry import MODELS

from cakes_mmaction.cost import capture_geometry
from cakes_mmaction.layers import CAKESConv3d
from cakes_mmaction.layers.cakes_conv_impl import set_impl
from cakes_mmaction.layers.sites import (find_cakes_layers, trace_geometry,
                                         trace_layers)

TINY = dict(type='ResNet3dCAKES', depth=18, base_channels=8,
            assignment=dict(uniform='video'), pretrained=None)


def test_find_cakes_layers_names_them_by_site():
    net = MODELS.build(TINY)
    found = find_cakes_layers(net)
    assert list(found) == list(net.cakes_layers)
    assert all(found[p] is layer for p, layer in net.cakes_layers.items())
    wrapped = torch.nn.ModuleDict(dict(backbone=net))
    assert list(find_cakes_layers(wrapped)) == [
        f'backbone.{p}' for p in found]
    bare = CAKESConv3d(4, {'3x3x3': 2}, name='layer9.0.conv2')
    assert list(find_cakes_layers(bare)) == ['']
    assert set_impl(net, 'dense') == len(found)
    assert {layer.impl for layer in found.values()} == {'dense'}


def test_trace_layers_and_geometry():
    net = MODELS.build(TINY)
    net.train()
    traced = trace_layers(net, (3, 8, 32, 32))  # 4-tuple: batch 1
    assert net.training
    assert list(traced) == list(net.cakes_layers)
    layer, in_shape, out_shape = traced['layer2.0.conv1']
    assert layer is net.cakes_layers['layer2.0.conv1']
    assert in_shape == (1, 8, 8, 8, 8) and out_shape == (1, 16, 8, 4, 4)
    geometry = trace_geometry(net, (1, 3, 8, 32, 32))
    assert geometry['layer2.0.conv1'] == layer.geometry((8, 4, 4),
                                                        'layer2.0.conv1')
    assert geometry == capture_geometry(net, (3, 8, 32, 32))
    for hook in itertools.chain.from_iterable(
            m._forward_hooks.values() for m in net.modules()):
        raise AssertionError(f'hook left behind: {hook}')  # pragma: no cover


def test_a_named_bare_layer_is_traced_at_its_site():
    layer = CAKESConv3d(4, {'3x3x3': 2, '3x1x1': 3}, name='somewhere')
    assert list(trace_geometry(layer, (1, 4, 4, 6, 6))) == ['']
    assert trace_geometry(layer, (1, 4, 4, 6, 6))[''].path == ''
