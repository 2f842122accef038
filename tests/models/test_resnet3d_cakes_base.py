import pytest
import torch
import torch.nn as nn
from mmcv.cnn import ConvModule

from cakes_mmaction.models import ResNet3dCAKES, ResNet3dCAKESBase
from cakes_mmaction.models.resnet3d_cakes_base import _with_inputs

TINY = dict(depth=50, stage_blocks=(1, 1, 1, 1), base_channels=8,
            pretrained=None)


def test_a_wider_conv_draws_as_one_fresh_conv():
    # A seeded run builds the same network as before the skeleton was
    # shared: the rebuilt conv3 takes exactly one Conv3d's draws.
    module = ConvModule(4, 6, 1, bias=False, conv_cfg=dict(type='Conv3d'),
                        norm_cfg=dict(type='BN3d'), act_cfg=None)
    torch.manual_seed(3)
    wider = _with_inputs(module, 12)
    after = torch.rand(4)
    torch.manual_seed(3)
    plain = nn.Conv3d(12, 6, 1, bias=False)
    assert torch.equal(wider.conv.weight, plain.weight)
    assert torch.equal(after, torch.rand(4))
    assert wider.conv.in_channels == 12 and wider.norm_name == 'bn'


def test_the_skeleton_needs_its_hook():

    class NoHook(ResNet3dCAKESBase):

        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self._build_sites()

    with pytest.raises(NotImplementedError, match='NoHook must implement'):
        NoHook(**TINY)


def test_sites_are_whole_conv_modules():
    net = ResNet3dCAKES(assignment=dict(uniform='video'), **TINY)
    assert net.skeleton_cfg['base_channels'] == 8
    for path, site in net.cakes_sites().items():
        assert type(site) is ConvModule and site.conv is net.cakes_layers[
            path]
        assert (site.in_channels, site.out_channels) == (
            site.conv.in_channels, site.conv.out_channels)
        assert site.with_norm and site.with_activation
