"""``impl='auto'``: key, choice rules, memory bound, persisted choices."""
import json
import os
import re
import threading

import pytest
import torch

from cakes_mmaction.layers import (CAKESConv3d, CAKESImpl, impl_auto,
                                   register_impl)
from cakes_mmaction.layers.cakes_conv_impl import (auto_cache, auto_key,
                                                   cache_path, chosen_impl,
                                                   clear_auto_cache,
                                                   key_string, set_cache_dir)
from cakes_mmaction.layers.impl_registry import unregister_impl


@pytest.fixture(autouse=True)
def fresh(tmp_path):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    set_cache_dir(str(tmp_path / 'auto'))
    clear_auto_cache()
    yield
    clear_auto_cache()
    set_cache_dir(None)
    torch.set_num_threads(threads)


def _layer(**kwargs):
    torch.manual_seed(0)
    return CAKESConv3d(
        8, {'3x3x3': 5, '1x3x3': 19, '3x1x1': 1}, impl='auto', **kwargs)


def _fake_times(monkeypatch, seconds):
    # The timer is not under test; which candidate wins is.
    def fake(fn, device):
        fn()
        return seconds.get(fn.impl_name, 1.0)

    monkeypatch.setattr(impl_auto, 'time_once', fake)


class _Toy(CAKESImpl):
    """A toy implementation with a chosen memory bound."""

    bound = 0

    def forward(self, layer, x):
        return layer.reference_forward(x)

    def peak_bytes(self, layer, x, train):
        return self.bound


@pytest.fixture
def toys():
    names = []

    def make(name, bound):
        cls = type(f'Toy_{name}', (_Toy, ), dict(bound=bound))
        register_impl(name)(cls)
        names.append(name)

    yield make
    for name in names:
        unregister_impl(name)


def test_key_is_readable_and_complete():
    layer = _layer(spatial_stride=2, bias=True)
    x = torch.randn(1, 8, 4, 8, 8).contiguous(
        memory_format=torch.channels_last_3d)
    key = auto_key(layer, x, train=True)
    assert key_string(key) == (
        'counts=3x3x3:5,1x3x3:19,3x1x1:1 in_channels=8 kernel=3x3x3 '
        'stride=1x2x2 dilation=1x1x1 bias=True input_shape=1x8x4x8x8 '
        'dtype=float32 layout=channels_last_3d device=cpu threads=1 '
        'mode=train')
    with torch.autocast('cpu', dtype=torch.bfloat16):
        assert auto_key(layer, x, False)['dtype'] == \
            'float32->autocast:bfloat16'


def test_auto_caches_its_choice_per_key():
    layer = _layer()
    x = torch.randn(1, 8, 4, 8, 8)
    with torch.no_grad():
        layer(x)
    rows = auto_cache()
    assert len(rows) == 1
    first = rows[0]
    assert first['train'] is False and first['input_shape'] == tuple(x.shape)
    assert first['choice'] in first['times']
    assert {'reference', 'fast', 'dense', 'taps'} <= set(first['times'])
    assert first['memory'] == 'analytic'
    with torch.no_grad():
        layer(x)
    assert auto_cache() == rows
    layer(x.requires_grad_())  # autograd records: timed with backward
    layer(torch.randn(1, 8, 4, 6, 6))  # another geometry
    keys = [(r['train'], r['input_shape']) for r in auto_cache()]
    assert keys == [(False, (1, 8, 4, 8, 8)), (True, (1, 8, 4, 8, 8)),
                    (True, (1, 8, 4, 6, 6))]


def test_fastest_within_memory_wins(monkeypatch, toys):
    layer = _layer()
    x = torch.randn(1, 8, 4, 8, 8)
    ref_peak = impl_auto.get_impl('reference').peak_bytes(layer, x, False)
    toys('toy_fat', 2 * ref_peak)  # fastest, but twice the memory
    toys('toy_lean', ref_peak)
    times = dict(reference=1.0, fast=1.0, dense=1.0, taps=1.0,
                 toy_fat=0.1, toy_lean=0.5)
    _fake_times(monkeypatch, times)
    with torch.no_grad():
        assert chosen_impl(layer, x) == 'toy_lean'
    row = auto_cache()[0]
    assert 'peak memory' in row['refused']['toy_fat']
    assert row['peak_bytes']['toy_lean'] == ref_peak
    # Equal times: the first registered candidate.
    clear_auto_cache()
    set_cache_dir('off')
    times.update(toy_lean=1.0)
    with torch.no_grad():
        assert chosen_impl(layer, x) == 'reference'


def test_impl_without_memory_bound_is_not_chosen_on_cpu(monkeypatch):

    class _Unbounded(CAKESImpl):

        def forward(self, layer, x):
            return layer.reference_forward(x)

    register_impl('toy_unbounded')(_Unbounded)
    try:
        _fake_times(monkeypatch, dict(toy_unbounded=0.01))
        layer = _layer()
        with torch.no_grad():
            assert chosen_impl(layer, torch.randn(1, 8, 3, 6, 6)) != \
                'toy_unbounded'
        assert auto_cache()[0]['refused']['toy_unbounded'] == \
            'no memory bound on this device'
    finally:
        unregister_impl('toy_unbounded')


def test_choices_persist_per_device_and_are_not_remeasured(monkeypatch):
    layer = _layer()
    x = torch.randn(1, 8, 4, 8, 8)
    with torch.no_grad():
        choice = chosen_impl(layer, x)
    path = cache_path(x.device)
    assert os.path.basename(path).startswith('cpu-')
    with open(path) as f:
        data = json.load(f)
    text = key_string(auto_key(layer, x, False))
    assert data['version'] == 1 and data['entries'][text]['choice'] == choice
    # A new process (a forgotten memory) reads the file, measures nothing.
    clear_auto_cache()

    def boom(*args):
        raise AssertionError('measured again')

    monkeypatch.setattr(impl_auto, 'measure', boom)
    with torch.no_grad():
        assert chosen_impl(layer, x) == choice
    # A recorded choice that no longer exists is measured again.
    data['entries'][text]['choice'] = 'gone'
    with open(path, 'w') as f:
        json.dump(data, f)
    clear_auto_cache()
    with pytest.raises(AssertionError, match='measured again'):
        with torch.no_grad():
            chosen_impl(layer, x)


def test_broken_cache_file_is_ignored_with_a_warning(tmp_path):
    layer = _layer()
    x = torch.randn(1, 8, 3, 6, 6)
    path = cache_path(x.device)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'w') as f:
        f.write('{not json')
    with pytest.warns(UserWarning, match=re.escape(f'{path} ignored')):
        with torch.no_grad():
            layer(x)
    with open(path) as f:  # rewritten, valid
        assert len(json.load(f)['entries']) == 1


def test_follower_rank_takes_the_leaders_choice(monkeypatch):
    layer = _layer()
    x = torch.randn(1, 8, 3, 6, 6)
    text = key_string(auto_key(layer, x, False))
    path = cache_path(x.device)
    monkeypatch.setattr(impl_auto, '_is_follower', lambda: True)
    monkeypatch.setattr(impl_auto, 'AUTO_WAIT_S', 30)

    def boom(*args):
        raise AssertionError('a follower measured')

    monkeypatch.setattr(impl_auto, 'measure', boom)
    # The leader writes its choice a moment later.
    entry = dict(key=dict(auto_key(layer, x, False)), choice='dense',
                 times={})
    writer = threading.Timer(0.3, impl_auto._write, (path, text, entry))
    writer.start()
    with torch.no_grad():
        assert chosen_impl(layer, x) == 'dense'
    writer.join()
