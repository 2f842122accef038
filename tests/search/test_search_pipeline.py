"""Search -> export -> build from the file -> train -> test, on tiny data."""
import os

import pytest
import torch
from mmengine.hooks import Hook
from mmengine.runner import Runner
from search_testing import demo_config

from cakes_mmaction.assignment import Assignment
from cakes_mmaction.cost import capture_geometry, cost_table
from cakes_mmaction.search import export_assignment


class SearchRecorder(Hook):
    """Records the candidate masks and BN statistics of every iteration."""

    def before_train(self, runner):
        self.layers = runner.model.supernet_layers
        self.start_stats = {
            p: layer.bn.running_mean.clone()
            for p, layer in self.layers.items()
        }
        self.masks = []

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None):
        self.masks.append(
            {p: layer.last_mask for p, layer in self.layers.items()})


@pytest.mark.parametrize('scheme', ['c', 'p'])
def test_search_export_retrain_test(scheme, tiny_data, tmp_path):
    config = f'configs/search/cakes_search_{scheme}_demo.py'
    search_dir = str(tmp_path / 'search')
    cfg = demo_config(config, tiny_data, search_dir, epochs=2, batch=4)
    runner = Runner.from_cfg(cfg)
    recorder = SearchRecorder()
    runner.register_hook(recorder, 'LOWEST')
    runner.train()
    assert runner.iter == 4  # 8 videos, batch 4, 2 epochs

    layers = recorder.layers
    if scheme == 'p':
        # exactly C candidates per layer per iteration, resampled
        for masks in recorder.masks:
            for path, mask in masks.items():
                assert int(mask.sum()) == layers[path].width
        assert len({tuple(m['layer1.0.conv2'].tolist())
                    for m in recorder.masks}) > 1
    else:
        assert all(m is None for it in recorder.masks for m in it.values())
    for path, layer in layers.items():  # running statistics were updated
        assert not torch.equal(layer.bn.running_mean,
                               recorder.start_stats[path])

    checkpoint = os.path.join(search_dir, 'epoch_2.pth')
    out_a, out_b = str(tmp_path / 'a.json'), str(tmp_path / 'b.json')
    for out in (out_a, out_b):
        # The training run's head has the tiny data's class count.
        export_assignment(
            config,
            checkpoint,
            input_shape=(1, 3, 8, 32, 32),
            cfg_options={
                'model.cls_head.num_classes': tiny_data.num_classes
            }).save(out)
    with open(out_a, 'rb') as fa, open(out_b, 'rb') as fb:
        assert fa.read() == fb.read()  # deterministic bytes
    exported = Assignment.load(out_a)
    meta = exported.meta
    assert meta['scheme'] == scheme.upper()
    assert meta['shape_set'] == ['3x3x3', '1x3x3', '3x1x1']
    assert meta['config'] == config and meta['checkpoint'] == checkpoint
    assert meta['input_shape'] == [1, 3, 8, 32, 32]
    # the exported counts are the top-C |gamma| of the trained supernet
    for path, layer in layers.items():
        gamma = layer.bn.weight.detach().abs().tolist()
        c = layer.width
        top = sorted(range(3 * c), key=lambda i: (-gamma[i], i))[:c]
        assert list(exported[path].values()) == [
            sum(k * c <= i < (k + 1) * c for i in top) for k in range(3)
        ]

    # the file plugs into the backbone; train two iterations, then test
    train_dir = str(tmp_path / 'train')
    cfg = demo_config('configs/search/cakes_demo_train.py', tiny_data,
                      train_dir, epochs=1, batch=4)
    cfg.model.backbone.assignment = out_a
    runner = Runner.from_cfg(cfg)
    runner.train()
    assert runner.iter == 2
    backbone = runner.model.backbone
    assert backbone.assignment == exported
    metrics = runner.test()
    assert 0.0 <= metrics['acc/top1'] <= 1.0
    # the cost in the file is that of the network that was built
    table = cost_table(exported, capture_geometry(backbone,
                                                  (1, 3, 8, 32, 32)))[-1]
    assert (meta['flops'], meta['params']) == (table['flops'],
                                               table['params'])
    assert meta['reference'] == dict(
        counts='all 3x3x3', params=table['ref_params'],
        flops=table['ref_flops'])
