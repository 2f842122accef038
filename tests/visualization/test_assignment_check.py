"""plot_assignment checks what it reads, labels its costs, sorts, refuses
to mix networks."""
import json
import os.path as osp
import subprocess
import sys

import pytest

from cakes_mmaction.assignment import Assignment, AssignmentError
from cakes_mmaction.visualization import render_assignments
from cakes_mmaction.visualization.assignment_check import (check_assignment,
                                                           layer_order_key,
                                                           structural_problems)

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))

# The demo search network's layers (3 stages of one bottleneck).
DEMO = {
    'layer1.0.conv2': {'3x3x3': 6, '1x3x3': 5, '3x1x1': 5},
    'layer2.0.conv2': {'3x3x3': 10, '1x3x3': 11, '3x1x1': 11},
    'layer3.0.conv2': {'3x3x3': 20, '1x3x3': 22, '3x1x1': 22},
}


def _write(tmp_path, name, layers, meta=None):
    path = tmp_path / name
    path.write_text(
        json.dumps(dict(format='cakes-assignment', version=1, layers=layers,
                        meta=meta or {})))
    return str(path)


def _layers(**changes):
    layers = json.loads(json.dumps(DEMO))
    for path, counts in changes.items():
        if counts is None:
            layers.pop(path)
        else:
            layers[path] = counts
    return layers


@pytest.mark.parametrize('layers, expected', [
    (_layers(**{'layer2.0.conv2': {'3x3x3': 10, '1x3x3': 11, '3x1x1': 12}}),
     "'layer2.0.conv2'.*sum to 33, expected twice|layer2 is 33 wide"),
    (_layers(**{'layer2.0.conv2': None}), r"stage\(s\) \['layer2'\]"),
    (dict(_layers(), **{'layer1.2.conv2': DEMO['layer1.0.conv2']}),
     r'block\(s\) \[1\]'),
    (dict(_layers(), **{'head.fc': DEMO['layer1.0.conv2']}),
     "'head.fc' is not a layer of a CAKES ResNet"),
    (_layers(**{'layer3.0.conv2': {'3x3x3': 10**18, '1x3x3': 22}}),
     'is not a layer width'),
    (_layers(**{'layer1.0.conv2': {'3x1x1': 5, '3X1X1': 11}}),
     r"shape 3x1x1 is given twice \(\['3x1x1', '3X1X1'\]\)"),
])
def test_a_bad_file_is_an_error_and_writes_no_png(tmp_path, layers,
                                                  expected):
    spec = _write(tmp_path, 'bad.json', layers)
    out = tmp_path / 'bad.png'
    with pytest.raises(AssignmentError, match=expected) as err:
        render_assignments([spec], str(out))
    assert 'bad.json' in str(err.value)
    assert not out.exists()


def test_the_tool_reports_a_bad_file_without_a_traceback(tmp_path):
    spec = _write(tmp_path, 'bad.json',
                  _layers(**{'layer3.0.conv2': {'3x3x3': 10**18}}))
    out = tmp_path / 'bad.png'
    proc = subprocess.run(
        [sys.executable, 'tools/plot_assignment.py', spec, '--out',
         str(out)], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 1
    assert 'Traceback' not in proc.stderr
    assert 'bad.json' in proc.stderr and "'layer3.0.conv2'" in proc.stderr
    assert not out.exists()


def test_a_file_is_checked_against_the_network_it_records(tmp_path):
    # R50 widths in the recorded config: the demo counts cannot fit it.
    spec = _write(tmp_path, 'r50.json', _layers(),
                  meta=dict(config='configs/_base_/models/cakes_r50.py'))
    with pytest.raises(AssignmentError,
                       match='checked against configs/_base_/models/'
                       'cakes_r50.py'):
        render_assignments([spec])
    good = _write(
        tmp_path, 'demo.json', _layers(),
        meta=dict(config='configs/search/cakes_search_c_demo.py'))
    assert check_assignment(
        Assignment.load(good)).network.endswith('cakes_search_c_demo.py')
    assert structural_problems(Assignment(DEMO)) == []


def test_costs_name_their_scope_for_presets_and_files(tmp_path):
    spec = _write(
        tmp_path, 'searched.json', _layers(),
        meta=dict(cost_scope='CAKES layers only (the part an assignment '
                  'changes)', flops=3.5e6, params=1.2e4,
                  reference=dict(flops=1.06e7, params=3.6e4),
                  input_shape=[1, 3, 8, 32, 32]))
    text = render_assignments([spec])
    assert ('searched: CAKES layers only: 3.50M FLOPs (multiply-adds per '
            'clip of 1x3x8x32x32) = 33.0%') in text
    assert 'whole network' not in text
    text = render_assignments(['cakes123d_p'])
    # the preset records both: its CAKES layers cost 25.7 G, the network
    # 43.79 G; each line says which it is.
    assert 'cakes123d_p: CAKES layers only: 25.71G FLOPs' in text
    assert ('cakes123d_p: whole network: 43.79G FLOPs (multiply-adds per '
            'clip of 1x3x8x224x224) = 70.1%') in text


def test_layers_are_in_network_order(tmp_path):
    layers = {f'layer1.{i}.conv2': {'3x3x3': 4} for i in (10, 2, 0, 1)}
    layers.update({f'layer1.{i}.conv2': {'3x3x3': 4} for i in range(3, 10)})
    layers['layer2.0.conv2'] = {'3x3x3': 8}
    spec = _write(tmp_path, 'shuffled.json', layers)
    rows = [line.split()[0] for line in render_assignments([spec]).split(
        '\n') if line.startswith('layer1')]
    assert rows == [f'layer1.{i}.conv2' for i in range(11)]
    assert sorted(['layer1.10.conv2', 'layer1.9.conv2'],
                  key=layer_order_key)[0] == 'layer1.9.conv2'


def test_assignments_of_different_networks_are_not_mixed(tmp_path):
    spec = _write(tmp_path, 'demo.json', _layers())
    out = tmp_path / 'mixed.png'
    with pytest.raises(AssignmentError, match='different networks'):
        render_assignments(['cakes123d_p', spec], str(out))
    assert not out.exists()
    text = render_assignments(['cakes123d_p', spec], str(out),
                              allow_mixed=True)
    assert 'WARNING: cakes123d_p' in text and 'different networks' in text
    assert out.exists()
    # the same network: a preset and a file of R50 counts
    r50 = Assignment.preset('cakes12d_c').to_layers()
    same = _write(tmp_path, 'r50.json', r50)
    assert 'different' not in render_assignments(['cakes123d_p', same])
