"""EfficientNet-B0 (Tan & Le, 2019): MBConv blocks with SiLU, 5x5 depthwise, sigmoid-gated SE."""

from __future__ import annotations

import torch
from torch import nn

from allinone.zoo._common import SqueezeExcite, conv_bn

__all__ = ["EfficientNet", "MBConv", "efficientnet_b0"]


class MBConv(nn.Module):
    """1x1 expand (unless ratio 1), kxk depthwise, squeeze-excite (squeeze to cin/4, sigmoid
    gate), 1x1 project; skip when the shape is unchanged (stochastic depth is training-only)."""

    def __init__(self, cin: int, cout: int, k: int, stride: int, expand: int) -> None:
        super().__init__()
        hidden = cin * expand
        layers: list[nn.Module] = []
        if expand != 1:
            layers += [*conv_bn(cin, hidden, 1), nn.SiLU()]
        layers += [*conv_bn(hidden, hidden, k, stride, groups=hidden), nn.SiLU()]
        layers.append(SqueezeExcite(hidden, max(1, cin // 4), nn.SiLU, nn.Sigmoid))
        layers += conv_bn(hidden, cout, 1)
        self.block = nn.Sequential(*layers)
        self.use_res = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.use_res:
            return x + self.block(x)
        return self.block(x)


class EfficientNet(nn.Module):
    """EfficientNet-B0 (width and depth 1.0, 224x224 nominal input), torchvision's topology."""

    # (expand, kernel, stride, cin, cout, repeats)
    B0 = [(1, 3, 1, 32, 16, 1), (6, 3, 2, 16, 24, 2), (6, 5, 2, 24, 40, 2),
          (6, 3, 2, 40, 80, 3), (6, 5, 1, 80, 112, 3), (6, 5, 2, 112, 192, 4),
          (6, 3, 1, 192, 320, 1)]  # fmt: skip

    def __init__(self, in_channels: int = 3, num_classes: int = 1000) -> None:
        super().__init__()
        layers: list[nn.Module] = [*conv_bn(in_channels, 32, 3, 2), nn.SiLU()]
        for expand, k, stride, cin, cout, repeats in self.B0:
            for i in range(repeats):
                layers.append(MBConv(cin if i == 0 else cout, cout, k, stride if i == 0 else 1,
                                     expand))  # fmt: skip
        layers += [*conv_bn(320, 1280, 1), nn.SiLU()]
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(1280, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(self.features(x))
        return self.classifier(torch.flatten(x, 1))


def efficientnet_b0(in_channels: int = 3, num_classes: int = 1000) -> nn.Module:
    """EfficientNet-B0: 16 MBConv blocks, SiLU, 3x3 and 5x5 depthwise, squeeze-excite."""
    return EfficientNet(in_channels, num_classes)
