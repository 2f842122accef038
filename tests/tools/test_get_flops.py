import json
import os
import subprocess
import sys

from cakes_mmaction.analysis import ComplexityReport, format_report
from cakes_mmaction.assignment import Assignment

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
TOOL = os.path.join(ROOT, 'tools', 'analysis', 'get_flops.py')
CONFIG = os.path.join(ROOT, 'configs', '_base_', 'models', 'cakes_r50.py')


def _tool():
    import importlib.util
    spec = importlib.util.spec_from_file_location('get_flops', TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_parse_args_defaults():
    args = _tool().parse_args([CONFIG])
    assert args.shape == [1, 3, 8, 224, 224] and args.cfg_options is None
    args = _tool().parse_args([
        CONFIG, '--shape', '2', '3', '4', '32', '32', '--cfg-options',
        'model.backbone.assignment=cakes12d_c'
    ])
    assert args.shape == [2, 3, 4, 32, 32]
    assert args.cfg_options == {'model.backbone.assignment': 'cakes12d_c'}


def test_cli_prints_the_report(tmp_path):
    """Subprocess smoke test, from another working directory.

    The JSON of the same run is the oracle (no second count in this
    process): it must hold what the arguments asked for, and the printed
    report must be the one of exactly those counts.
    """
    out = str(tmp_path / 'cost.json')
    proc = subprocess.run(
        [sys.executable, TOOL, CONFIG, '--shape', '1', '3', '2', '32', '32',
         '--cfg-options', 'model.backbone.assignment=cakes12d_c', '--json',
         out],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
        env=dict(os.environ, OMP_NUM_THREADS='1'))
    assert proc.returncode == 0, proc.stderr[-3000:]
    with open(out) as f:
        saved = json.load(f)
    assert saved['input_shape'] == [1, 3, 2, 32, 32]
    # --cfg-options reached the model: the preset's counts, layer by layer.
    preset = Assignment.preset('cakes12d_c')
    assert [row['path'] for row in saved['layers']] == list(preset)
    for row in saved['layers']:
        assert row['counts'] == {s: n for s, n in preset[row['path']].items()
                                 if n or s in row['counts']}
    assert 0 < saved['cakes_flops'] < saved['flops'] < saved['ref_flops']
    fields = {k: v for k, v in saved.items()
              if k not in ('params_ratio', 'flops_ratio')}
    report = ComplexityReport(**dict(fields, input_shape=(1, 3, 2, 32, 32)))
    assert saved == json.loads(json.dumps(report.to_dict()))
    assert proc.stdout == format_report(report)
    assert 'layer4.2.conv2' in proc.stdout and 'n 3x1x1' in proc.stdout
