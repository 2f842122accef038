"""A small 2D ResNet with torchvision's state-dict layout, for tests.

It is the independent reference of the inflation tests: built from plain
``torch.nn`` (no mmaction code), keys ``conv1.weight``, ``bn1.*``,
``layerX.Y.convN.weight``, ``layerX.Y.bnN.*``, ``layerX.Y.downsample.0/1``.
Bottlenecks stride their 3x3 conv (ResNet v1.5), as torchvision does.
"""
import torch
import torch.nn as nn


class BasicBlock2d(nn.Module):
    expansion = 1

    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU()
        self.downsample = downsample

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(out + identity)


class Bottleneck2d(nn.Module):
    expansion = 4

    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU()
        self.downsample = downsample

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(out + identity)


class ResNet2d(nn.Module):
    """ResNet features (no pooling head) in torchvision's layout."""

    def __init__(self, block, stage_blocks, base=64, num_classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(3, base, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(base)
        self.relu = nn.ReLU()
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        inplanes = base
        for i, blocks in enumerate(stage_blocks):
            planes = base * 2**i
            stride = 1 if i == 0 else 2
            layers = []
            for j in range(blocks):
                downsample = None
                if j == 0 and (stride != 1
                               or inplanes != planes * block.expansion):
                    downsample = nn.Sequential(
                        nn.Conv2d(inplanes, planes * block.expansion, 1,
                                  stride, bias=False),
                        nn.BatchNorm2d(planes * block.expansion))
                layers.append(
                    block(inplanes, planes, stride if j == 0 else 1,
                          downsample))
                inplanes = planes * block.expansion
            self.add_module(f'layer{i + 1}', nn.Sequential(*layers))
        # Unused by the 3D backbone: its keys must be reported, not loaded.
        self.fc = nn.Linear(inplanes, num_classes)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        for i in range(1, 5):
            x = getattr(self, f'layer{i}')(x)
        return x


def randomize(module, seed=0):
    """Random weights and BatchNorm statistics (eval BN is not identity)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, tensor in module.state_dict().items():
            if not tensor.is_floating_point():
                continue
            if name.endswith('running_var'):
                tensor.copy_(torch.rand(tensor.shape, generator=gen) + 0.5)
            elif name.endswith(('running_mean', 'bias')):
                tensor.copy_(torch.randn(tensor.shape, generator=gen) * 0.1)
            elif tensor.dim() == 1:  # BN weight
                tensor.copy_(torch.rand(tensor.shape, generator=gen) + 0.5)
            else:  # conv / linear weight, roughly variance preserving
                fan_in = tensor[0].numel()
                tensor.copy_(
                    torch.randn(tensor.shape, generator=gen) *
                    (2.0 / fan_in)**0.5)
    return module
