"""The GPU check of the triton impl: its ratios, targets and tables run on
CPU too (the triton impl is then listed as skipped, with the reason)."""
import importlib.util
import os

import pytest
import torch

from cakes_mmaction.analysis.triton_check import (flop_ratio, format_table,
                                                  layer_rows, layer_target,
                                                  network_rows)
from cakes_mmaction.cost import LayerGeometry, layer_cost
from cakes_mmaction.layers import CAKESConv3d

ROOT = os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

_TINY = (1, 3, 2, 32, 32)


def test_flop_ratio_agrees_with_the_cost_model():
    counts = {'3x3x3': 28, '1x3x3': 35, '3x1x1': 1}
    layer = CAKESConv3d(64, counts)
    cost = layer_cost(LayerGeometry('l', 64, 64, (8, 56, 56)), counts)
    dense = layer_cost(LayerGeometry('l', 64, 64, (8, 56, 56)), {'3x3x3': 64})
    want = sum(c.flops for c in cost.values()) / sum(c.flops
                                                     for c in dense.values())
    assert flop_ratio(layer) == pytest.approx(want)
    assert flop_ratio(layer) == pytest.approx(
        (28 * 27 + 35 * 9 + 3) / (64 * 27))


def test_targets_by_width():
    small = CAKESConv3d(64, {'3x3x3': 32, '1x3x3': 32})
    assert layer_target(small) == 0.9
    wide = CAKESConv3d(128, {'3x3x3': 64, '3x1x1': 64})
    assert layer_target(wide) == pytest.approx(1.15 * (27 + 3) / 54)


@pytest.fixture(scope='module')
def tiny_tables():
    torch.manual_seed(0)
    layers = layer_rows(
        shape=_TINY,
        dtype=torch.float32,
        impls=('triton', 'reference'),
        device='cpu',
        warmup=0,
        repeats=1)
    networks = network_rows(
        models=('cakes123d_p', ),
        impls=('reference', ),
        shape=_TINY,
        device='cpu',
        warmup=0,
        repeats=1)
    return layers, networks


def test_layer_rows_time_every_layer_and_explain_skips(tiny_tables):
    layers, _ = tiny_tables
    assert len(layers) == 16
    for row in layers:
        assert set(row['times']) == {'reference', 'cudnn_dense'}
        assert row['times']['cudnn_dense']['train_ratio'] == 1.0
        assert row['times']['reference']['train_ms'] > 0
        assert 'CUDA' in row['skipped']['triton']


def test_network_rows_and_table(tiny_tables):
    layers, networks = tiny_tables
    (row, ) = networks
    assert row['model'] == 'cakes123d_p' and row['target'] == 0.80
    assert row['ratio'] > 0 and row['peak_mb'] is None
    text = format_table(layers, networks)
    assert 'layer1.0.conv2' in text and 'cakes123d_p' in text


def test_cli_needs_a_gpu(tmp_path, capsys):
    if torch.cuda.is_available():
        pytest.skip('a CUDA device is present: the tool would measure')
    spec = importlib.util.spec_from_file_location(
        'triton_gpu_check', os.path.join(ROOT,
                                         'tools/misc/triton_gpu_check.py'))
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    assert tool.main(['--out', str(tmp_path)]) == 2
    assert 'no CUDA device' in capsys.readouterr().err
    assert not os.listdir(tmp_path)
