"""run_synthetic_demo end to end, tiny: data, two trainings, report."""
import os.path as osp

import pytest
import torch

from cakes_mmaction.harness.apis.data_options import data_cfg_options
from cakes_mmaction.harness.apis.synthetic_demo import (DEMO_CONFIGS,
                                                        DemoResult,
                                                        format_report,
                                                        run_synthetic_demo)


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_tiny_demo(tmp_path):
    lines = []
    out = run_synthetic_demo(
        work_dir=str(tmp_path), num_per_class=2, num_pairs=2, parallel=False,
        cfg_options={'train_cfg.max_epochs': 1,
                     'train_dataloader.batch_size': 4},
        log=lines.append)
    assert (out['ceiling'], out['total'], out['groups']) == (0.5, 8, 4)
    c2d, cakes = out['results']
    assert [c2d.name, cakes.name] == [
        osp.splitext(osp.basename(c))[0] for c in DEMO_CONFIGS
    ]
    assert c2d.order_blind and not cakes.order_blind
    assert c2d.kernels == '1x3x3:224'
    # Exact, trained or not: twins get the same scores from C2D.
    assert c2d.top1 <= out['ceiling']
    assert osp.isfile(osp.join(c2d.work_dir, 'epoch_1.pth'))
    text = '\n'.join(lines)
    assert 'frame-order-blind ceiling: 50.0% top-1' in text
    assert f'{100 * cakes.top1:.1f}%' in text


def test_report_verdicts():
    rows = [
        DemoResult('c2d', '1x3x3:8', 0.6, 1.0, '.', True),
        DemoResult('cakes', '3x3x3:4 1x3x3:4', 0.4, 1.0, '.', False)
    ]
    text = format_report(0.5, 2, 4, rows)
    assert 'ABOVE the ceiling: a bug' in text
    assert 'cakes: temporal kernels; not above the ceiling' in text


def test_data_cfg_options_finds_class_files():
    cfg = dict(
        train_dataloader=dict(dataset=dict(pipeline=[
            dict(type='A'), dict(type='ClassNameFlip', class_file='x')])),
        val_dataloader=dict(dataset=dict(pipeline=[dict(type='A')])),
        test_dataloader=None)
    options = data_cfg_options(
        cfg, dict(train='t.txt', val='v.txt', test='x.txt'),
        dict(img='frames'), class_file='c.txt')
    assert options == {
        'train_dataloader.dataset.ann_file': 't.txt',
        'train_dataloader.dataset.data_prefix': dict(img='frames'),
        'train_dataloader.dataset.pipeline.1.class_file': 'c.txt',
        'val_dataloader.dataset.ann_file': 'v.txt',
        'val_dataloader.dataset.data_prefix': dict(img='frames'),
    }


def test_data_cfg_options_set_the_datasets_class_file_and_the_head():
    cfg = dict(
        model=dict(cls_head=dict(num_classes=174)),
        train_dataloader=dict(dataset=dict(
            class_file='old.txt', num_classes=174,
            pipeline=[dict(type='ClassNameFlip')])))
    options = data_cfg_options(cfg, dict(train='t.txt'), dict(img='f'),
                               class_file='c.txt', num_classes=12)
    assert options['train_dataloader.dataset.class_file'] == 'c.txt'
    assert options['train_dataloader.dataset.num_classes'] == 12
    assert options['model.cls_head.num_classes'] == 12
    assert not any('pipeline' in key for key in options)
