"""The benchmark library and its CLI, on tiny inputs."""
import json
import os
import platform
import subprocess
import sys

import pytest
import torch
from mmengine.analysis import FlopAnalyzer

from cakes_mmaction.analysis.benchmark import measure_flops, run_benchmark
from cakes_mmaction.analysis.benchmark_cli import parse_args
from cakes_mmaction.analysis.benchmark_models import (build_backbone,
                                                      model_names,
                                                      scaled_assignment)
from cakes_mmaction.analysis.benchmark_report import flop_proportional
from cakes_mmaction.assignment import Assignment
from cakes_mmaction.layers import CAKESConv3d
from cakes_mmaction.layers.cakes_plan import candidate_plans, default_block

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))

ROW_KEYS = {
    'model', 'impl', 'params', 'flops', 'cakes_flops', 'forward_b1_s',
    'forward_b1_clips_per_s', 'forward_b2_s', 'forward_b2_clips_per_s',
    'train_step_s', 'peak_train_mem_bytes', 'ratio_params', 'ratio_flops',
    'ratio_forward_b1', 'ratio_forward_b2', 'forward_b1_vs_flops',
    'forward_b2_vs_flops', 'ratio_train', 'train_vs_flops', 'ratio_mem'
}


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_tiny_run_writes_json_and_markdown(tmp_path):
    out_json, out_md = tmp_path / 'b.json', tmp_path / 'b.md'
    # Narrow networks: the same code path and ratios, far fewer FLOPs.
    result = run_benchmark(
        shape=(2, 3, 4, 32, 32),
        models=['all_1x3x3'],
        repeats=1,
        warmup=1,
        impls=['fast'],
        threads=1,
        allocator='system',  # keep_freed_memory is for a whole process
        out_json=str(out_json),
        out_md=str(out_md),
        width_scale=0.125)
    saved = json.loads(out_json.read_text())
    assert list(saved['models']) == ['all_3x3x3', 'all_1x3x3']
    for label, row in saved['models'].items():
        missing = ROW_KEYS - set(row)
        assert not missing, (label, missing)
        assert row['peak_train_mem_bytes'] > 0, row['peak_train_mem_method']
        assert row['train_step_s'] > 0 and row['forward_b2_s'] > 0
    ref, half = saved['models']['all_3x3x3'], saved['models']['all_1x3x3']
    assert ref['ratio_flops'] == ref['ratio_train'] == 1.0
    # 1x3x3 kernels hold a third of the 3x3x3 weights of every CAKES layer.
    assert half['cakes_flops'] * 3 == ref['cakes_flops']
    assert half['params'] < ref['params'] and half['ratio_flops'] < 1
    assert saved['environment']['threads'] == 1
    assert saved['environment']['malloc'] == 'system'
    assert saved['options']['allocator'] == 'system'
    assert saved['options']['width_scale'] == 0.125
    markdown = out_md.read_text()
    assert markdown == result['markdown']
    # A narrow run never passes for the real networks.
    assert markdown.startswith('Input 2x3x4x32x32 (N C T H W), NARROW '
                               'networks (every width x 0.125')
    table = [line for line in markdown.splitlines() if line.startswith('|')]
    assert table[0].startswith('| model | params (M) | GFLOPs')
    assert any(line.startswith('| all_1x3x3 |') for line in table)
    assert 'Targets against' in markdown


def test_cakes_flops_agree_with_mmengine_per_layer():
    backbone = build_backbone('cakes123d_c', 'fast')
    counted = measure_flops(backbone, (3, 2, 32, 32))
    assert all(m.impl == 'fast' for m in backbone.cakes_layers.values())
    # mmengine traces: fast layers record their reference computation, so
    # the plans' zero-padded taps are not counted as multiply-adds.
    backbone.eval()
    analyzer = FlopAnalyzer(backbone, (torch.zeros(1, 3, 2, 32, 32), ))
    analyzer.unsupported_ops_warnings(False)
    by_module = analyzer.by_module()
    from_mmengine = sum(by_module[name]
                        for name, m in backbone.named_modules()
                        if isinstance(m, CAKESConv3d))
    assert counted['cakes_flops'] == from_mmengine
    assert counted['flops'] == analyzer.total()
    assert counted['params'] == sum(p.numel()
                                    for p in backbone.parameters())


def test_per_layer_mode_on_a_tiny_shape(tmp_path):
    result = run_benchmark(
        shape=(1, 3, 2, 16, 16),
        repeats=1,
        impls=['reference', 'fast', 'auto'],
        threads=1,
        per_layer=True,
        allocator='system',
        out_md=str(tmp_path / 'l.md'))
    rows = result['layers']['cakes123d_p']
    assert [r['path'] for r in rows][:2] == ['layer1.0.conv2',
                                             'layer1.1.conv2']
    assert len(rows) == 16
    for row in rows:
        assert 0 < row['flops_ratio'] < 1
        assert row['target_ratio'] == pytest.approx(1.15 * row['flops_ratio'])
        assert set(row['forward']) == {
            'dense_conv3d', 'reference', 'fast', 'auto'
        }
        assert set(row['train_ratio']) == {'reference', 'fast', 'auto'}
        assert set(row['plans']) == {'forward', 'train'}
        # Padding to blocks only adds multiply-adds.
        assert row['flops_ratio'] <= row['padded_ratio'] <= 1
        # Every kernel of the presets was measured, so a plan is modelled.
        assert row['modelled_ratio'] > 0
        assert row['modelled_plan'] in candidate_plans(
            tuple(row['counts'].items()), default_block('cpu'))
    # layer2.0.conv2 gets 128 channels (from conv1) at layer1's 4x4 and
    # strides them to 2x2 (ResNet v1.5).
    assert rows[3]['input_shape'] == [1, 128, 2, 4, 4]
    assert rows[4]['input_shape'] == [1, 128, 2, 2, 2]
    lines = (tmp_path / 'l.md').read_text().splitlines()
    assert sum(line[:8] in ('| layer1', '| layer2', '| layer3', '| layer4')
               for line in lines) == 16
    assert any(line.startswith('Layers meeting the target') for line in lines)
    # One row per distinct input geometry of the CAKES layers: layer1 (3
    # layers), the strided first layer of stages 2-4 and the rest.
    efficiency = result['shape_efficiency']['cakes123d_p']
    assert [len(r['layers']) for r in efficiency] == [3, 1, 3, 1, 5, 1, 2]
    assert efficiency[1]['stride'] == [1, 2, 2]
    for row in efficiency:
        assert list(row['shapes']) == ['3x3x3', '1x3x3', '3x1x1']
        ratio = row['shapes']['1x3x3']
        assert ratio['flops_ratio'] == pytest.approx(1 / 3)
        assert ratio['per_flop'] == pytest.approx(ratio['time_ratio'] * 3)
    assert any(line.startswith('| 1x64x2x4x4 | 1x1x1 | layer1.0.conv2 (+2)')
               for line in lines)


def test_flop_proportional_ratios():
    rows = {
        'all_3x3x3': dict(params=10, flops=100, forward_b1_s=0.5,
                          forward_b1_clips_per_s=2.0, train_step_s=4.0,
                          peak_train_mem_bytes=1000),
        'cakes': dict(params=5, flops=50, forward_b1_s=1 / 3,
                      forward_b1_clips_per_s=3.0, train_step_s=2.5,
                      peak_train_mem_bytes=900),
    }
    flop_proportional(rows, 'all_3x3x3')
    cakes = rows['cakes']
    assert cakes['ratio_flops'] == 0.5
    assert cakes['ratio_forward_b1'] == pytest.approx(1.5)
    # Twice fewer FLOPs would allow twice the throughput: 1.5 / 2.
    assert cakes['forward_b1_vs_flops'] == pytest.approx(0.75)
    assert cakes['train_vs_flops'] == (2.5 / 4.0) / 0.5
    assert cakes['ratio_mem'] == 0.9


def test_time_ratios_pair_rounds():
    # The machine slowed down in round 2 for both; round 3 for one only.
    rows = {
        'all_3x3x3': dict(params=1, flops=1, train_step_s=2.0,
                          train_step_rounds_s=[1.0, 4.0, 2.0]),
        'cakes': dict(params=1, flops=1, train_step_s=1.6,
                      train_step_rounds_s=[0.5, 2.0, 1.6]),
    }
    flop_proportional(rows, 'all_3x3x3')
    assert rows['cakes']['ratio_train'] == 0.5  # not 1.6 / 2.0


@pytest.mark.parametrize('name', [
    'skeleton_2plus1d', 'mmaction_i3d_r50', 'mmaction_r2plus1d_r34',
    'mmaction_ircsn_r152'
])
def test_baselines_build_and_run(name):
    backbone = build_backbone(name)
    backbone.eval()
    with torch.no_grad():
        out = backbone(torch.zeros(1, 3, 8, 32, 32))
    assert out.dim() == 5 and out.shape[0] == 1


def test_option_errors():
    assert 'all_3x3x3' in model_names() and len(model_names()) == 12
    with pytest.raises(ValueError, match='unknown model'):
        run_benchmark(models=['resnet9000'], shape=(1, 3, 2, 16, 16))
    with pytest.raises(ValueError, match='warmup >= 1'):
        run_benchmark(impls=['auto'], warmup=0)
    with pytest.raises(ValueError, match='N C T H W'):
        run_benchmark(shape=(3, 8, 16, 16))
    with pytest.raises(ValueError, match='allocator must be one of'):
        run_benchmark(allocator='jemalloc', shape=(1, 3, 2, 16, 16))
    with pytest.raises(ValueError, match='per-layer mode needs CAKES'):
        run_benchmark(per_layer=True, models=['mmaction_i3d_r50'])


def test_cli_smoke(tmp_path):
    out = tmp_path / 'layers.json'
    proc = subprocess.run([
        sys.executable, 'tools/analysis/benchmark.py', '--per-layer',
        '--models', 'cakes12d_c', '--shape', '1', '3', '2', '16', '16',
        '--repeats', '1', '--threads', '1', '--impl', 'fast',
        '--channels-last', '--out-json',
        str(out)
    ], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert '| layer4.2.conv2 |' in proc.stdout
    saved = json.loads(out.read_text())
    assert saved['options']['per_layer'] is True
    assert saved['options']['channels_last'] is True
    assert saved['options']['allocator'] == 'cached'  # the default
    # Applied in the CLI's process wherever the C library is glibc.
    assert saved['environment']['malloc'] == (
        'glibc M_MMAP_MAX=0, M_TRIM_THRESHOLD=2147483647'
        if platform.libc_ver()[0] == 'glibc' else 'system')
    assert 'channels_last_3d' in proc.stdout
    assert len(saved['layers']['cakes12d_c']) == 16


def test_quick_preset_code_path_on_tiny_shapes(tmp_path):
    # What --quick --device cuda --dtype bf16 --channels-last runs on a GPU
    # (the per-layer table at batch N, then the networks), here on CPU at a
    # tiny shape, with one impl and one network to stay quick.
    out_json = tmp_path / 'q.json'
    result = run_benchmark(
        shape=(2, 3, 2, 8, 8),
        quick=True,
        models=['cakes12d_p'],
        impls=['dense'],
        repeats=1,
        warmup=1,
        threads=1,
        dtype='bf16',
        channels_last=True,
        memory=False,
        allocator='system',
        out_json=str(out_json),
        width_scale=0.125)
    saved = json.loads(out_json.read_text())
    assert saved['options']['quick'] is True
    assert saved['options']['width_scale'] == 0.125
    assert saved['options']['layer_impls'] == ['dense']
    assert saved['options']['layer_batch'] == 2
    rows = result['layers']['cakes123d_p']
    assert len(rows) == 16 and rows[0]['input_shape'][0] == 2
    # layer1's convs take 64 x 0.125 channels.
    assert rows[0]['input_shape'][1] == 8
    for row in rows:
        # The baseline nn.Conv3d and the masked-dense impl are both timed.
        assert set(row['train']) == {'dense_conv3d', 'dense'}
        assert set(row['train_ratio']) == {'dense'}
        assert not row['unavailable']
    assert list(result['models']) == ['all_3x3x3', 'cakes12d_p']
    # The dense twin runs one Conv3d per layer whatever the impls.
    assert result['models']['all_3x3x3']['impl'] == 'reference'
    assert result['models']['cakes12d_p']['impl'] == 'dense'
    markdown = result['markdown']
    assert 'bf16 autocast' in markdown and 'channels_last_3d' in markdown
    # Both headers (per-layer, then networks) say the run is narrow.
    assert markdown.count('NARROW networks (every width x 0.125') == 2
    assert 'Forward + backward <= 1.0 x dense' in markdown
    assert '| cakes12d_p |' in markdown and '| layer4.2.conv2 |' in markdown
    from cakes_mmaction.analysis.benchmark import layer_impls
    from cakes_mmaction.layers import impl_names
    assert layer_impls() == list(impl_names()) + ['auto']  # the default
    with pytest.raises(ValueError, match='dtype must be one of'):
        run_benchmark(dtype='fp8', shape=(1, 3, 2, 16, 16))


def test_scaled_assignment_keeps_every_layer_split():
    preset = Assignment.preset('cakes123d_p')
    widths = {path: preset.width(path) // 8 for path in preset}
    narrow = scaled_assignment(preset, widths)
    for path in preset:
        assert narrow.width(path) == widths[path]
        # Every kernel the layer used still runs, each count near its
        # full-width share (rounding, the 1-channel minimum).
        assert set(narrow.nonzero(path)) == set(preset.nonzero(path))
        for shape, count in preset[path].items():
            share = count * widths[path] / preset.width(path)
            assert abs(narrow[path][shape] - share) < 2
    # Narrower than the shapes it used: as many shapes as channels.
    tiny = scaled_assignment(preset, {path: 1 for path in preset})
    assert all(tiny.width(path) == 1 for path in preset)


def test_width_scale_narrows_every_model_alike():
    for name in ('cakes12d_c', 'all_3x3x3', 'mmaction_i3d_r50',
                 'mmaction_r2plus1d_r34', 'skeleton_2plus1d'):
        backbone = build_backbone(name, width_scale=0.25)
        assert backbone.conv1.conv.out_channels == 16, name
        # layer4 takes 1024 x 0.25 (bottleneck) or 256 x 0.25 (basic block).
        assert backbone.layer4[0].conv1.conv.in_channels in (256, 64), name
    preset = build_backbone('cakes12d_c', 'fast', 0.125)
    assert preset.assignment.width('layer4.2.conv2') == 64
    assert preset.assignment.meta['scaled_from'] == 'preset:cakes12d_c'
    for bad in (0, 1.5, 0.3):
        with pytest.raises(ValueError, match='width_scale must be'):
            build_backbone('all_3x3x3', width_scale=bad)
    with pytest.raises(ValueError, match='width_scale must be'):
        run_benchmark(width_scale=0.1, shape=(1, 3, 2, 16, 16))
    assert parse_args(['--width-scale', '0.5']).width_scale == 0.5
    assert parse_args([]).width_scale == 1.0
