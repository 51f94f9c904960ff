"""Reference CNNs for tests, demos and benchmarks (PyTorch; never imported by the runtime).

Every model uses modules only in ``forward`` (no functional op that hard-codes a channel count),
so a physically sliced copy (see :func:`allinone.exporter.slice_model`) still runs.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

__all__ = ["NAMES", "get", "mobilenet_v2", "resnet14", "resnet18", "resnet20", "vgg_small"]


def _conv_bn(cin: int, cout: int, k: int, stride: int = 1, groups: int = 1) -> list[nn.Module]:
    return [
        nn.Conv2d(cin, cout, k, stride, (k - 1) // 2, groups=groups, bias=False),
        nn.BatchNorm2d(cout),
    ]


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
            self.downsample = nn.Sequential(*_conv_bn(cin, cout, 1, stride))

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


class InvertedResidual(nn.Module):
    """MobileNetV2 block: 1x1 expand, 3x3 depthwise (ReLU6), 1x1 project, skip if same shape."""

    def __init__(self, cin: int, cout: int, stride: int, expand: int) -> None:
        super().__init__()
        hidden = cin * expand
        layers: list[nn.Module] = []
        if expand != 1:
            layers += [*_conv_bn(cin, hidden, 1), nn.ReLU6(inplace=True)]
        layers += [*_conv_bn(hidden, hidden, 3, stride, groups=hidden), nn.ReLU6(inplace=True)]
        layers += _conv_bn(hidden, cout, 1)
        self.conv = nn.Sequential(*layers)
        self.use_res = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.use_res:
            return x + self.conv(x)
        return self.conv(x)


class MobileNetV2(nn.Module):
    """MobileNetV2, width multiplier 1.0 (torchvision topology, 224x224 nominal input)."""

    SETTINGS = [[1, 16, 1, 1], [6, 24, 2, 2], [6, 32, 3, 2], [6, 64, 4, 2],
                [6, 96, 3, 1], [6, 160, 3, 2], [6, 320, 1, 1]]  # fmt: skip

    def __init__(self, in_channels: int = 3, num_classes: int = 1000) -> None:
        super().__init__()
        layers: list[nn.Module] = [*_conv_bn(in_channels, 32, 3, 2), nn.ReLU6(inplace=True)]
        cin = 32
        for t, c, n, s in self.SETTINGS:
            for i in range(n):
                layers.append(InvertedResidual(cin, c, s if i == 0 else 1, t))
                cin = c
        layers += [*_conv_bn(cin, 1280, 1), nn.ReLU6(inplace=True)]
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(1280, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(self.features(x))
        return self.classifier(torch.flatten(x, 1))


def mobilenet_v2(in_channels: int = 3, num_classes: int = 1000) -> nn.Module:
    """MobileNetV2 1.0 with ReLU6 and inverted residuals."""
    return MobileNetV2(in_channels, num_classes)


class VGGSmall(nn.Module):
    """VGG-style 3x3 conv-BN-ReLU stacks with max-pooling, global average pool, MLP head."""

    def __init__(
        self,
        in_channels: int = 3,
        num_classes: int = 10,
        cfg: tuple[int | str, ...] = (32, 32, "M", 64, 64, "M", 128, 128, "M"),
        hidden: int = 256,
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        cin = in_channels
        for v in cfg:
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [*_conv_bn(cin, int(v), 3), nn.ReLU(inplace=True)]
                cin = int(v)
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(
            nn.Linear(cin, hidden),
            nn.ReLU(inplace=True),
            nn.Dropout(0.2),
            nn.Linear(hidden, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.flatten(self.pool(self.features(x)), 1)
        return self.classifier(x)


def vgg_small(in_channels: int = 3, num_classes: int = 10) -> nn.Module:
    """Small VGG (32-32-M-64-64-M-128-128-M, GAP, Linear 256 + ReLU, Linear)."""
    return VGGSmall(in_channels, num_classes)


_MODELS: dict[str, Callable[..., nn.Module]] = {
    "resnet18": resnet18,
    "mobilenet_v2": mobilenet_v2,
    "resnet20": resnet20,
    "resnet14": resnet14,
    "vgg_small": vgg_small,
}
NAMES: tuple[str, ...] = tuple(_MODELS)

# Nominal input size (h, w) of each model.
INPUT_SIZE: dict[str, tuple[int, int]] = {
    "resnet18": (224, 224),
    "mobilenet_v2": (224, 224),
    "resnet20": (32, 32),
    "resnet14": (28, 28),
    "vgg_small": (32, 32),
}


def get(name: str, **kw: int) -> nn.Module:
    """Build zoo model ``name`` (one of :data:`NAMES`); kwargs ``in_channels``, ``num_classes``."""
    if name not in _MODELS:
        raise ValueError(f"unknown zoo model {name!r}; choose from {', '.join(NAMES)}")
    return _MODELS[name](**kw)
