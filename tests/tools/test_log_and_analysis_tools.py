"""Logs to watch and mmaction2's analysis tools, on one tiny real run:
ProgressLoggerHook (time-based lines, the test's views), TensorBoard
through mmengine's backend, InputSizeHook, tools/analysis/analyze_logs.py,
tools/analysis/confusion_matrix.py, tools/misc/print_config.py and the
demo's mmaction2 argument order, --cfg-options and size warning."""
import os.path as osp
import pickle
import runpy
import sys

import numpy as np
import pytest
import torch
from mmengine.config import Config

from cakes_mmaction.analysis.confusion import (confusion_matrix,
                                               load_predictions)
from cakes_mmaction.analysis.train_logs import load_train_log, train_time_stats
from cakes_mmaction.checkpoints.safe_load import safe_torch_load
from cakes_mmaction.harness.apis import build_test_cfg, build_train_cfg
from cakes_mmaction.harness.apis import test as run_test
from cakes_mmaction.harness.apis import train
from cakes_mmaction.harness.apis.data_options import synthetic_cfg_options
from cakes_mmaction.harness.apis.input_size import (input_size_warning,
                                                    trained_frame_size)
from cakes_mmaction.harness.engine.hooks.progress_logger_hook import \
    views_per_sample
from cakes_mmaction.harness.synthetic import generate_synthetic_dataset
from tests.helpers.media import write_video

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DEMO = osp.join(ROOT, 'configs/demo/cakes_tiny_synthetic.py')


def run_tool(path, argv, capsys):
    """Run a tool's ``__main__`` in this process; return stdout, stderr."""
    old = sys.argv
    sys.argv = [path] + list(argv)
    try:
        runpy.run_path(osp.join(ROOT, path), run_name='__main__')
    finally:
        sys.argv = old
    return capsys.readouterr()


@pytest.fixture(scope='module')
def run(tmp_path_factory):
    """2 epochs of the tiny network, every line logged, with TensorBoard."""
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp('logs')
    data = generate_synthetic_dataset(
        str(root / 'data'), num_per_class=2, size=32, num_pairs=2)
    options = synthetic_cfg_options(Config.fromfile(DEMO), data)
    options.update({
        'train_dataloader.batch_size': 4,
        'val_dataloader.batch_size': 4,
        'test_dataloader.batch_size': 4,
        'train_cfg.max_epochs': 2,
        'train_cfg.val_interval': 1,
        # an interval no epoch reaches: only the clock makes lines
        'default_hooks.logger.interval': 100,
        'default_hooks.logger.interval_s': 1e-6,
    })
    cfg = build_train_cfg(DEMO, work_dir=str(root / 'work'),
                          cfg_options=options)
    cfg.visualizer.vis_backends = [
        dict(type='LocalVisBackend'),
        dict(type='TensorboardVisBackend')
    ]
    train(cfg)
    dump = str(root / 'preds.pkl')
    metrics = run_test(
        build_test_cfg(DEMO, str(root / 'work' / 'epoch_2.pth'),
                       work_dir=str(root / 'test'), dump=dump,
                       cfg_options=options))
    return root, data, metrics, dump


def test_every_iteration_is_logged_by_the_clock(run):
    root, *_ = run
    log = next((root / 'work').glob('*/*.log')).read_text()
    # 8 videos, batch 4: 2 iterations per epoch, each one logged
    for line in ('Epoch(train) [1][1/2]', 'Epoch(train) [1][2/2]',
                 'Epoch(train) [2][1/2]'):
        assert line in log
    train_log = load_train_log(str(root / 'work'))
    assert [line['iter'] for line in train_log.train] == [1, 2, 3, 4]
    assert [line['step'] for line in train_log.val] == [1, 2]
    stats = train_time_stats(train_log, include_outliers=True)
    assert stats['epochs'] == 2 and stats['mean_iter_s'] > 0


def test_the_test_says_its_views_and_shows_progress(run):
    root, *_ = run
    log = next((root / 'test').glob('*/*.log')).read_text()
    assert ('test: 8 samples of 1 view(s) each (1 clip(s) x 1 crop(s)), '
            '2 batches') in log
    assert 'Epoch(test) [1/2]' in log and 'eta:' in log
    k400 = Config.fromfile(osp.join(ROOT, 'configs/cakes_r50_k400.py'))
    from mmaction.registry import TRANSFORMS
    from mmengine.registry import init_default_scope
    init_default_scope('mmaction')
    steps = [TRANSFORMS.build(s) for s in k400.test_pipeline]
    assert views_per_sample(steps) == dict(clips=10, crops=3, views=30)


def test_tensorboard_gets_the_scalars(run):
    pytest.importorskip('tensorboard')
    from tensorboard.backend.event_processing.event_accumulator import \
        EventAccumulator
    root, *_ = run
    events = list((root / 'work').glob('*/vis_data/events.out.tfevents.*'))
    assert len(events) == 1
    acc = EventAccumulator(str(events[0]))
    acc.Reload()
    tags = acc.Tags()['scalars']
    assert {'loss', 'lr', 'acc/top1'} <= set(tags)
    assert [e.step for e in acc.Scalars('loss')] == [1, 2, 3, 4]


def test_analyze_logs_tool(run, tmp_path, capsys):
    root, *_ = run
    out = tmp_path / 'curves.png'
    run_tool('tools/analysis/analyze_logs.py', [
        'plot_curve', str(root / 'work'), str(root / 'work'), '--keys',
        'loss', 'lr', 'acc/top1', '--legend', 'a', 'b', '--out', str(out)
    ], capsys)
    assert out.read_bytes()[:4] == b'\x89PNG'
    text = run_tool('tools/analysis/analyze_logs.py',
                    ['cal_train_time', str(root / 'work')], capsys).out
    assert '2 epoch(s)' in text and 's/iter' in text
    with pytest.raises(SystemExit, match="no 'nope' in the log"):
        run_tool('tools/analysis/analyze_logs.py', [
            'plot_curve', str(root / 'work'), '--keys', 'nope', '--out',
            str(tmp_path / 'x.png')
        ], capsys)
    assert not (tmp_path / 'x.png').exists()


def test_confusion_matrix_tool(run, tmp_path, capsys):
    root, data, metrics, dump = run
    labels, preds, num_classes = load_predictions(dump)
    assert num_classes == 4 and len(labels) == 8
    matrix = confusion_matrix(labels, preds, num_classes)
    assert np.trace(matrix) / 8 == pytest.approx(metrics['acc/top1'])
    out = tmp_path / 'cm.png'
    text = run_tool('tools/analysis/confusion_matrix.py', [
        dump, '--class-file', data.class_file, '--out', str(out)
    ], capsys).out
    assert f'8 samples, top-1 {100 * metrics["acc/top1"]:.1f}%' in text
    assert 'moving something from left to right' in text
    assert out.read_bytes()[:4] == b'\x89PNG'


def test_a_predictions_file_runs_no_code(tmp_path):

    class Evil:

        def __reduce__(self):
            return (print, ('pwned', ))

    path = tmp_path / 'evil.pkl'
    path.write_bytes(pickle.dumps([Evil()]))
    with pytest.raises(pickle.UnpicklingError,
                       match='evil.pkl: refers to builtins.print'):
        load_predictions(str(path))


def test_checkpoints_record_the_training_size_and_the_demo_warns(
        run, tmp_path, capsys):
    root, data, *_ = run
    ckpt = str(root / 'work' / 'epoch_2.pth')
    meta = safe_torch_load(ckpt)['meta']
    assert meta['train_input_size'] == [8, 32, 32]
    cfg = Config.fromfile(DEMO)
    assert trained_frame_size(cfg, meta) == (32, 32)
    assert input_size_warning(cfg, (40, 48), meta) is None
    message = input_size_warning(cfg, (240, 320), meta)
    assert 'network sees 240x320' in message and 'trained on 32x32' in message
    # a fixed-size training pipeline tells the size without the checkpoint
    r50 = Config.fromfile(osp.join(ROOT, 'configs/cakes_r50_sthv1.py'))
    assert trained_frame_size(r50) == (224, 224)
    assert input_size_warning(r50, (720, 1280)) is None  # resized + cropped
    # the tool: mmaction2's order, the label file, --cfg-options
    big = write_video(str(tmp_path / 'big.mp4'), num_frames=8,
                      size=(240, 320))
    outs = run_tool('tools/demo.py', [
        DEMO, ckpt, big, data.class_file, '--cfg-options',
        'model.cls_head.num_classes=4'
    ], capsys)
    assert 'WARNING: ' in outs.err and 'trained on 32x32' in outs.err
    lines = outs.out.strip().splitlines()[-4:]
    names = open(data.class_file).read().splitlines()
    assert [line.split(maxsplit=2)[2] in names for line in lines] == [True] * 4
    # the older order still works; a 32x32 video gets no warning
    video = osp.join(data.videos, 'val_000_00000.mp4')
    outs = run_tool('tools/demo.py', [
        video, DEMO, ckpt, '--label-map', data.class_file, '--cfg-options',
        'model.cls_head.num_classes=4'
    ], capsys)
    assert 'WARNING' not in outs.err
    assert outs.out.strip().splitlines()[-1].split(maxsplit=2)[2] in names


def test_print_config_tool(capsys):
    text = run_tool('tools/misc/print_config.py', [
        osp.join(ROOT, 'configs/cakes_r50_sthv1.py'), '--cfg-options',
        'model.cls_head.num_classes=12'
    ], capsys).out
    assert text.startswith('Config:\n')
    assert 'num_classes=12' in text and "type='ProgressLoggerHook'" in text
