"""Compiled kernels on a CUDA device at the paper's layer geometries.

The paper's ResNet-50 at 8 frames: CAKES^P_{1,2,3D}'s counts of the first
(and strided) layer of each stage, at the input it sees there (batch 2).
"""
import pytest
import torch

from cakes_mmaction.assignment import Assignment
from cakes_mmaction.layers import CAKESConv3d
from .triton_testing import check_against_reference

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(
        not torch.cuda.is_available(),
        reason='needs a CUDA device (compiled triton)'),
]

#: layer, input channels, input (T, H, W), spatial stride.
PAPER_LAYERS = [
    ('layer1.0.conv2', 64, (8, 56, 56), 1),
    ('layer2.0.conv2', 128, (8, 56, 56), 2),
    ('layer2.1.conv2', 128, (8, 28, 28), 1),
    ('layer3.0.conv2', 256, (8, 28, 28), 2),
    ('layer4.0.conv2', 512, (8, 14, 14), 2),
    ('layer4.2.conv2', 512, (8, 7, 7), 1),
]


def _paper_layer(path, in_channels, stride):
    counts = Assignment.preset('cakes123d_p')[path]
    torch.manual_seed(0)
    return CAKESConv3d(in_channels, counts, spatial_stride=stride, name=path)


@pytest.mark.parametrize('path,in_channels,thw,stride', PAPER_LAYERS)
@pytest.mark.parametrize('mode,dtype,tol,allow_tf32', [
    ('bf16', torch.bfloat16, 1e-2, False),
    ('tf32', torch.float32, 1e-3, True),
    ('fp32', torch.float32, 1e-5, False),
])
def test_paper_layers(path, in_channels, thw, stride, mode, dtype, tol,
                      allow_tf32):
    layer = _paper_layer(path, in_channels, stride)
    check_against_reference(
        layer,
        size=(2, ) + thw,
        dtype=dtype,
        tol=tol,
        device='cuda',
        allow_tf32=allow_tf32)
