"""Split-K of the weight gradient: both summing modes, reproducibility."""
import pytest
import torch

from cakes_mmaction.layers.triton_conv.geometry import (layer_geometry,
                                                        pack_weights)
from .triton_testing import kernel_device, make_layer, rel_error

_CL = torch.channels_last_3d


@pytest.fixture(scope='module')
def problem():
    device = kernel_device()
    from cakes_mmaction.layers.triton_conv import launch
    layer = make_layer({'1x3x3': 2, '3x1x1': 1}, in_channels=3)
    torch.manual_seed(2)
    # 300 positions: three chunks of 128 when split in three.
    x = torch.randn(1, 3, 3, 10, 10).requires_grad_()
    y = layer.reference_forward(x)
    grad_y = torch.randn_like(y)
    y.backward(grad_y)
    want = pack_weights([b.weight.grad for b in layer.branches.values()])
    x = x.detach().to(device).contiguous(memory_format=_CL)
    grad_y = grad_y.to(device).contiguous(memory_format=_CL)
    return launch, layer_geometry(layer), x, grad_y, want


@pytest.mark.parametrize('atomic', [False, True])
def test_split_weight_grad_equals_reference(problem, atomic):
    launch, geometry, x, grad_y, want = problem
    got = launch.conv_weight_grad(x, grad_y, geometry, split=3, atomic=atomic)
    assert got.dtype == torch.float32
    assert rel_error(got, want) <= 1e-5


def test_partial_sum_is_reproducible(problem):
    launch, geometry, x, grad_y, _ = problem
    first = launch.conv_weight_grad(x, grad_y, geometry, split=3)
    again = launch.conv_weight_grad(x, grad_y, geometry, split=3)
    assert torch.equal(first, again)


def test_atomic_mode_is_opt_in(monkeypatch):
    from cakes_mmaction.layers.triton_conv import launch
    kernel_device()
    assert launch.deterministic_wgrad()
    monkeypatch.setenv(launch.ATOMIC_ENV, '1')
    assert not launch.deterministic_wgrad()
    torch.use_deterministic_algorithms(True)
    try:
        assert launch.deterministic_wgrad()
    finally:
        torch.use_deterministic_algorithms(False)


def test_mismatched_weights_are_refused_before_launch():
    kernel_device()
    from cakes_mmaction.layers.triton_conv import launch
    geometry = layer_geometry(make_layer({'1x3x3': 2}, in_channels=3))
    x = torch.zeros(1, 3, 2, 2, 2).contiguous(memory_format=_CL)
    with pytest.raises(ValueError, match='must hold 54 torch.float32'):
        launch.conv_forward(x, torch.zeros(53), None, geometry)
    with pytest.raises(ValueError, match='must hold 54'):
        launch.conv_forward(x, torch.zeros(54, dtype=torch.float16), None,
                            geometry)
    with pytest.raises(ValueError, match='channels_last_3d'):
        launch.conv_forward(
            torch.zeros(1, 3, 2, 2, 2), torch.zeros(54), None, geometry)


def test_interpreter_gets_one_config_gpu_several():
    kernel_device()
    from cakes_mmaction.layers.triton_conv import kernels
    gpu, interpreter = kernels.FWD_TILES
    (one, ) = kernels.autotune_configs(gpu, interpreter, interpreted=True)
    assert tuple(one.kwargs.values()) == interpreter
    several = kernels.autotune_configs(gpu, interpreter, interpreted=False)
    assert [tuple(c.kwargs.values()) for c in several] == \
        [blocks for blocks, _, _ in gpu]
    assert len(several) >= 3
    # tl.dot needs every tile side >= 16.
    for tiles in (kernels.FWD_TILES, kernels.WGRAD_TILES):
        assert all(min(b) >= 16 for b, _, _ in tiles[0])
        assert min(tiles[1]) >= 16


def test_empty_batch_launches_nothing():
    device = kernel_device()
    from cakes_mmaction.layers.triton_conv.fused import fused_forward
    layer = make_layer({
        '1x3x3': 2,
        '3x1x1': 1
    }, in_channels=3, bias=True).to(device)
    x = torch.zeros(0, 3, 2, 4, 4, device=device, requires_grad=True)
    y = fused_forward(layer, x)
    assert y.shape == (0, 3, 2, 4, 4)
    y.sum().backward()
    assert x.grad.shape == x.shape
    for branch in layer.branches.values():
        assert not branch.weight.grad.any() and not branch.bias.grad.any()
