"""Choosing and running an implementation of :class:`CAKESConv3d`.

``impl`` of a layer is a name registered in
:mod:`~cakes_mmaction.layers.impl_registry` or ``'auto'``:

- ``'reference'``: one ``Conv3d`` per branch, then one concatenation (the
  layer's own ``forward``).
- ``'fast'``: the :func:`~cakes_mmaction.layers.cakes_plan.block_plan` for
  the device's output-channel block (no measuring, deterministic).
- ``'dense'``: one convolution with zero-padded sub-kernels, the speed of
  the dense convolution the layer replaces.
- ``'auto'``: the fastest of :func:`candidate_plans`, measured once per
  layer shape and input geometry (forward, or forward + backward when
  autograd records) and cached for the process.

Every implementation computes the same function of the branch parameters
with the same gradients, so the state dict does not change.
"""
from collections import OrderedDict
from typing import Dict, List, Mapping, Optional, Tuple

import torch

from .cakes_plan import Plan, candidate_plans, default_block
from .cakes_plan_run import run_plan
from .impl_plans import fast_plan, records_grad, run_layer_plan
from .impl_registry import RESERVED, get_impl, impl_names
from .timing import time_once

__all__ = [
    'IMPLS', 'check_impl', 'run_plan', 'impl_forward', 'fast_plan',
    'auto_plan', 'auto_cache', 'clear_auto_cache', 'set_impl',
    'layer_plan', 'impl_choices'
]


def impl_choices() -> Tuple[str, ...]:
    """Every valid ``impl`` value: the registered names, then ``'auto'``."""
    return impl_names() + RESERVED


class _ImplChoices(tuple):
    """:data:`IMPLS`: a live view of :func:`impl_choices`."""

    def __new__(cls):
        return super().__new__(cls)

    def _now(self) -> Tuple[str, ...]:
        return impl_choices()

    def __iter__(self):
        return iter(self._now())

    def __len__(self) -> int:
        return len(self._now())

    def __contains__(self, item) -> bool:
        return item in self._now()

    def __getitem__(self, index):
        return self._now()[index]

    def __eq__(self, other) -> bool:
        return tuple(self._now()) == other

    def __hash__(self) -> int:
        return hash(self._now())

    def __repr__(self) -> str:
        return repr(self._now())


#: Valid ``impl`` values, registered implementations included (live).
IMPLS = _ImplChoices()

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
        impl (str): A registered name or ``'auto'``.
        where (str): Prefix for the error message. Defaults to ``''``.

    Returns:
        str: ``impl``.
    """
    choices = impl_choices()
    if impl not in choices:
        raise ValueError(
            f'{where}impl must be one of {choices}, got {impl!r}')
    return impl


# ----------------------------------------------------------------------
# ``auto``: choosing a plan.
def _counts(layer) -> Tuple[Tuple[str, int], ...]:
    return tuple(layer.counts.items())


def _layout(x: torch.Tensor) -> str:
    if x.is_contiguous():
        return 'contiguous'
    if x.is_contiguous(memory_format=torch.channels_last_3d):
        return 'channels_last_3d'
    return 'strided'


def _dtype(x: torch.Tensor) -> str:
    # Under autocast the convolutions run in the autocast dtype.
    name = str(x.dtype).replace('torch.', '')
    if x.dtype.is_floating_point and torch.is_autocast_enabled(
            x.device.type):
        cast = torch.get_autocast_dtype(x.device.type)
        name = f'{name}->autocast:{str(cast).replace("torch.", "")}'
    return name


def _dims(values) -> str:
    return 'x'.join(str(int(v)) for v in values)


def auto_key(layer, x: torch.Tensor, train: bool) -> Dict[str, object]:
    """What ``auto``'s choice depends on, as named, readable fields.

    Args:
        layer (CAKESConv3d): The layer.
        x (Tensor): Its input.
        train (bool): Whether autograd records (forward + backward timed).

    Returns:
        dict: ``counts``, ``in_channels``, ``kernel``, ``stride``,
        ``dilation``, ``bias``, ``input_shape``, ``dtype``, ``layout``,
        ``device``, ``threads`` (CPU; 0 elsewhere) and ``mode``
        (``'train'`` or ``'eval'``).
    """
    return OrderedDict(
        counts=','.join(f'{s}:{n}' for s, n in layer.counts.items()),
        in_channels=int(layer.in_channels),
        kernel=_dims(layer.kernel_size),
        stride=_dims(layer.stride),
        dilation=_dims(layer.dilation),
        bias=bool(layer.bias_enabled),
        input_shape=_dims(x.shape),
        dtype=_dtype(x),
        layout=_layout(x),
        device=str(x.device),
        threads=torch.get_num_threads() if x.device.type == 'cpu' else 0,
        mode='train' if train else 'eval')


def key_string(key: Mapping[str, object]) -> str:
    """One line for a key of :func:`auto_key` (the cache's key)."""
    return ' '.join(f'{k}={v}' for k, v in key.items())


#: ``auto``'s measurements: key string -> {key, choice, times}.
_AUTO_CACHE: 'OrderedDict[str, dict]' = OrderedDict()

#: Timed runs per candidate when ``auto`` measures (after one warm-up).
AUTO_ROUNDS = 3

#: ``auto`` leaves the ``fast`` plan only for one this much faster.
AUTO_MARGIN = 0.05


def _measure(layer, plans: Mapping[str, Plan], x: torch.Tensor,
             train: bool) -> Dict[str, float]:
    # Detached copies: timing must not touch the layer's parameters or
    # their .grad, and must not draw from torch's RNG.
    weights = {
        k: b.weight.detach().clone().requires_grad_(train)
        for k, b in layer.branches.items()
    }
    biases = None
    if layer.bias_enabled:
        biases = {
            k: b.bias.detach().clone().requires_grad_(train)
            for k, b in layer.branches.items()
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

    The key (:func:`auto_key`) is the layer's counts and geometry, the
    input shape, dtype, device and memory layout, whether autograd records
    (then forward + backward is timed) and, on CPU, the number of threads.

    Args:
        layer (CAKESConv3d): The layer.
        x (Tensor): Its input.

    Returns:
        Plan: The chosen plan.
    """
    train = records_grad(layer, x)
    plans = candidate_plans(_counts(layer), default_block(x.device.type))
    key = auto_key(layer, x, train)
    text = key_string(key)
    if text not in _AUTO_CACHE:
        if len(plans) == 1:
            times = {next(iter(plans)): 0.0}
        else:
            times = _measure(layer, plans, x, train)
        choice = _choose(times, plans, fast_plan(layer, x.device.type))
        _AUTO_CACHE[text] = dict(key=key, choice=choice, times=times)
    return plans[_AUTO_CACHE[text]['choice']]


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
        list[dict]: Per key: the fields of :func:`auto_key`
        (``counts`` as a dict, ``input_shape`` as a tuple, ``train`` as a
        bool), ``choice`` and ``times`` (seconds per candidate).
    """
    rows = []
    for entry in _AUTO_CACHE.values():
        row = dict(entry['key'])
        row['counts'] = {
            s: int(n)
            for s, n in (part.split(':') for part in row['counts'].split(','))
        }
        row['input_shape'] = tuple(
            int(v) for v in row['input_shape'].split('x'))
        row['train'] = row.pop('mode') == 'train'
        row.update(choice=entry['choice'], times=dict(entry['times']))
        rows.append(row)
    return rows


def clear_auto_cache() -> None:
    """Forget every ``auto`` measurement."""
    _AUTO_CACHE.clear()


def layer_plan(layer, x: torch.Tensor) -> Optional[Plan]:
    """The plan a layer runs for an input (None for impls without one)."""
    if layer.impl == 'auto':
        if torch.compiler.is_compiling():
            # Timing runs inside torch.compile would be compiled, not run.
            return fast_plan(layer, x.device.type)
        return auto_plan(layer, x)
    impl = get_impl(layer.impl)
    return impl.plan(layer, x) if hasattr(impl, 'plan') else None


def impl_forward(layer, x: torch.Tensor) -> torch.Tensor:
    """Forward of a layer through its registered ``impl`` (or ``auto``).

    Args:
        layer (CAKESConv3d): The layer.
        x (Tensor): Input ``(N, C_in, T, H, W)``.

    Returns:
        Tensor: Output equal to the reference forward's.
    """
    if layer.impl == 'auto':
        return run_layer_plan(layer, x, layer_plan(layer, x))
    impl = get_impl(layer.impl)
    reason = impl.available(layer, x)
    if reason is not None:
        raise RuntimeError(
            f'layer {layer.layer_name!r}: impl {layer.impl!r} cannot run '
            f'on input {tuple(x.shape)} {x.dtype} {x.device}: {reason}')
    return impl.forward(layer, x)


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
