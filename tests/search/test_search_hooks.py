import pytest
import torch
from mmengine.hooks import Hook
from mmengine.runner import Runner
from search_testing import demo_config

from cakes_mmaction.search import CAKESSparsityHook


def test_lambda_schedule():
    hook = CAKESSparsityHook(lam=2.0, begin_iter=3, warmup_iters=4)
    values = [hook.lambda_at(t) for t in range(9)]
    assert values == [0, 0, 0, 0.5, 1.0, 1.5, 2.0, 2.0, 2.0]
    assert CAKESSparsityHook().lambda_at(0) == 1.0
    for bad in (dict(lam=-1), dict(begin_iter=-1), dict(warmup_iters=1.5),
                dict(interval=0)):
        with pytest.raises(ValueError, match='but got'):
            CAKESSparsityHook(**bad)


class GammaRecorder(Hook):
    """Gives the supernet gammas both signs before training; keeps them."""

    def before_train(self, runner):
        self.layers = runner.model.supernet_layers
        self.before = {}
        for path, layer in self.layers.items():
            n = layer.out_channels
            values = torch.linspace(0.5, 1.5, n) * (-1)**torch.arange(n)
            with torch.no_grad():
                layer.bn.weight.copy_(values)
            self.before[path] = values

    def after_train(self, runner):
        self.after = {
            p: layer.bn.weight.detach().clone()
            for p, layer in self.layers.items()
        }


def one_step_search(data, work_dir, s):
    """One SGD step of the C-scheme demo search, lambda_t = 0.5 by hook."""
    cfg = demo_config('configs/search/cakes_search_c_demo.py', data, work_dir,
                      epochs=1, batch=8)  # 8 training videos: one step
    cfg.model.sparsity = dict(s=s, reweight=True)
    cfg.custom_hooks = [dict(type='CAKESSparsityHook', lam=0.5, interval=1)]
    cfg.optim_wrapper.optimizer.lr = 0.1
    cfg.optim_wrapper.clip_grad = None
    cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    cfg.train_cfg.pop('val_interval')
    cfg.train_cfg.pop('val_begin')
    runner = Runner.from_cfg(cfg)
    recorder = GammaRecorder()
    runner.register_hook(recorder, 'LOWEST')
    runner.train()
    return runner, recorder


def test_sparsity_gradient_equals_the_formula(tiny_data, tmp_path):
    # Same seed, data and network; only the penalty differs, so the gamma
    # updates differ by exactly lr * s * lambda_t * w_shape * sign(gamma).
    runner, with_l1 = one_step_search(tiny_data, str(tmp_path / 'a'), 0.1)
    _, without = one_step_search(tiny_data, str(tmp_path / 'b'), 0.0)
    assert runner.iter == 1
    hub = runner.message_hub
    assert hub.get_scalar('train/sparsity_lambda').current() == 0.5
    # the logged share is that of the top-C export of the final gammas
    kept_3d = total = 0
    for gamma in with_l1.after.values():
        c = gamma.numel() // 3
        values = gamma.abs().tolist()
        top = sorted(range(3 * c), key=lambda i: (-values[i], i))[:c]
        kept_3d += sum(i < c for i in top)
        total += c
    assert hub.get_scalar('train/share_3x3x3').current() == pytest.approx(
        kept_3d / total)
    for path, before in with_l1.before.items():
        c = before.numel() // 3
        w = torch.tensor([9 / 13] * c + [3 / 13] * c + [1 / 13] * c)
        expected = -0.1 * 0.1 * 0.5 * w * torch.sign(before)
        got = with_l1.after[path] - without.after[path]
        torch.testing.assert_close(got, expected, atol=1e-6, rtol=0)
        assert not torch.equal(without.after[path], before)  # data moved it


def test_hook_refuses_a_search_without_sparsity(tiny_data, tmp_path):
    cfg = demo_config('configs/search/cakes_search_p_demo.py', tiny_data,
                      str(tmp_path))
    cfg.custom_hooks = [dict(type='CAKESSparsityHook')]
    runner = Runner.from_cfg(cfg)
    with pytest.raises(RuntimeError, match='has none'):
        runner.train()
