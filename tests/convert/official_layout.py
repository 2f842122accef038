"""A small network in the layout of the official CAKES code, for tests.

Written from a description of that code (not from its source): a
TSN-style wrapper whose ``base_model`` is an I3D ResNet (1x7x7 stem,
bottlenecks with 1x1x1 ``conv1``/``conv3``, a CAKES ``convT`` made of a
``convs`` list of ``Sequential(Conv3d)`` for the non-zero shapes in the
order 3x3x3, 1x3x3, 3x1x1 and an ``out`` = ``Sequential(BatchNorm3d,
ReLU)``), a weightless dropout ``fc``, and a
``new_fc`` classifier applied to every frame, its logits averaged over
time. Saved as that code saves: a DataParallel state dict in
``{'epoch', 'arch', 'state_dict', 'best_prec1'}``.
"""
from typing import Dict, Mapping, Sequence

import torch
import torch.nn as nn

OFFICIAL_ORDER = ('3x3x3', '1x3x3', '3x1x1')

#: Counts of a base-width-8, blocks (2, 1, 1, 1) network, chosen so that
#: every shape is absent somewhere: branch indices shift in layer1.0
#: (no 3D), layer1.1 (3D only), layer2.0 (no 2D) and layer3.0 (no 1D).
TINY_COUNTS = {
    'layer1.0.conv2': {'3x3x3': 0, '1x3x3': 5, '3x1x1': 3},
    'layer1.1.conv2': {'3x3x3': 8, '1x3x3': 0, '3x1x1': 0},
    'layer2.0.conv2': {'3x3x3': 6, '1x3x3': 0, '3x1x1': 10},
    'layer3.0.conv2': {'3x3x3': 10, '1x3x3': 22, '3x1x1': 0},
    'layer4.0.conv2': {'3x3x3': 20, '1x3x3': 24, '3x1x1': 20},
}
TINY_BACKBONE = dict(base_channels=8, stage_blocks=(2, 1, 1, 1))
TINY_CLASSES = 7


def _dims(name: str):
    return tuple(int(d) for d in name.split('x'))


class OfficialCAKESLayer(nn.Module):
    """``convT``: branches for the non-zero counts, then one BN + ReLU."""

    def __init__(self, in_channels: int, counts: Mapping[str, int],
                 stride: int) -> None:
        super().__init__()
        self.convs = nn.ModuleList()
        for name in OFFICIAL_ORDER:
            if counts.get(name, 0):
                dims = _dims(name)
                self.convs.append(
                    nn.Sequential(
                        nn.Conv3d(
                            in_channels,
                            counts[name],
                            dims,
                            stride=(1, stride, stride),
                            padding=tuple(d // 2 for d in dims),
                            bias=False)))
        self.out = nn.Sequential(
            nn.BatchNorm3d(sum(counts.values())), nn.ReLU(inplace=True))

    def forward(self, x):
        return self.out(torch.cat([conv(x) for conv in self.convs], dim=1))


class OfficialBottleneck(nn.Module):
    """ResNet v1.5 bottleneck with the CAKES layer in the middle."""

    def __init__(self, in_channels: int, planes: int,
                 counts: Mapping[str, int], stride: int) -> None:
        super().__init__()
        out_channels = planes * 4
        self.conv1 = nn.Conv3d(in_channels, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm3d(planes)
        self.convT = OfficialCAKESLayer(planes, counts, stride)
        self.conv3 = nn.Conv3d(planes, out_channels, 1, bias=False)
        self.bn3 = nn.BatchNorm3d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or in_channels != out_channels:
            self.downsample = nn.Sequential(
                nn.Conv3d(
                    in_channels,
                    out_channels,
                    1,
                    stride=(1, stride, stride),
                    bias=False), nn.BatchNorm3d(out_channels))

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn3(self.conv3(self.convT(out)))
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(out + identity)


class OfficialResNet(nn.Module):
    """``base_model``: I3D ResNet with CAKES middle convs."""

    def __init__(self, counts: Mapping[str, Mapping[str, int]],
                 base_channels: int, stage_blocks: Sequence[int]) -> None:
        super().__init__()
        self.conv1 = nn.Conv3d(
            3,
            base_channels, (1, 7, 7),
            stride=(1, 2, 2),
            padding=(0, 3, 3),
            bias=False)
        self.bn1 = nn.BatchNorm3d(base_channels)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool3d((1, 3, 3), (1, 2, 2), (0, 1, 1))
        in_channels = base_channels
        for stage, blocks in enumerate(stage_blocks, start=1):
            planes = base_channels * 2**(stage - 1)
            layer = []
            for block in range(blocks):
                stride = 2 if stage > 1 and block == 0 else 1
                layer.append(
                    OfficialBottleneck(
                        in_channels, planes,
                        counts[f'layer{stage}.{block}.conv2'], stride))
                in_channels = planes * 4
            setattr(self, f'layer{stage}', nn.Sequential(*layer))
        self.num_stages = len(stage_blocks)
        self.feat_dim = in_channels
        self.fc = nn.Dropout(0.3)  # the official backbone's fc: no weights

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        for stage in range(1, self.num_stages + 1):
            x = getattr(self, f'layer{stage}')(x)
        return x


class OfficialTSN(nn.Module):
    """TSN-style wrapper: per-frame classifier, logits averaged over T."""

    def __init__(self, counts=TINY_COUNTS, num_classes=TINY_CLASSES,
                 base_channels=8, stage_blocks=(2, 1, 1, 1)) -> None:
        super().__init__()
        self.base_model = OfficialResNet(counts, base_channels, stage_blocks)
        self.new_fc = nn.Linear(self.base_model.feat_dim, num_classes)

    def forward(self, x):
        feats = self.base_model(x).mean(dim=(3, 4))  # N, C, T
        frames = self.base_model.fc(feats.transpose(1, 2))  # N, T, C
        return self.new_fc(frames).mean(dim=1)  # per-frame, then average


def randomize_(model: nn.Module, seed: int = 0) -> nn.Module:
    """Random conv/fc weights and BatchNorm parameters and statistics."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, (nn.Conv3d, nn.Linear)):
                fan_in = module.weight[0].numel()
                module.weight.copy_(
                    torch.randn(module.weight.shape, generator=gen) *
                    (2.0 / fan_in)**0.5)
                if module.bias is not None:
                    module.bias.copy_(
                        torch.randn(module.bias.shape, generator=gen) * 0.1)
            elif isinstance(module, nn.BatchNorm3d):
                c = module.num_features
                module.weight.copy_(torch.rand(c, generator=gen) + 0.5)
                module.bias.copy_(torch.randn(c, generator=gen) * 0.1)
                module.running_mean.copy_(
                    torch.randn(c, generator=gen) * 0.1)
                module.running_var.copy_(torch.rand(c, generator=gen) + 0.5)
                module.num_batches_tracked.fill_(17)
    return model


def official_checkpoint(model: nn.Module, stem_2d: bool = False,
                        with_counters: bool = True) -> Dict:
    """The dict the official code saves for ``model``.

    Args:
        model (nn.Module): An :class:`OfficialTSN`.
        stem_2d (bool): Store the stem as a 2D ``(C, 3, 7, 7)`` weight.
        with_counters (bool): Keep BatchNorm ``num_batches_tracked``.

    Returns:
        dict: ``epoch``, ``arch``, ``state_dict``, ``best_prec1``.
    """
    state_dict = nn.DataParallel(model).state_dict()
    if stem_2d:
        key = 'module.base_model.conv1.weight'
        state_dict[key] = state_dict[key].squeeze(2)
    if not with_counters:
        for key in [k for k in state_dict if 'num_batches_tracked' in k]:
            del state_dict[key]
    return dict(epoch=42, arch='resnet50', state_dict=state_dict,
                best_prec1=47.25)
