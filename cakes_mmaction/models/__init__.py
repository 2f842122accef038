"""Registers the CAKES components in mmaction2's ``MODELS`` registry."""
from mmaction.registry import MODELS

from ..layers import CAKESConv3d
from .channels_last_preprocessor import ChannelsLastActionDataPreprocessor
from .resnet3d_cakes import ResNet3dCAKES
from .resnet3d_cakes_base import ResNet3dCAKESBase

# The pure-torch operator lives in ``layers``; register it from here, as mmcv
# registers ``nn.Conv3d`` (mmcv/cnn/bricks/conv.py).
MODELS.register_module('CAKESConv3d', module=CAKESConv3d)

__all__ = [
    'CAKESConv3d', 'ChannelsLastActionDataPreprocessor', 'ResNet3dCAKES',
    'ResNet3dCAKESBase'
]
