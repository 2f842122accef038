"""``model.backbone.pretrained`` loads what it is given, or fails naming
the file, what it holds and what was expected."""
import pytest
import torch
from mmaction.models.backbones.resnet3d import ResNet3d

from cakes_mmaction.checkpoints.fit import CheckpointMismatchError
from cakes_mmaction.checkpoints.nonfinite import NonFiniteError
from cakes_mmaction.models import ResNet3dCAKES
from .resnet2d import BasicBlock2d, ResNet2d, randomize

ASSIGNMENT = dict(uniform=['3x3x3', '1x3x3'])


def backbone(base=8, **kwargs):
    return ResNet3dCAKES(
        assignment=ASSIGNMENT,
        depth=18,
        base_channels=base,
        stage_blocks=(1, 1, 1, 1),
        **kwargs)


def _recognizer_checkpoint(path, net):
    # What tools/train.py saves: the backbone under 'backbone.', a head.
    state = {f'backbone.{k}': v for k, v in net.state_dict().items()}
    state['cls_head.fc_cls.weight'] = torch.zeros(3, 8 * 8)
    torch.save(dict(state_dict=state, meta=dict(epoch=1)), path)
    return str(path)


@pytest.mark.parametrize('pretrained2d', [True, False])
def test_own_3d_checkpoint_loads_as_3d(tmp_path, pretrained2d):
    source = randomize(backbone(), 1)
    path = _recognizer_checkpoint(tmp_path / 'own.pth', source)
    net = backbone(pretrained=path, pretrained2d=pretrained2d)
    net.init_weights()
    mine, theirs = net.state_dict(), source.state_dict()
    for key in theirs:
        torch.testing.assert_close(mine[key], theirs[key], msg=key)


def test_upstream_3d_path_silently_keeps_random_weights(tmp_path):
    # mmaction2's ResNet3d with pretrained2d=False loads a recognizer's
    # checkpoint with strict=False: nothing matches, nothing is said.
    source = ResNet3d(depth=18, pretrained=None, base_channels=8,
                      stage_blocks=(1, 1, 1, 1), pretrained2d=False)
    path = str(tmp_path / 'r3d.pth')
    torch.save(
        dict(state_dict={
            f'backbone.{k}': v + 1
            for k, v in source.state_dict().items()
        }), path)
    net = ResNet3d(depth=18, pretrained=path, base_channels=8,
                   stage_blocks=(1, 1, 1, 1), pretrained2d=False)
    before = net.conv1.conv.weight.clone()
    net.init_weights()
    assert torch.equal(net.conv1.conv.weight, before)


@pytest.mark.parametrize('pretrained2d', [True, False])
def test_3d_checkpoint_of_another_width_is_refused(tmp_path, pretrained2d):
    path = _recognizer_checkpoint(tmp_path / 'wide.pth', backbone(base=16))
    net = backbone(pretrained=path, pretrained2d=pretrained2d)
    with pytest.raises(CheckpointMismatchError) as info:
        net.init_weights()
    message = str(info.value)
    assert message.startswith(f'model.backbone.pretrained={path}: ')
    assert 'another architecture' in message
    assert 'Expected a 3D checkpoint of this backbone' in message


def test_2d_checkpoint_of_another_width_is_refused(tmp_path):
    net2d = randomize(ResNet2d(BasicBlock2d, (1, 1, 1, 1), base=16), 0)
    path = str(tmp_path / 'r2d.pth')
    torch.save(net2d.state_dict(), path)
    net = backbone(pretrained=path, pretrained2d=True)
    with pytest.raises(CheckpointMismatchError) as info:
        net.init_weights()
    message = str(info.value)
    assert message.startswith(f'model.backbone.pretrained={path}: not a 2D '
                              'ImageNet ResNet-18 of this width: ')
    assert 'conv1.weight: 2D shape (16, 3, 7, 7) does not fit' in message
    assert "conv1.weight of shape (8, 3, 7, 7)" in message
    assert "the file holds" in message and "'conv1.weight' (16, 3, 7, 7)" \
        in message


def test_2d_checkpoint_that_fits_still_inflates(tmp_path):
    net2d = randomize(ResNet2d(BasicBlock2d, (1, 1, 1, 1), base=8), 0)
    path = str(tmp_path / 'r2d.pth')
    torch.save({'state_dict': net2d.state_dict()}, path)
    net = backbone(pretrained=path, pretrained2d=True)
    net.init_weights()
    reference = backbone()
    reference.inflate_from_state_dict_2d(net2d.state_dict())
    for key, value in reference.state_dict().items():
        torch.testing.assert_close(net.state_dict()[key], value, msg=key)


@pytest.mark.parametrize('pretrained2d', [True, False])
def test_nan_pretrained_weights_are_refused(tmp_path, pretrained2d):
    if pretrained2d:
        state = randomize(ResNet2d(BasicBlock2d, (1, 1, 1, 1), base=8),
                          0).state_dict()
    else:
        state = dict(randomize(backbone(), 1).state_dict())
    state['conv1.weight' if pretrained2d else 'conv1.conv.weight'].view(
        -1)[0] = float('nan')
    path = str(tmp_path / 'nan.pth')
    torch.save(state, path)
    net = backbone(pretrained=path, pretrained2d=pretrained2d)
    with pytest.raises(NonFiniteError) as info:
        net.init_weights()
    assert f'model.backbone.pretrained={path}' in str(info.value)
