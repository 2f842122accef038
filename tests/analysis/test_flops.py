"""The one FLOP-analysis set-up: what it counts and what it leaves."""
import torch.nn as nn

from cakes_mmaction.analysis.flops import count_flops


class _Net(nn.Module):

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv3d(3, 4, (1, 3, 3), padding=(0, 1, 1))
        self.norm = nn.BatchNorm3d(4)
        self.drop = nn.Dropout(0.5)

    def forward(self, x):
        y = self.drop(self.norm(self.conv(x)))
        return nn.functional.max_pool3d(y, 2)


def test_counts_convolutions_by_module_in_eval_mode_and_restores_modes():
    net = _Net()
    net.train()
    net.drop.eval()  # a mixed state comes back as it was
    counted = count_flops(net, (2, 3, 2, 4, 4))
    # A convolution: C_in * C_out * |k| multiply-adds per output position,
    # bias not counted (mmengine's convention).
    conv = 3 * 4 * 9 * (2 * 2 * 4 * 4)
    assert counted.by_module['conv'] == conv
    assert counted.by_module[''] == counted.total > conv  # + the BN
    assert 'aten::max_pool3d' in counted.unsupported_ops
    assert net.training and net.conv.training and not net.drop.training
    assert not any(p.grad is not None for p in net.parameters())


def test_the_norm_is_counted_as_in_eval():
    net = _Net()
    eval_count = count_flops(net.eval(), (1, 3, 2, 4, 4))
    assert count_flops(net.train(), (1, 3, 2, 4, 4)) == eval_count
