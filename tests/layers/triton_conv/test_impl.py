"""``impl='triton'`` through the seam: availability, the layer, autocast,
checkpointing, torch.compile, DDP, and a package that imports without
triton."""
import copy
import os
import subprocess
import sys

import pytest
import torch
import torch.distributed as dist
from torch.utils.checkpoint import checkpoint

from cakes_mmaction.analysis.child_env import child_env
from cakes_mmaction.layers import CAKESConv3d, get_impl, impl_names
from cakes_mmaction.layers.triton_conv import fused
from .triton_testing import kernel_device, make_layer, rel_error

_COUNTS = {'3x3x3': 0, '1x3x3': 3, '3x1x1': 2}


@pytest.fixture
def interpreter_allowed(monkeypatch):
    """Let ``impl='triton'`` take interpreted kernels (CPU CI only)."""
    device = kernel_device()
    monkeypatch.setattr(
        get_impl('triton'), 'allow_interpreter', device == 'cpu')
    return device


def _pair(bias=False, stride=(1, 1)):
    ref = make_layer(_COUNTS, in_channels=4, bias=bias, stride=stride)
    layer = copy.deepcopy(ref)
    layer.impl = 'triton'
    return ref, layer


def _x(device, n=1):
    torch.manual_seed(3)
    return torch.randn(n, 4, 3, 4, 4, device=device)


def _grads(layer):
    return {k: p.grad for k, p in layer.named_parameters()}


def _assert_grads_close(got, want, tol):
    for name, grad in want.items():
        assert rel_error(got[name], grad) <= tol, name


def test_registered_after_the_stock_impls():
    assert 'triton' in impl_names()
    assert get_impl('triton').allow_interpreter is False


def test_unavailable_reasons():
    impl = get_impl('triton')
    layer = make_layer(_COUNTS, in_channels=4)
    reason = impl.available(layer, torch.zeros(1, 4, 3, 4, 4))
    assert 'CUDA' in reason  # so auto never picks it on a CPU
    reason = fused.unavailable_reason(
        layer, torch.zeros(1, 5, 3, 4, 4), allow_interpreter=True)
    if fused.kernels_interpreted():
        assert 'expected (N, 4, T, H, W)' in reason
        reason = fused.unavailable_reason(
            layer, torch.zeros(1, 4, 3, 4, 4, dtype=torch.float64), True)
        assert 'float64 is not supported' in reason
        dilated = CAKESConv3d(4, _COUNTS, dilation=(1, 2, 1))
        reason = fused.unavailable_reason(dilated, torch.zeros(1, 4, 3, 4, 4),
                                          True)
        assert 'dilation (1, 2, 1)' in reason
        # Dilation along an axis no shape spans changes nothing.
        temporal = CAKESConv3d(4, {'1x3x3': 2}, dilation=(2, 1, 1))
        assert fused.unavailable_reason(temporal, torch.zeros(1, 4, 3, 4, 4),
                                        True) is None


def test_explicit_impl_without_device_says_why():
    layer = make_layer(_COUNTS, in_channels=4)
    layer.impl = 'triton'
    with pytest.raises(RuntimeError, match="impl 'triton'.*CUDA device"):
        layer(torch.zeros(1, 4, 3, 4, 4))


def test_layer_forward_backward_and_weight_cache(interpreter_allowed):
    device = interpreter_allowed
    ref, layer = _pair(bias=True, stride=(2, 2))
    ref, layer = ref.to(device), layer.to(device)
    x = _x(device)
    y = layer(x)
    y_ref = ref(x)
    # The fused op writes channels-last; the reference keeps x's layout.
    assert y.is_contiguous(memory_format=torch.channels_last_3d)
    assert not y_ref.is_contiguous(memory_format=torch.channels_last_3d)
    assert rel_error(y, y_ref) <= 1e-5
    y.square().sum().backward()
    y_ref.square().sum().backward()
    _assert_grads_close(_grads(layer), _grads(ref), 1e-5)
    # Inference reuses the packed weights until a parameter changes.
    with torch.no_grad():
        assert rel_error(layer(x), y_ref) <= 1e-5
        for module in (layer, ref):
            module.branches['3x1x1'].weight.mul_(-2)
        assert rel_error(layer(x), ref(x)) <= 1e-5


def test_autocast_runs_in_half_and_trains_fp32_weights(interpreter_allowed):
    device = interpreter_allowed
    ref, layer = _pair()
    ref, layer = ref.to(device), layer.to(device)
    x = _x(device)
    with torch.autocast(device, dtype=torch.float16):
        y = layer(x)
    assert y.dtype == torch.float16
    y_ref = ref(x)
    assert rel_error(y, y_ref) <= 1e-2
    y.float().sum().backward()
    y_ref.sum().backward()
    for name, grad in _grads(layer).items():
        assert grad.dtype == torch.float32
    _assert_grads_close(_grads(layer), _grads(ref), 1e-2)


def test_activation_checkpointing(interpreter_allowed):
    device = interpreter_allowed
    ref, layer = _pair()
    ref, layer = ref.to(device), layer.to(device)
    x = _x(device).requires_grad_()
    x_ref = x.detach().clone().requires_grad_()
    checkpoint(layer, x, use_reentrant=False).sum().backward()
    ref(x_ref).sum().backward()
    assert rel_error(x.grad, x_ref.grad) <= 1e-5
    _assert_grads_close(_grads(layer), _grads(ref), 1e-5)


def test_torch_compile_full_graph(interpreter_allowed):
    device = interpreter_allowed
    ref, layer = _pair()
    ref, layer = ref.to(device), layer.to(device)
    torch._dynamo.reset()
    compiled = torch.compile(layer, backend='aot_eager', fullgraph=True)
    x = _x(device)
    y = compiled(x)
    y_ref = ref(x)
    assert y.is_contiguous(memory_format=torch.channels_last_3d)
    assert rel_error(y, y_ref) <= 1e-5
    y.sum().backward()
    y_ref.sum().backward()
    _assert_grads_close(_grads(layer), _grads(ref), 1e-5)


def _ddp_step(device, store):
    """One DDP step of the triton layer (world size 1) against reference."""
    get_impl('triton').allow_interpreter = device == 'cpu'
    backend = 'nccl' if device == 'cuda' else 'gloo'
    dist.init_process_group(
        backend, init_method=f'file://{store}', rank=0, world_size=1)
    try:
        ref, layer = _pair()
        ref, layer = ref.to(device), layer.to(device)
        ddp = torch.nn.parallel.DistributedDataParallel(layer)
        x = _x(device)
        ddp(x).sum().backward()
        ref(x).sum().backward()
        _assert_grads_close(_grads(layer), _grads(ref), 1e-5)
    finally:
        dist.destroy_process_group()


def test_distributed_data_parallel(tmp_path):
    # In a child process: a gloo group torn down inside a long pytest
    # process can wait forever on its threads once other tests have run
    # their own groups there.
    root = os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.dirname(os.path.abspath(__file__)))))
    code = ('import sys\n'
            'from tests.layers.triton_conv import test_impl as t\n'
            't._ddp_step(sys.argv[1], sys.argv[2])\n'
            "print('ok')\n")
    out = subprocess.run(
        [sys.executable, '-c', code, kernel_device(),
         str(tmp_path / 'pg')],
        cwd=root,
        env=child_env(root),
        capture_output=True,
        text=True,
        timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == 'ok'


def test_package_imports_and_explains_without_triton():
    code = ('import sys\n'
            "sys.modules['triton'] = None\n"
            'import torch\n'
            'from cakes_mmaction.layers import CAKESConv3d, get_impl\n'
            "assert 'triton' in __import__('cakes_mmaction.layers', "
            "fromlist=['x']).impl_names()\n"
            "layer = CAKESConv3d(2, {'1x3x3': 1, '3x1x1': 1})\n"
            'x = torch.zeros(1, 2, 3, 3, 3)\n'
            "impl = get_impl('triton')\n"
            'impl.allow_interpreter = True\n'
            'print(impl.available(layer, x))\n'
            "layer.impl = 'auto'\n"
            'print(tuple(layer(x).shape))\n')
    env = dict(os.environ)
    env['PYTHONPATH'] = os.pathsep.join(
        p for p in (os.getcwd(), env.get('PYTHONPATH')) if p)
    out = subprocess.run([sys.executable, '-c', code],
                         env=env,
                         capture_output=True,
                         text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    lines = out.stdout.strip().splitlines()
    assert lines[-2].startswith('triton is not importable')
    assert lines[-1] == '(1, 2, 3, 3, 3)'
