"""Alternative forwards of :class:`CAKESConv3d` over the same parameters.

``impl`` of a layer:

- ``'reference'``: one ``Conv3d`` per branch, then one concatenation (the
  layer's own ``forward``).
- ``'fast'``: the :func:`~cakes_mmaction.layers.cakes_plan.block_plan` for
  the device's output-channel block (no measuring, deterministic).
- ``'auto'``: the fastest of :func:`candidate_plans`, measured once per
  layer shape and input geometry (forward, or forward + backward when
  autograd records) and cached for the process.

Every plan is built from differentiable ops on the branch parameters (slice,
pad, concatenate), so gradients reach ``branches.<shape>.weight`` as in the
reference, and the state dict does not change.
"""
from collections import OrderedDict
from functools import lru_cache
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F

from ..shapes import parse_shape
from .cakes_plan import Group, Plan, block_plan, candidate_plans, default_block
from .timing import time_once

__all__ = [
    'IMPLS', 'check_impl', 'run_plan', 'impl_forward', 'fast_plan',
    'auto_plan', 'auto_cache', 'clear_auto_cache', 'set_impl',
    'layer_plan'
]

IMPLS = ('reference', 'fast', 'auto')

#: ``auto``'s measurements: key -> (chosen plan name, {name: seconds}).
_AUTO_CACHE: 'OrderedDict[tuple, Tuple[str, Dict[str, float]]]' = \
    OrderedDict()

#: Timed runs per candidate when ``auto`` measures (after one warm-up).
AUTO_ROUNDS = 3


def check_impl(impl: str, where: str = '') -> str:
    """Validate an ``impl`` name.

    Args:
        impl (str): ``'reference'``, ``'fast'`` or ``'auto'``.
        where (str): Prefix for the error message. Defaults to ``''``.

    Returns:
        str: ``impl``.
    """
    if impl not in IMPLS:
        raise ValueError(f'{where}impl must be one of {IMPLS}, got {impl!r}')
    return impl


# ----------------------------------------------------------------------
# Executing a plan.
def _group_weight(group: Group,
                  weights: Mapping[str, torch.Tensor]) -> torch.Tensor:
    parts = []
    for piece in group.pieces:
        # Sizes come from the plan, never from tensor shapes, so that a
        # traced graph (ONNX, torch.jit) has no data-dependent branches.
        weight = weights[piece.shape][piece.start:piece.stop]
        pad = []
        for k, w in zip(reversed(group.kernel), reversed(_dims(piece.shape))):
            pad += [(k - w) // 2] * 2
        if any(pad):
            weight = F.pad(weight, pad)
        parts.append(weight)
    weight = parts[0] if len(parts) == 1 else torch.cat(parts)
    if group.mode == 'temporal':  # (n, C, k, 1, 1) -> (n, C, k, 1)
        return weight.flatten(3)
    if group.mode == 'frames':  # (n, C, 1, k, k) -> (n, C, k, k)
        return weight.squeeze(2)
    return weight


def _group_params(group: Group, weights: Mapping[str, torch.Tensor],
                  biases: Optional[Mapping[str, torch.Tensor]]):
    weight = _group_weight(group, weights)
    bias = None
    if biases is not None:
        parts = [biases[p.shape][p.start:p.stop] for p in group.pieces]
        bias = parts[0] if len(parts) == 1 else torch.cat(parts)
    return weight, bias


@lru_cache(maxsize=None)
def _dims(shape: str) -> Tuple[int, int, int]:
    return parse_shape(shape).dims


def _copies_weights(group: Group) -> bool:
    # A group of one unpadded piece convolves a view of its parameter.
    return len(group.pieces) > 1 or _dims(
        group.pieces[0].shape) != group.kernel


class _Recipe:
    """What autograd keeps of a built group weight: how to rebuild it."""

    __slots__ = ('group', 'weights', 'versions')

    def __init__(self, group: Group, weights: Mapping[str, torch.Tensor]):
        self.group = group
        self.weights = weights
        self.versions = {k: w._version for k, w in weights.items()}

    def build(self) -> torch.Tensor:
        for key, weight in self.weights.items():
            if weight._version != self.versions[key]:
                raise RuntimeError(
                    f'branch {key!r} of a CAKES layer was modified in '
                    f'place between forward and backward')
        # Plain backward runs without grad mode; create_graph=True (double
        # backward) runs with it and gets a differentiable rebuild.
        return _group_weight(self.group, self.weights)


def _recompute_weight(weight: torch.Tensor, group: Group,
                      weights: Mapping[str, torch.Tensor]):
    """Autograd saves a rebuild recipe instead of the built weight.

    The convolution saves its weight for the input gradient; a built group
    weight is a copy of the branch weights, so keeping it would hold every
    CAKES weight twice until backward. Rebuilding it there costs a copy.
    """
    key = (weight.data_ptr(), weight.shape, weight.stride())

    def pack(tensor):
        if (tensor.data_ptr(), tensor.shape, tensor.stride()) == key:
            return _Recipe(group, weights)
        return tensor

    def unpack(saved):
        return saved.build() if isinstance(saved, _Recipe) else saved

    return torch.autograd.graph.saved_tensors_hooks(pack, unpack)


def _run_group(group: Group, x: torch.Tensor, weight: torch.Tensor,
               bias: Optional[torch.Tensor], stride: Sequence[int],
               dilation: Sequence[int]) -> torch.Tensor:
    # An axis of extent 1 has no dilation, as in CAKESConv3d._make_branch.
    dil = tuple(d if k > 1 else 1 for d, k in zip(dilation, group.kernel))
    pad = tuple(d * (k // 2) for d, k in zip(dil, group.kernel))
    s_t, s_h, s_w = stride
    if group.mode == 'temporal':
        if s_h > 1 or s_w > 1:
            x = x[:, :, :, ::s_h, ::s_w]
        n, c, t, h, w = x.shape
        out = F.conv2d(
            x.reshape(n, c, t, h * w),
            weight,
            bias,
            stride=(s_t, 1),
            padding=(pad[0], 0),
            dilation=(dil[0], 1))
        return out.reshape(n, out.shape[1], out.shape[2], h, w)
    if group.mode == 'frames':
        if s_t > 1:
            x = x[:, :, ::s_t]
        n, c, t, h, w = x.shape
        frames = x.transpose(1, 2).reshape(n * t, c, h, w)
        out = F.conv2d(
            frames,
            weight,
            bias,
            stride=(s_h, s_w),
            padding=pad[1:],
            dilation=dil[1:])
        out = out.reshape(n, t, out.shape[1], out.shape[2], out.shape[3])
        return out.transpose(1, 2)
    return F.conv3d(x, weight, bias, stride, pad, dil)


def run_plan(plan: Plan,
             x: torch.Tensor,
             weights: Mapping[str, torch.Tensor],
             biases: Optional[Mapping[str, torch.Tensor]],
             stride: Sequence[int],
             dilation: Sequence[int],
             params: Optional[List[tuple]] = None) -> torch.Tensor:
    """Compute a layer with a plan.

    Args:
        plan (Plan): The plan.
        x (Tensor): Input ``(N, C_in, T, H, W)``.
        weights (Mapping[str, Tensor]): Branch weight by shape.
        biases (Mapping[str, Tensor], optional): Branch bias by shape.
        stride (Sequence[int]): ``(T, H, W)`` stride.
        dilation (Sequence[int]): ``(T, H, W)`` dilation.
        params (list[tuple], optional): Prebuilt ``(weight, bias)`` per
            group (the inference cache). Defaults to None.

    Returns:
        Tensor: Output ``(N, C_out, T', H', W')``, canonical order.
    """
    outs = []
    recording = torch.is_grad_enabled() and not torch.jit.is_tracing(
    ) and any(w.requires_grad for w in weights.values())
    for index, group in enumerate(plan.groups):
        weight, bias = (params[index] if params is not None else
                        _group_params(group, weights, biases))
        if recording and params is None and _copies_weights(group):
            with _recompute_weight(weight, group, weights):
                out = _run_group(group, x, weight, bias, stride, dilation)
        else:
            out = _run_group(group, x, weight, bias, stride, dilation)
        outs.append(out)
    if len(plan.runs) == 1:
        index, start, stop = plan.runs[0]
        if start == 0 and stop == plan.groups[index].channels:
            return outs[index]
    return torch.cat([outs[i][:, a:b] for i, a, b in plan.runs], dim=1)


# ----------------------------------------------------------------------
# Choosing a plan.
def _counts(layer) -> Tuple[Tuple[str, int], ...]:
    return tuple(layer.counts.items())


@lru_cache(maxsize=None)
def _fast_plan(counts: Tuple[Tuple[str, int], ...], block: int) -> Plan:
    return block_plan(counts, block, name='fast')


def fast_plan(layer, device_type: str = 'cpu') -> Plan:
    """The plan ``impl='fast'`` runs for a layer on a device type.

    Args:
        layer (CAKESConv3d): The layer.
        device_type (str): ``'cpu'``, ``'cuda'``... Defaults to ``'cpu'``.

    Returns:
        Plan: :func:`block_plan` for :func:`default_block`.
    """
    return _fast_plan(_counts(layer), default_block(device_type))


def _layout(x: torch.Tensor) -> str:
    if x.is_contiguous():
        return 'contiguous'
    if x.is_contiguous(memory_format=torch.channels_last_3d):
        return 'channels_last_3d'
    return 'strided'


def _branch_params(layer) -> Tuple[dict, Optional[dict]]:
    branches = layer.branches._modules  # no recursion: hot path
    weights = {k: b.weight for k, b in branches.items()}
    biases = ({k: b.bias
               for k, b in branches.items()} if layer.bias_enabled else None)
    return weights, biases


def _records_grad(layer, x: torch.Tensor) -> bool:
    return torch.is_grad_enabled() and (
        x.requires_grad or any(b.weight.requires_grad
                               for b in layer.branches._modules.values()))


def _auto_key(layer, x: torch.Tensor, train: bool) -> tuple:
    threads = torch.get_num_threads() if x.device.type == 'cpu' else 0
    return (_counts(layer), layer.in_channels, tuple(layer.kernel_size),
            tuple(layer.stride), tuple(layer.dilation), layer.bias_enabled,
            tuple(x.shape), x.dtype, str(x.device), _layout(x), train,
            threads)


def _measure(layer, plans: Mapping[str, Plan], x: torch.Tensor,
             train: bool) -> Dict[str, float]:
    # Detached copies: timing must not touch the layer's parameters or
    # their .grad, and must not draw from torch's RNG.
    weights, biases = _branch_params(layer)
    weights = {
        k: w.detach().clone().requires_grad_(train)
        for k, w in weights.items()
    }
    if biases is not None:
        biases = {
            k: b.detach().clone().requires_grad_(train)
            for k, b in biases.items()
        }
    x = x.detach().requires_grad_(train and x.requires_grad)

    def step(plan):
        def fn():
            with torch.set_grad_enabled(train):
                y = run_plan(plan, x, weights, biases, layer.stride,
                             layer.dilation)
                if train:
                    y.backward(torch.ones_like(y))
        return fn

    fns = {name: step(plan) for name, plan in plans.items()}
    best = {name: float('inf') for name in plans}
    for fn in fns.values():  # warm-up: primitive creation, allocator
        fn()
    # Interleaved rounds, minimum: noise from other processes hits every
    # candidate alike and only ever adds time.
    for _ in range(AUTO_ROUNDS):
        for name, fn in fns.items():
            best[name] = min(best[name], time_once(fn, x.device))
    return best


def auto_plan(layer, x: torch.Tensor) -> Plan:
    """The plan ``impl='auto'`` runs: measured once per key, cached.

    The key is the layer's counts and geometry, the input shape, dtype,
    device and memory layout, whether autograd records (then forward +
    backward is timed) and, on CPU, the number of threads.

    Args:
        layer (CAKESConv3d): The layer.
        x (Tensor): Its input.

    Returns:
        Plan: The chosen plan.
    """
    train = _records_grad(layer, x)
    plans = candidate_plans(_counts(layer), default_block(x.device.type))
    key = _auto_key(layer, x, train)
    if key not in _AUTO_CACHE:
        if len(plans) == 1:
            times = {next(iter(plans)): 0.0}
        else:
            times = _measure(layer, plans, x, train)
        _AUTO_CACHE[key] = (min(times, key=times.get), times)
    return plans[_AUTO_CACHE[key][0]]


def auto_cache() -> List[dict]:
    """What ``auto`` measured and chose in this process.

    Returns:
        list[dict]: Per key: ``counts``, ``input_shape``, ``dtype``,
        ``device``, ``layout``, ``train``, ``threads``, ``choice`` and
        ``times`` (seconds per candidate).
    """
    rows = []
    for key, (choice, times) in _AUTO_CACHE.items():
        rows.append(
            dict(
                counts=dict(key[0]),
                input_shape=key[6],
                dtype=str(key[7]),
                device=key[8],
                layout=key[9],
                train=key[10],
                threads=key[11],
                choice=choice,
                times=dict(times)))
    return rows


def clear_auto_cache() -> None:
    """Forget every ``auto`` measurement (and the plan candidates)."""
    _AUTO_CACHE.clear()


def layer_plan(layer, x: torch.Tensor) -> Optional[Plan]:
    """The plan a layer runs for an input (None for ``'reference'``)."""
    if layer.impl == 'fast':
        return fast_plan(layer, x.device.type)
    if layer.impl == 'auto':
        if torch.jit.is_tracing() or torch.jit.is_scripting() or \
                torch.compiler.is_compiling():
            # Measuring inside a trace or compile would record the timing
            # runs into the graph.
            return fast_plan(layer, x.device.type)
        return auto_plan(layer, x)
    return None


def _cached_params(layer, plan: Plan, weights: dict,
                   biases: Optional[dict]) -> List[tuple]:
    # Group weights are concatenations of the branch weights; without
    # autograd they are rebuilt only when a parameter changes (in place,
    # .to(), load_state_dict), keyed on storage and version counter.
    params = list(weights.values()) + list((biases or {}).values())
    stamp = tuple((p.data_ptr(), p._version, p.dtype) for p in params)
    cache = layer.__dict__.setdefault('_plan_params', {})
    entry = cache.get(plan.name)
    if entry is None or entry[0] != stamp:
        built = [_group_params(g, weights, biases) for g in plan.groups]
        cache.clear()
        cache[plan.name] = entry = (stamp, built)
    return entry[1]


def impl_forward(layer, x: torch.Tensor) -> torch.Tensor:
    """Forward of a layer whose ``impl`` is ``'fast'`` or ``'auto'``.

    Args:
        layer (CAKESConv3d): The layer.
        x (Tensor): Input ``(N, C_in, T, H, W)``.

    Returns:
        Tensor: Output equal to the reference forward's.
    """
    plan = layer_plan(layer, x)
    weights, biases = _branch_params(layer)
    params = None
    if not _records_grad(layer, x):
        params = _cached_params(layer, plan, weights, biases)
    return run_plan(plan, x, weights, biases, layer.stride, layer.dilation,
                    params)


def set_impl(model: torch.nn.Module, impl: str) -> int:
    """Set ``impl`` on every CAKES layer of a model.

    Args:
        model (nn.Module): Any module.
        impl (str): One of :data:`IMPLS`.

    Returns:
        int: Number of layers changed.
    """
    from .cakes_conv import CAKESConv3d
    check_impl(impl)
    changed = 0
    for module in model.modules():
        if isinstance(module, CAKESConv3d):
            module.impl = impl
            changed += 1
    return changed
