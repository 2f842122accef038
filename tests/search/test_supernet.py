import pytest
import torch
from mmaction.registry import MODELS
from mmaction.structures import ActionDataSample
from search_testing import fake_torchvision_2d

from cakes_mmaction.search import CAKESSupernetConv3d
from cakes_mmaction.shapes import SHAPE_SETS

TINY = dict(depth=50, stage_blocks=(1, 1, 1, 1), base_channels=8)


def backbone(scheme='C', shapes='video', **kwargs):
    cfg = dict(type='ResNet3dCAKESSupernet', scheme=scheme, shapes=shapes)
    cfg.update(TINY)
    cfg.update(kwargs)
    return MODELS.build(cfg)


def recognizer(scheme='C', sparsity=None, **kwargs):
    cfg = dict(
        type='CAKESSearchRecognizer',
        backbone=dict(type='ResNet3dCAKESSupernet', scheme=scheme, **TINY),
        cls_head=dict(type='I3DHead', in_channels=256, num_classes=4),
        data_preprocessor=dict(
            type='ActionDataPreprocessor', format_shape='NCTHW'),
        _scope_='mmaction')
    if sparsity is not None:
        cfg['sparsity'] = sparsity
    cfg.update(kwargs)
    return MODELS.build(cfg)


@pytest.mark.parametrize('shapes', ['video', '12d', '23d', 'volumetric'])
@pytest.mark.parametrize('scheme', ['C', 'P'])
def test_supernet_layers_and_wiring(scheme, shapes):
    model = backbone(scheme, shapes)
    model.init_weights()
    n = len(SHAPE_SETS[shapes])
    layers = model.supernet_layers
    assert list(layers) == [f'layer{i}.0.conv2' for i in range(1, 5)]
    for path, layer in layers.items():
        assert isinstance(layer, CAKESSupernetConv3d)
        assert layer.scheme == scheme and layer.out_channels == n * layer.width
        block = model.get_submodule(path.rsplit('.', 1)[0])
        # the site keeps its ReLU only; conv3 reads every candidate
        assert not block.conv2.with_norm and block.conv2.norm is None
        assert block.conv3.conv.in_channels == n * layer.width
        assert (layer.bn.weight == 1).all()
    keys = model.state_dict()
    assert 'layer2.0.conv2.conv.branches.%s.weight' % layers[
        'layer2.0.conv2'].shapes[-1] in keys
    assert 'layer2.0.conv2.conv.bn.weight' in keys
    assert 'layer2.0.conv2.bn.weight' not in keys
    assert model.assignment is None
    assert model(torch.randn(2, 3, 4, 32, 32)).shape == (2, 256, 4, 1, 1)
    model.eval()
    assert model(torch.randn(1, 3, 4, 32, 32)).shape == (1, 256, 4, 1, 1)
    importance = model.importance()
    assert list(importance['layer1.0.conv2']) == list(layers[
        'layer1.0.conv2'].shapes)


def test_unsupported_options_raise():
    with pytest.raises(ValueError, match='basic blocks'):
        backbone(depth=18, stage_blocks=None)
    with pytest.raises(ValueError, match='does not take one'):
        backbone(assignment='cakes123d_p')
    with pytest.raises(ValueError, match='with_cp'):
        backbone('P', with_cp=True)
    with pytest.raises(ValueError, match='scheme'):
        backbone('X')
    with pytest.raises(ValueError, match='unknown shape set'):
        backbone(shapes='4d')


@pytest.mark.parametrize('scheme', ['C', 'P'])
def test_inflation_from_2d_tiles_every_group(scheme):
    model = backbone(scheme)
    state = fake_torchvision_2d(model)
    used = model.inflate_from_state_dict_2d(state)
    assert sorted(used) == sorted(state)  # every 2D tensor used once
    layer = model.supernet_layers['layer2.0.conv2']
    torch.testing.assert_close(layer.branches['1x3x3'].weight[:, :, 0],
                               state['layer2.0.conv2.weight'])
    for key in ('weight', 'bias', 'running_mean', 'running_var'):
        torch.testing.assert_close(
            getattr(layer.bn, key), state[f'layer2.0.bn2.{key}'].repeat(3))
    conv3 = model.layer2[0].conv3.conv.weight[:, :, 0]
    divisor = 3 if scheme == 'C' else 1
    torch.testing.assert_close(
        conv3, state['layer2.0.conv3.weight'].repeat(1, 3, 1, 1) / divisor)
    torch.testing.assert_close(model.layer2[0].conv3.bn.weight,
                               state['layer2.0.bn3.weight'])


def test_recognizer_sparsity_options():
    assert recognizer('C').sparsity == dict(s=1e-4, reweight=True)
    assert recognizer('P').sparsity is None
    assert recognizer('C', dict(s=0.5)).sparsity == dict(
        s=0.5, reweight=True)
    with pytest.raises(ValueError, match='no sparsity term'):
        recognizer('P', dict(s=1e-4))
    with pytest.raises(ValueError, match='unknown sparsity option'):
        recognizer('C', dict(s=1e-4, reweigh=True))
    with pytest.raises(ValueError, match='non-negative'):
        recognizer('C', dict(s=-1.0))
    with pytest.raises(RuntimeError, match='no sparsity term'):
        recognizer('P').set_sparsity_lambda(1.0)
    with pytest.raises(ValueError, match='supernet'):
        MODELS.build(
            dict(
                type='CAKESSearchRecognizer',
                backbone=dict(
                    type='ResNet3dCAKES', assignment=dict(uniform='12d'),
                    **TINY),
                cls_head=dict(type='I3DHead', in_channels=256,
                              num_classes=4),
                _scope_='mmaction'))


@pytest.mark.parametrize('reweight', [True, False])
def test_loss_sparsity_is_the_formula(reweight):
    model = recognizer('C', dict(s=0.01, reweight=reweight))
    torch.manual_seed(0)
    expected = 0.0
    for layer in model.supernet_layers.values():
        with torch.no_grad():
            layer.bn.weight.copy_(torch.randn(layer.out_channels))
        gammas = layer.bn.weight.detach().abs().view(3, -1).sum(dim=1)
        weights = [9 / 13, 3 / 13, 1 / 13] if reweight else [1, 1, 1]
        expected += sum(w * g.item() for w, g in zip(weights, gammas))
    model.set_sparsity_lambda(0.5)
    samples = [ActionDataSample().set_gt_label(i) for i in range(2)]
    losses = model.loss(torch.randn(2, 1, 3, 4, 32, 32), samples)
    assert {k for k in losses if 'loss' in k} == {'loss_cls', 'loss_sparsity'}
    assert losses['loss_sparsity'].item() == pytest.approx(
        0.01 * 0.5 * expected, rel=1e-5)
    p_losses = recognizer('P').loss(
        torch.randn(2, 1, 3, 4, 32, 32), samples)
    assert {k for k in p_losses if 'loss' in k} == {'loss_cls'}
