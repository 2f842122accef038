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
from typing import Dict, List, Mapping, Optional, Tuple

import torch

from .cakes_plan import Plan, block_plan, candidate_plans, default_block
from .cakes_plan_run import group_params, run_plan
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

#: ``auto`` leaves the ``fast`` plan only for one this much faster.
AUTO_MARGIN = 0.05


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
        _AUTO_CACHE[key] = (_choose(times, plans, fast_plan(
            layer, x.device.type)), times)
    return plans[_AUTO_CACHE[key][0]]


def _choose(times: Dict[str, float], plans: Mapping[str, Plan],
            fast: Plan) -> str:
    # The fast plan is kept unless another is clearly faster: on a busy
    # machine a burst during one candidate's runs should not pick it.
    best = min(times, key=times.get)
    for name, plan in plans.items():
        if plan.groups == fast.groups and \
                times[name] <= (1 + AUTO_MARGIN) * times[best]:
            return name
    return best


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
        if torch.compiler.is_compiling():
            # Timing runs inside torch.compile would be compiled, not run.
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
        built = [group_params(g, weights, biases) for g in plan.groups]
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
