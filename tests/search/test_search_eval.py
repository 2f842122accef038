"""The search evaluation: metrics, table, verdicts, and the tool end to
end on a tiny setting (resumed on a second run)."""
import importlib.util
import json
import math
import os
import subprocess
import sys

import pytest

from cakes_mmaction.analysis.search_evaluation import (SearchEvalSettings,
                                                       format_table,
                                                       matched_budget,
                                                       pair_metrics,
                                                       replace_marked_section,
                                                       run_search_eval,
                                                       summarize, verdicts)
from cakes_mmaction.assignment import Assignment
from cakes_mmaction.harness.synthetic import generate_synthetic_dataset

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
HARD = os.path.join(ROOT, 'configs', 'search', 'hard')
#: CAKES widths of the search skeleton (configs/search/cakes_demo_train.py).
SKELETON_WIDTHS = {
    'layer1.0.conv2': 16,
    'layer2.0.conv2': 32,
    'layer3.0.conv2': 64
}


def test_pair_metrics():
    # pairs (0, 1) and (2, 3): right, wrong direction, wrong pair, right
    m = pair_metrics([0, 0, 3, 2], [0, 1, 1, 2])
    assert m == dict(top1=0.5, pair=0.75, direction=2 / 3)
    assert math.isnan(pair_metrics([2], [0])['direction'])
    with pytest.raises(ValueError, match='as many predictions'):
        pair_metrics([0], [0, 1])


def test_summarize():
    assert summarize([1.0]) == dict(mean=1.0, sd=0.0, n=1)
    s = summarize([1.0, 3.0, float('nan')])
    assert s['mean'] == 2.0 and s['sd'] == pytest.approx(math.sqrt(2))
    assert s['n'] == 2


def _result(top1, macs):
    costs = {
        n: dict(counts={'3x3x3': 1}, macs=m, cakes_macs=m // 2,
                seconds_per_clip=1e-3)
        for n, m in macs.items()
    }
    costs['_timing'] = dict(note='t', threads=1)
    runs = {n: {'0': dict(top1=v / 100, pair=1.0, direction=v / 100)}
            for n, v in top1.items()}
    summary = {
        n: dict(top1=summarize([v]), pair=summarize([100.0]),
                direction=summarize([v]))
        for n, v in top1.items()
    }
    return dict(settings=dict(seeds=[0], input_shape=[1, 3, 8, 32, 32]),
                costs=costs, runs=runs, summary=summary)


def test_verdicts_and_table():
    result = _result(
        dict(searched_c=40.0, uniform=36.0, all_3x3x3=39.0),
        dict(searched_c=74, uniform=76, all_3x3x3=100))
    lines = verdicts(result)
    assert lines[0].startswith('searched_c vs uniform: +4.0 points') and \
        lines[0].endswith('MET')
    assert lines[1].startswith('searched_c vs all-3x3x3: +1.0 points') and \
        lines[1].endswith('MET')
    # A rule that holds within the seed spread is not shown, not met.
    result['summary']['uniform']['top1']['sd'] = 5.0
    assert lines[0] != verdicts(result)[0]
    assert verdicts(result)[0].endswith(
        'NOT SHOWN (the gap is within the seed spread, sd 5.0: not a '
        'difference these seeds can show)')
    # With several seeds, the gap is also given in standard errors of the
    # difference of the means (Welch): 4.0 / sqrt(2^2/4 + 2^2/4) = 2.8.
    result['summary']['searched_c']['top1'].update(sd=2.0, n=4)
    result['summary']['uniform']['top1'].update(sd=2.0, n=4)
    assert 'seed sd 2.0 / 2.0; +2.8 standard errors): MET' in verdicts(
        result)[0]
    result['summary']['searched_c']['top1'].update(sd=0.0, n=1)
    result['summary']['uniform']['top1'].update(sd=0.0, n=1)
    assert 'standard errors' not in verdicts(result)[0]
    # Cheaper than matched (0.90 of uniform): the first target is missed.
    result['costs']['searched_c']['macs'] = 68
    assert verdicts(result)[0].endswith('MISSED')
    result['verdicts'] = verdicts(result)
    table = format_table(result)
    assert '| searched_c | 1 / 0 / 0 | 40.0 | 40.0 +- 0.0 |' in table
    assert '- searched_c vs uniform: +4.0 points' in table


def test_replace_marked_section(tmp_path):
    readme = tmp_path / 'README.md'
    mention = 'see `<!-- search-eval:begin -->` in prose\n'
    readme.write_text(mention + 'a\n<!-- search-eval:begin -->\nold\n'
                      '<!-- search-eval:end -->\nb\n')
    replace_marked_section(str(readme), 'new\n')
    assert readme.read_text() == (mention +
                                  'a\n<!-- search-eval:begin -->\nnew\n'
                                  '<!-- search-eval:end -->\nb\n')
    readme.write_text('no markers')
    with pytest.raises(ValueError, match='README.md: no <!-- search-eval'):
        replace_marked_section(str(readme), 'x')


def test_tool_end_to_end_and_resume(tmp_path, monkeypatch, capsys):
    data = tmp_path / 'data'
    generate_synthetic_dataset(
        str(data), num_per_class=dict(train=2, val=1, test=1), size=16,
        num_frames=4, num_pairs=2, formats=('rawframes', ),
        benchmark='hard')
    work = tmp_path / 'eval'
    readme = tmp_path / 'README.md'
    readme.write_text('<!-- search-eval:begin -->\n'
                      '<!-- search-eval:end -->\n')
    quick = ['train_cfg.max_epochs=1', 'train_dataloader.batch_size=4']
    # A hand-picked split compared beside the others: all 3x1x1.
    hand = tmp_path / 'hand.json'
    Assignment.uniform(SKELETON_WIDTHS, ['3x1x1']).save(str(hand))
    cmd = [
        sys.executable, os.path.join(ROOT, 'tools/analysis/search_eval.py'),
        '--data', str(data), '--work-dir', str(work), '--seeds', '0',
        '--search-p', '', '--networks', 'searched_c', 'uniform',
        'all_3x3x3', '--extra', f'temporal={hand}', '--input-shape', '8',
        '16', '16', '--readme',
        str(readme), '--search-cfg-options', *quick,
        '--train-cfg-options', *quick
    ]
    env = dict(os.environ, OMP_NUM_THREADS='1')
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True,
                          timeout=900, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    with open(work / 'search_eval.json') as f:
        result = json.load(f)
    assert list(result['summary']) == [
        'searched_c', 'uniform', 'all_3x3x3', 'temporal'
    ]
    assert result['costs']['temporal']['counts'] == {'3x1x1': 112}
    assert '| temporal | 0 / 0 / 112 |' in readme.read_text()
    # Only searched networks get verdicts.
    assert not any(v.startswith('temporal') for v in result['verdicts'])
    run = result['runs']['searched_c']['0']
    assert run['test_videos'] == 4
    assert run['pair'] >= run['top1']
    # Exported at the matched budget: at most the uniform split's cost
    # and at most 0.75 of the all-3x3x3 network's MACs.
    exported = Assignment.load(str(work / 'searched_c.json'))
    costs = result['costs']
    assert exported.meta['budget']['match'] is True
    assert costs['searched_c']['cakes_macs'] <= costs['uniform']['cakes_macs']
    assert costs['searched_c']['macs'] <= 0.75 * costs['all_3x3x3']['macs']
    assert costs['searched_c']['seconds_per_clip'] > 0
    assert '| searched_c |' in readme.read_text()
    # A second run finds every step done and retrains nothing. It is the
    # tool's main() in this process: the run above tested the command
    # line, and a second interpreter start-up would be most of its cost.
    stamp = os.path.getmtime(work / 'train_uniform_seed0' / 'result.json')
    spec = importlib.util.spec_from_file_location('search_eval_tool',
                                                  cmd[1])
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    monkeypatch.chdir(ROOT)
    tool.main(cmd[2:])
    out = capsys.readouterr().out
    assert '0 trainings to run' in out
    assert 'search C: done before' in out
    assert os.path.getmtime(
        work / 'train_uniform_seed0' / 'result.json') == stamp


def _settings(tmp_path, **extra_networks):
    return SearchEvalSettings(
        search_configs={},
        train_config=os.path.join(HARD, 'cakes_hard_train.py'),
        work_dir=str(tmp_path / 'eval'),
        networks=['uniform'],
        extra_networks=extra_networks)


def test_extra_networks_are_checked(tmp_path):
    with pytest.raises(ValueError, match='must not be one of'):
        _settings(tmp_path, uniform=__file__)
    with pytest.raises(ValueError, match='a name needs'):
        _settings(tmp_path, **{'two words': __file__})
    with pytest.raises(FileNotFoundError, match='missing.json not found'):
        _settings(tmp_path, hand=str(tmp_path / 'missing.json'))
    # A split of another network fails before anything is trained, naming
    # the network, the file and the layer.
    wrong = tmp_path / 'wrong.json'
    widths = dict(SKELETON_WIDTHS, **{'layer3.0.conv2': 48})
    Assignment.uniform(widths, ['3x1x1']).save(str(wrong))
    with pytest.raises(ValueError) as error:
        run_search_eval(_settings(tmp_path, hand=str(wrong)),
                        log=lambda line: None)
    message = str(error.value)
    assert 'extra network hand' in message
    assert 'layer3.0.conv2' in message
    assert not os.path.exists(tmp_path / 'eval' / 'train_uniform_seed0')


@pytest.mark.parametrize('name', ['top3d', 'bottom3d'])
def test_hand_picked_splits_cost_the_matched_budget(name, tmp_path):
    """The splits compared with the search in docs/search.md fit the search
    skeleton and spend the budget the searched networks are exported at
    (within 1%), so the comparison is at equal cost."""
    from mmaction.registry import MODELS
    from mmengine.config import Config

    from cakes_mmaction.analysis.complexity import complexity_report
    settings = _settings(tmp_path)
    budget = matched_budget(settings)['budget']
    path = os.path.join(HARD, 'splits', f'{name}.json')
    cfg = Config.fromfile(settings.train_config)
    cfg.model.backbone.assignment = path
    report = complexity_report(MODELS.build(cfg.model), (1, 3, 8, 32, 32))
    assert 0.99 * budget <= report.cakes_flops <= budget


def test_networks_are_timed_with_the_training_threads(tmp_path,
                                                      monkeypatch):
    """The time per clip is measured with ``threads`` torch threads, not
    with whatever the tool's process was left with, and the process gets
    its own setting back."""
    import torch

    from cakes_mmaction.analysis import search_evaluation, timing
    seen, timed = [], timing.interleaved_times

    def spy(*args, **kwargs):
        seen.append(torch.get_num_threads())
        return timed(*args, **kwargs)

    monkeypatch.setattr(timing, 'interleaved_times', spy)
    settings = SearchEvalSettings(
        search_configs={},
        train_config=os.path.join(HARD, 'cakes_hard_train.py'),
        work_dir=str(tmp_path / 'eval'),
        networks=['uniform'],
        threads=1,
        input_shape=(1, 3, 8, 16, 16),
        time_repeats=2)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        costs = search_evaluation._network_costs(
            settings, {'uniform': dict(uniform=['3x3x3', '1x3x3', '3x1x1'])})
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
    assert seen == [1]
    assert costs['_timing']['threads'] == 1
    assert costs['uniform']['seconds_per_clip'] > 0
