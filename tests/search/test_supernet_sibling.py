"""The supernet and the searched backbone: siblings on one skeleton."""
import pytest
import torch
from test_supernet import TINY, backbone, recognizer

from cakes_mmaction.models import ResNet3dCAKES, ResNet3dCAKESBase
from cakes_mmaction.search import TopC, searched_geometry, top_c


def test_supernet_is_a_sibling_of_the_searched_backbone():
    supernet = backbone(shapes='12d')
    assert isinstance(supernet, ResNet3dCAKESBase)
    assert not isinstance(supernet, ResNet3dCAKES)
    assert supernet.shapes == ('1x3x3', '3x1x1')
    searched = supernet.searched_backbone(dict(uniform='12d'))
    plain = ResNet3dCAKES(assignment=dict(uniform='12d'), **TINY)
    assert type(searched) is ResNet3dCAKES
    assert searched.assignment == plain.assignment
    assert {k: v.shape for k, v in searched.state_dict().items()} == {
        k: v.shape for k, v in plain.state_dict().items()}
    # The searched sites keep their BatchNorm, the supernet's own theirs.
    assert searched.cakes_sites()['layer1.0.conv2'].with_norm
    assert not supernet.cakes_sites()['layer1.0.conv2'].with_norm


@pytest.mark.parametrize('impl', ['reference', 'fast'])
def test_supernet_honours_cakes_impl(impl):
    supernet = backbone(cakes_impl=impl)
    assert {layer.impl for layer in supernet.supernet_layers.values()} == {
        impl}
    x = torch.randn(1, 3, 4, 16, 16)
    supernet.eval()
    with torch.no_grad():
        out = supernet(x)
    reference = backbone(cakes_impl='reference')
    reference.load_state_dict(supernet.state_dict())
    reference.eval()
    with torch.no_grad():
        torch.testing.assert_close(out, reference(x), rtol=1e-4, atol=1e-5)


def test_supernet_rejects_an_unknown_impl():
    with pytest.raises(ValueError, match='ResNet3dCAKESSupernet: cakes_impl'):
        backbone(cakes_impl='nope')


def test_searched_geometry_builds_the_sibling_from_the_config():
    # Skeleton options of the supernet's config reach the searched network
    # (here a temporal stride in layer3) without any key being removed.
    cfg = dict(type='ResNet3dCAKESSupernet', scheme='P', shapes='23d',
               cakes_impl='fast', temporal_strides=(1, 1, 2, 1), **TINY)
    found = searched_geometry(cfg, dict(uniform='23d'), (1, 3, 4, 32, 32))
    assert list(found) == [f'layer{i}.0.conv2' for i in range(1, 5)]
    assert found['layer2.0.conv2'].out_thw == (4, 4, 4)
    assert found['layer3.0.conv2'].out_thw == (2, 2, 2)
    assert found['layer3.0.conv2'].out_channels == 32


def test_recognizer_finds_its_supernet_layers_once(monkeypatch):
    model = recognizer()
    layers = model.supernet_layers

    def no_walk(*args, **kwargs):
        raise AssertionError('the loss walked the model')

    monkeypatch.setattr(model.backbone, 'named_modules', no_walk)
    monkeypatch.setattr(model.backbone, 'modules', no_walk)
    assert model.sparsity_loss().item() > 0
    assert model.supernet_layers is layers


def test_top_c_is_what_mask_hook_and_export_keep():
    model = backbone('P', shapes='video')
    layer = model.supernet_layers['layer2.0.conv2']
    with torch.no_grad():
        layer.bn.weight.copy_(torch.linspace(-1, 1, layer.out_channels))
    chosen = top_c(layer.gamma().abs(), layer.width)
    assert isinstance(chosen, TopC) and sum(chosen.counts) == layer.width
    assert layer.top_c_mask().nonzero().flatten().tolist() == sorted(
        chosen.indices.tolist())
    assert list(layer.top_c_counts().values()) == chosen.counts
