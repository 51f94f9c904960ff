"""ResNets of basic blocks: ResNet-18 (ImageNet stem) and CIFAR ResNet-20."""

from __future__ import annotations

import torch
from torch import nn

from allinone.zoo._common import conv_bn

__all__ = ["BasicBlock", "ResNet", "resnet14", "resnet18", "resnet20"]


class BasicBlock(nn.Module):
    """ResNet basic block: two 3x3 conv-BN, a shortcut (1x1 conv-BN when the shape changes)."""

    def __init__(self, cin: int, cout: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample: nn.Module | None = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(*conv_bn(cin, cout, 1, stride))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        out = out + identity
        return self.relu(out)


class ResNet(nn.Module):
    """ResNet of basic blocks; ``stem="imagenet"`` (7x7/2 + maxpool) or ``"cifar"`` (3x3/1)."""

    def __init__(
        self,
        blocks: list[int],
        widths: list[int],
        stem: str,
        in_channels: int = 3,
        num_classes: int = 1000,
    ) -> None:
        super().__init__()
        c0 = widths[0]
        if stem == "imagenet":
            self.conv1 = nn.Conv2d(in_channels, c0, 7, 2, 3, bias=False)
            self.maxpool: nn.Module = nn.MaxPool2d(3, 2, 1)
        else:
            self.conv1 = nn.Conv2d(in_channels, c0, 3, 1, 1, bias=False)
            self.maxpool = nn.Identity()
        self.bn1 = nn.BatchNorm2d(c0)
        self.relu = nn.ReLU(inplace=True)
        layers: list[nn.Module] = []
        cin = c0
        for i, (n, c) in enumerate(zip(blocks, widths, strict=True)):
            stride = 1 if i == 0 else 2
            blks = [BasicBlock(cin if j == 0 else c, c, stride if j == 0 else 1) for j in range(n)]
            layers.append(nn.Sequential(*blks))
            cin = c
        self.layers = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(cin, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layers(x)
        x = torch.flatten(self.avgpool(x), 1)
        return self.fc(x)


def resnet18(in_channels: int = 3, num_classes: int = 1000) -> nn.Module:
    """ResNet-18 with the torchvision topology (ImageNet stem, 224x224 nominal input)."""
    return ResNet([2, 2, 2, 2], [64, 128, 256, 512], "imagenet", in_channels, num_classes)


def resnet20(in_channels: int = 3, num_classes: int = 10) -> nn.Module:
    """CIFAR ResNet-20 (16/32/64 channels, option-B 1x1 conv+BN shortcuts, 32x32 input)."""
    return ResNet([3, 3, 3], [16, 32, 64], "cifar", in_channels, num_classes)


def resnet14(in_channels: int = 1, num_classes: int = 10) -> nn.Module:
    """CIFAR-style ResNet-14 (2 blocks per stage, 32/64/128 channels, 3x3 stem, no downsampling
    before the first stage): ~160 MFLOPs at 28x28, a few ms per image on one CPU thread. The
    shipped demo model (allinone/data/demo.aio)."""
    return ResNet([2, 2, 2], [32, 64, 128], "cifar", in_channels, num_classes)
