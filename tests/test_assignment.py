import json
import os
import random

import pytest
import torch

from cakes_mmaction.assignment import (FORMAT_NAME, FORMAT_VERSION, PRESETS,
                                       Assignment, AssignmentError,
                                       list_presets, shape_set_names)
from cakes_mmaction.models import ResNet3dCAKES

OFFICIAL = '/work/shared/reference/official_cakes_assignments.json'
WIDTHS = {'layer1.0.conv2': 8, 'layer2.0.conv2': 16, 'layer2.1.conv2': 16}


def _random_layers(widths, shapes, rng, allow_zero=True):
    layers = {}
    for path, width in widths.items():
        cuts = sorted(rng.randint(0, width) for _ in shapes[1:])
        parts = [b - a for a, b in zip([0] + cuts, cuts + [width])]
        if not allow_zero:
            parts = [max(p, 0) for p in parts]
        layers[path] = dict(zip(shapes, parts))
    return layers


def test_json_round_trip_has_deterministic_bytes(tmp_path):
    rng = random.Random(0)
    layers = _random_layers(WIDTHS, ['3x1x1', '3x3x3', '1x3x3'], rng)
    a = Assignment(layers, dict(source='test', params=12))
    path = tmp_path / 'a.json'
    a.save(path)
    first = path.read_bytes()
    b = Assignment.load(path)
    assert b == a and b.meta == a.meta
    assert b.shapes == ('3x3x3', '1x3x3', '3x1x1')
    b.save(path)
    assert path.read_bytes() == first
    # Insertion order of the shapes in the input does not change the bytes.
    shuffled = {p: dict(reversed(list(c.items()))) for p, c in layers.items()}
    assert Assignment(shuffled, a.meta).dumps().encode() == first
    data = json.loads(first)
    assert data['format'] == FORMAT_NAME and data['version'] == FORMAT_VERSION
    assert list(data['layers']) == list(WIDTHS)
    assert not list(tmp_path.glob('*.tmp.*'))  # atomic write left nothing


def test_yaml_round_trip(tmp_path):
    a = Assignment.uniform(WIDTHS, 'volumetric').with_meta(note='yaml')
    for suffix in ('.yaml', '.yml'):
        path = tmp_path / f'a{suffix}'
        a.save(path)
        text = path.read_text()
        assert 'layer2.1.conv2' in text and '{' not in text  # real YAML
        b = Assignment.load(path)
        assert b == a and b.meta == a.meta
        b.save(path)
        assert path.read_text() == text
    # A YAML file and a JSON file of the same assignment agree.
    a.save(tmp_path / 'a.json')
    assert Assignment.load(tmp_path / 'a.json') == Assignment.load(
        tmp_path / 'a.yaml')


def test_from_state_dict_recovers_counts():
    rng = random.Random(1)
    net = ResNet3dCAKES(
        assignment=dict(uniform=['3x3x3']), depth=18, base_channels=8)
    widths = {p: m.out_channels for p, m in net.cakes_layers.items()}
    layers = _random_layers(widths, ['3x3x3', '1x3x3', '3x1x1'], rng)
    layers['layer1.0.conv1'] = {'3x3x3': 0, '1x3x3': 8, '3x1x1': 0}
    net = ResNet3dCAKES(
        assignment=dict(layers=layers), depth=18, base_channels=8)
    sd = {f'backbone.{k}': v for k, v in net.state_dict().items()}
    sd['cls_head.fc_cls.weight'] = torch.zeros(3, 64)
    found = Assignment.from_state_dict(sd)
    assert list(found) == list(widths)
    for path in widths:
        assert found.nonzero(path) == net.assignment.nonzero(path)
        assert found.width(path) == widths[path]
    bare = Assignment.from_state_dict(net.state_dict(), prefix='')
    assert bare.to_layers() == found.to_layers()
    with pytest.raises(AssignmentError, match='no CAKES layers'):
        Assignment.from_state_dict(net.state_dict(), prefix='backbone.')


def test_views_and_uniform_split():
    a = Assignment.uniform({'a': 10, 'b': 3}, ['3x1x1', '1x3x3', '3x3x3'])
    # The remainder goes to the first shapes in canonical order.
    assert a['a'] == {'3x3x3': 4, '1x3x3': 3, '3x1x1': 3}
    assert a['b'] == {'3x3x3': 1, '1x3x3': 1, '3x1x1': 1}
    assert a.width('a') == 10 and len(a) == 2 and list(a) == ['a', 'b']
    assert a.totals() == {'3x3x3': 5, '1x3x3': 4, '3x1x1': 4}
    b = Assignment.uniform({'a': 2}, '12d')
    assert b.nonzero('a') == {'1x3x3': 1, '3x1x1': 1}
    c = Assignment({'a': {'3x3x3': 2, '1x3x3': 0}})
    assert c.nonzero('a') == {'3x3x3': 2}
    assert c.with_meta(x=1).meta == {'x': 1} and c.meta == {}
    assert Assignment({'a': {'3x3x3': 2.0}})['a'] == {'3x3x3': 2}
    with pytest.raises(KeyError, match="no layer 'z'.*layers: a"):
        c['z']
    with pytest.raises(AssignmentError, match="unknown shape set 'x'"):
        Assignment.uniform({'a': 2}, 'x')


def test_resolve_accepts_every_spec(tmp_path):
    preset = Assignment.preset('cakes23d_p')
    path = tmp_path / 'p.json'
    preset.save(path)
    for spec in (preset, 'cakes23d_p', 'CAKES23D_P', str(path), path,
                 preset.to_dict(), preset.to_layers()):
        assert Assignment.resolve(spec) == preset
    widths = {p: preset.width(p) for p in preset}
    assert Assignment.resolve(dict(uniform='23d'), widths) == \
        Assignment.uniform(widths, '23d')
    assert Assignment.resolve(
        dict(uniform=['1x3x3']), widths).nonzero('layer4.2.conv2') == {
            '1x3x3': 512}


def test_presets_match_the_official_publication():
    assert list_presets() == sorted(PRESETS) and len(PRESETS) == 6
    if not os.path.isfile(OFFICIAL):
        pytest.skip('shared reference file not on this machine')
    with open(OFFICIAL) as f:
        official = json.load(f)['assignments']
    assert sorted(official) == sorted(n.upper() for n in PRESETS)
    for name in PRESETS:
        preset = Assignment.preset(name)
        blocks = official[name.upper()]
        assert list(preset) == [f'{b}.conv2' for b in blocks]
        for block, counts in blocks.items():
            assert preset.nonzero(f'{block}.conv2') == {
                s: n for s, n in counts.items() if n}
        shapes = preset.meta['shape_set']
        assert list(preset.shapes) == shapes


# --------------------------------------------------------------------------
# Validation: every error names where, which layer, expected and found.
# --------------------------------------------------------------------------
def _write(tmp_path, data, name='bad.json'):
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return str(path)


def _file(layers, **top):
    return {'format': FORMAT_NAME, 'version': 1, 'layers': layers, **top}


GOOD = {p: {'3x3x3': w // 2, '1x3x3': w - w // 2} for p, w in WIDTHS.items()}


@pytest.mark.parametrize('layers,pattern', [
    ({**GOOD, 'layer9.0.conv2': {'3x3x3': 8}},
     r"layer 'layer9.0.conv2' is not a CAKES layer.*expected layers"),
    ({k: v for k, v in GOOD.items() if k != 'layer2.0.conv2'},
     r"no counts for layer 'layer2.0.conv2'"),
    ({**GOOD, 'layer2.1.conv2': {'3x3x3': 8, '1x3x3': 7}},
     r"layer 'layer2.1.conv2'.*sum to 15, expected the layer width 16"),
])
def test_file_not_fitting_the_network(tmp_path, layers, pattern):
    path = _write(tmp_path, _file(layers))
    with pytest.raises(AssignmentError, match=pattern) as err:
        Assignment.resolve(path, WIDTHS)
    assert str(err.value).startswith(path)


@pytest.mark.parametrize('counts,pattern', [
    ({'3x3x3': -1, '1x3x3': 9}, r"shape 3x3x3: counts must be non-negative "
     r'integers, got -1'),
    ({'3x3x3': 2.5, '1x3x3': 6}, r'non-negative integers, got 2.5'),
    ({'3x3x3': '4', '1x3x3': 4}, r"non-negative integers, got '4'"),
    ({'3x3x3': True, '1x3x3': 7}, r'non-negative integers, got True'),
    ({'3x3x3': None, '1x3x3': 8}, r'non-negative integers, got None'),
    ({'2x3x3': 4, '1x3x3': 4}, r"unknown kernel shape '2x3x3'"),
    ({'3x3': 4, '1x3x3': 4}, r"unknown kernel shape '3x3'"),
    ({'3x3x3': 0, '1x3x3': 0}, r'has no output channels'),
    ([4, 4], r'expected a mapping \{shape: count\}'),
])
def test_bad_counts_name_file_and_layer(tmp_path, counts, pattern):
    path = _write(tmp_path, _file({**GOOD, 'layer2.0.conv2': counts}))
    with pytest.raises(AssignmentError, match=pattern) as err:
        Assignment.load(path)
    message = str(err.value)
    assert message.startswith(path) and "'layer2.0.conv2'" in message


@pytest.mark.parametrize('text,pattern', [
    ('{"layers": ', r'not a valid assignment file'),
    ('[1, 2]', r'expected a mapping at the top level, got list'),
    (json.dumps(_file(GOOD, format='other')), r'"format" is \'other\''),
    (json.dumps(dict(_file(GOOD), version=2)), r'"version" is 2'),
    (json.dumps(_file(GOOD, meta=[1])), r'"meta" must be a mapping'),
    (json.dumps(_file({})), r'non-empty mapping of layer paths'),
])
def test_bad_files(tmp_path, text, pattern):
    path = _write(tmp_path, text)
    with pytest.raises(AssignmentError, match=pattern) as err:
        Assignment.load(path)
    assert str(err.value).startswith(path)


def test_bad_yaml_and_missing_file(tmp_path):
    path = _write(tmp_path, 'layers: [1, 2\n', 'bad.yaml')
    with pytest.raises(AssignmentError, match='not a valid assignment file'):
        Assignment.load(path)
    missing = str(tmp_path / 'none.json')
    with pytest.raises(AssignmentError, match=f'{missing}: .*not found'):
        Assignment.resolve(missing)


def test_bad_specs():
    with pytest.raises(AssignmentError, match=r"unknown assignment preset "
                       r"'cakes99d'.*cakes123d_c"):
        Assignment.preset('cakes99d')
    with pytest.raises(AssignmentError, match='neither a preset'):
        Assignment.resolve('cakes99d')
    with pytest.raises(AssignmentError, match='got int: 3'):
        Assignment.resolve(3)
    with pytest.raises(AssignmentError, match='needs the network widths'):
        Assignment.resolve(dict(uniform='video'))
    with pytest.raises(AssignmentError, match="layer names must be module "
                       "paths.*got 3"):
        Assignment({3: {'3x3x3': 1}})
    with pytest.raises(AssignmentError, match='config: layer .a.: unknown'):
        Assignment.resolve({'a': {'4x3x3': 1}})


def test_shape_set_names():
    assert shape_set_names('12d') == ('1x3x3', '3x1x1')
    assert shape_set_names(['3x1x1', '3x3x3']) == ('3x3x3', '3x1x1')
    with pytest.raises(AssignmentError, match="f.json: unknown shape set"):
        shape_set_names('nope', 'f.json')
    with pytest.raises(AssignmentError, match='at least one shape'):
        shape_set_names([])
