"""Every CAKESConv3d implementation computes the reference on CUDA.

fp32 with TF32 off to 1e-5 and bf16 (autocast, as in training) to 1e-2,
relative to the largest reference value; forward, input gradient and every
branch's weight gradient; NCDHW and channels_last_3d inputs.
"""
import copy

import pytest
import torch

from cakes_mmaction.layers import CAKESConv3d
from cakes_mmaction.layers.cakes_conv_impl import IMPLS

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(),
                       reason='needs a CUDA device'),
]

# What the layer offers today. With the implementation registry this is
# `from cakes_mmaction.layers.impl_registry import impl_names` and
# `IMPL_NAMES = impl_names()`.
IMPL_NAMES = tuple(IMPLS)
COUNTS = {'3x3x3': 16, '1x3x3': 24, '3x1x1': 8}
TOLERANCE = {torch.float32: 1e-5, torch.bfloat16: 1e-2}


@pytest.fixture(autouse=True)
def no_tf32():
    saved = (torch.backends.cuda.matmul.allow_tf32,
             torch.backends.cudnn.allow_tf32)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    yield
    (torch.backends.cuda.matmul.allow_tf32,
     torch.backends.cudnn.allow_tf32) = saved


def _run(layer, x, dtype):
    x = x.detach().clone().requires_grad_(True)
    with torch.autocast('cuda', dtype=torch.bfloat16,
                        enabled=dtype == torch.bfloat16):
        y = layer(x)
    y.float().square().mean().backward()
    grads = {name: p.grad.float()
             for name, p in layer.named_parameters()}
    return y.float(), x.grad.float(), grads


def _close(got, ref, tol, what):
    scale = ref.abs().max().clamp_min(1e-12)
    err = ((got - ref).abs().max() / scale).item()
    assert err <= tol, f'{what}: relative error {err:.2e} > {tol:.0e}'


@pytest.mark.parametrize('impl',
                         [i for i in IMPL_NAMES if i != 'reference'])
@pytest.mark.parametrize('dtype', [torch.float32, torch.bfloat16],
                         ids=['fp32', 'bf16'])
@pytest.mark.parametrize('channels_last', [False, True],
                         ids=['ncdhw', 'channels_last'])
@pytest.mark.parametrize('stride', [1, 2])
def test_impl_equals_reference_on_cuda(impl, dtype, channels_last, stride):
    torch.manual_seed(0)
    ref = CAKESConv3d(32, COUNTS, spatial_stride=stride).cuda()
    other = copy.deepcopy(ref)
    other.impl = impl
    x = torch.randn(2, 32, 4, 14, 14, device='cuda')
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last_3d)
        for layer in (ref, other):
            for p in layer.parameters():
                if p.dim() == 5:
                    p.data = p.data.contiguous(
                        memory_format=torch.channels_last_3d)
    y_ref, gx_ref, gw_ref = _run(ref, x, dtype)
    y, gx, gw = _run(other, x, dtype)
    assert y.shape == y_ref.shape
    tol = TOLERANCE[dtype]
    _close(y, y_ref, tol, f'{impl} forward')
    _close(gx, gx_ref, tol, f'{impl} input gradient')
    assert gw.keys() == gw_ref.keys()
    for name in gw_ref:
        _close(gw[name], gw_ref[name], tol, f'{impl} {name} gradient')
