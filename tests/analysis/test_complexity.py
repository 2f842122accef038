import random

import pytest
import torch
import torch.nn as nn
from mmaction.registry import MODELS
from mmengine.analysis import FlopAnalyzer

from cakes_mmaction.analysis import complexity_report, format_report
from cakes_mmaction.models import ResNet3dCAKES

SHAPE = (2, 3, 4, 32, 32)
SKELETON = dict(depth=18, base_channels=8, temporal_strides=(1, 1, 2, 1))


def _layers(seed):
    probe = ResNet3dCAKES(assignment=dict(uniform=['3x3x3']), **SKELETON)
    rng = random.Random(seed)
    layers = {}
    for path, layer in probe.cakes_layers.items():
        n = layer.out_channels
        a = rng.randint(0, n)
        b = rng.randint(0, n - a)
        layers[path] = {'3x3x3': a, '1x3x3': b, '3x1x1': n - a - b}
    return layers


def _recognizer(assignment):
    return MODELS.build(dict(
        type='Recognizer3D', _scope_='mmaction',
        backbone=dict(type='ResNet3dCAKES', assignment=assignment,
                      **SKELETON),
        cls_head=dict(type='I3DHead', in_channels=64, num_classes=7)))


class _Logits(nn.Module):
    """Independent reference forward: clip -> logits."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        feats = self.model.backbone(x)
        return self.model.cls_head(feats)


def _mmengine(module, shape):
    analyzer = FlopAnalyzer(module, (torch.zeros(shape), ))
    analyzer.unsupported_ops_warnings(False)
    analyzer.uncalled_modules_warnings(False)
    return analyzer


@pytest.mark.parametrize('bare', [False, True])
def test_report_against_mmengine_and_the_real_3x3x3_twin(bare):
    layers = _layers(0)
    model = _recognizer(dict(layers=layers))
    twin = _recognizer(dict(uniform=['3x3x3']))
    if bare:
        model, twin = model.backbone, twin.backbone
    model.train()
    report = complexity_report(model, SHAPE)
    assert model.training  # mode restored

    # The report counts inference (eval mode: BN in its folded form).
    model.eval()
    twin.eval()
    ref_model = model if bare else _Logits(model)
    analyzer = _mmengine(ref_model, SHAPE)
    assert report.flops == analyzer.total()
    assert report.params == sum(p.numel() for p in model.parameters())
    by_module = analyzer.by_module()
    prefix = '' if bare else 'model.backbone.'
    assert [r['path'] for r in report.layers] == list(layers)
    for row in report.layers:
        assert row['counts'] == layers[row['path']]
        assert row['flops'] == by_module[prefix + row['path'] + '.conv']
        assert sum(row['flops_by_shape'].values()) == row['flops']
        assert sum(row['params_by_shape'].values()) == row['params']
    assert report.cakes_flops == sum(r['flops'] for r in report.layers)

    # The reference is computed, not built: check it against a built twin.
    twin_ref = twin if bare else _Logits(twin)
    assert report.ref_flops == _mmengine(twin_ref, SHAPE).total()
    assert report.ref_params == sum(p.numel() for p in twin.parameters())
    assert report.flops_ratio == report.flops / report.ref_flops < 1
    assert 0 < report.params_ratio < 1
    twin_report = complexity_report(twin, SHAPE)
    assert twin_report.flops_ratio == twin_report.params_ratio == 1.0

    data = report.to_dict()
    assert data['input_shape'] == list(SHAPE)
    assert data['flops_ratio'] == report.flops_ratio


def test_format_report():
    model = _recognizer(dict(layers=_layers(1)))
    report = complexity_report(model, SHAPE)
    text = format_report(report)
    lines = text.splitlines()
    assert lines[0] == f'Input shape: {SHAPE} (N, C, T, H, W)'
    # A 32x32 toy: the table reads in M or K, never 0.000 G, and the
    # totals carry the exact counts.
    unit = {'G': 1e9, 'M': 1e6, 'K': 1e3}[lines[1].split('FLOPs in ')[1][0]]
    assert unit < 1e9 and '0.000' not in text
    assert f'FLOPs: {report.flops / unit:.3f}' in text
    assert f'({report.flops:,})' in text and f'({report.params:,})' in text
    assert (f'Ratio to all-3x3x3: params {report.params_ratio:.3f}   FLOPs '
            f'{report.flops_ratio:.3f}') in text
    assert 'Not counted by mmengine: ' in text and 'max_pool3d' in text
    header = next(line for line in lines if line.startswith('layer '))
    assert header.split() == [
        'layer', 'n', '3x3x3', 'n', '1x3x3', 'n', '3x1x1', 'params', 'FLOPs',
        '3x3x3', 'FLOPs', '1x3x3', 'FLOPs', '3x1x1', 'FLOPs', 'all-3x3x3',
        'ratio'
    ]
    for row in report.layers:
        line = next(line for line in lines
                    if line.startswith(row['path'] + ' '))
        cells = line.split()
        assert cells[1:4] == [str(row['counts'][s])
                              for s in ('3x3x3', '1x3x3', '3x1x1')]
        assert cells[-1] == f"{row['flops'] / row['ref_flops']:.3f}"
    total = lines[-1].split()
    assert total[:2] == ['CAKES', 'layers']
    assert total[-3] == f'{report.cakes_flops / unit:.3f}'


def test_bad_input_shape():
    net = ResNet3dCAKES(assignment=dict(uniform='video'), **SKELETON)
    with pytest.raises(ValueError, match=r'\(N, C, T, H, W\), got '
                       r'\(3, 4, 32, 32\)'):
        complexity_report(net, (3, 4, 32, 32))


def test_format_report_units_follow_the_size():
    """Large figures stay in G; each figure keeps 3 significant digits."""
    from cakes_mmaction.analysis.complexity import _exact, _unit
    assert _unit([40_000_000_000, 300_000_000]) == (1e9, 'G')
    assert _unit([15_123_456, 400_000]) == (1e6, 'M')
    assert _unit([15_123_456, 20_000]) == (1e3, 'K')
    assert _unit([15, 0]) == (1, '')
    assert _exact(15_123_456, 1e6, 'M') == '15.123 M (15,123,456)'
    assert _exact(15, 1, '') == '15'


def test_cost_rows_are_checked_against_mmengine_per_layer():
    """Geometry captured for another input (here half the frames) makes
    the cost.py rows disagree with what mmengine counts: an error naming
    the layer, not a wrong report."""
    from cakes_mmaction.analysis.complexity import cakes_geometry
    model = _recognizer(dict(layers=_layers(2)))
    shape = SHAPE[:2] + (SHAPE[2] * 2, ) + SHAPE[3:]
    right = cakes_geometry(model, SHAPE)
    assert complexity_report(model, SHAPE, right).flops == \
        complexity_report(model, SHAPE).flops
    wrong = cakes_geometry(model, shape)
    with pytest.raises(RuntimeError, match=r"layer 'layer1\.0\.conv1': "
                       r'cost.py gives \d+ params / \d+ FLOPs, mmengine'):
        complexity_report(model, SHAPE, wrong)
