"""MobileNetV2 (inverted residuals, ReLU6) and MobileNetV3-Small/-Large (squeeze-excite)."""

from __future__ import annotations

import torch
from torch import nn

from allinone.zoo._common import SqueezeExcite, conv_bn, make_divisible

__all__ = [
    "InvertedResidual",
    "InvertedResidualV3",
    "MobileNetV2",
    "MobileNetV3",
    "mobilenet_v2",
    "mobilenet_v3_large",
    "mobilenet_v3_small",
]


class InvertedResidual(nn.Module):
    """MobileNetV2 block: 1x1 expand, 3x3 depthwise (ReLU6), 1x1 project, skip if same shape."""

    def __init__(self, cin: int, cout: int, stride: int, expand: int) -> None:
        super().__init__()
        hidden = cin * expand
        layers: list[nn.Module] = []
        if expand != 1:
            layers += [*conv_bn(cin, hidden, 1), nn.ReLU6(inplace=True)]
        layers += [*conv_bn(hidden, hidden, 3, stride, groups=hidden), nn.ReLU6(inplace=True)]
        layers += conv_bn(hidden, cout, 1)
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
        layers: list[nn.Module] = [*conv_bn(in_channels, 32, 3, 2), nn.ReLU6(inplace=True)]
        cin = 32
        for t, c, n, s in self.SETTINGS:
            for i in range(n):
                layers.append(InvertedResidual(cin, c, s if i == 0 else 1, t))
                cin = c
        layers += [*conv_bn(cin, 1280, 1), nn.ReLU6(inplace=True)]
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(1280, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(self.features(x))
        return self.classifier(torch.flatten(x, 1))


def mobilenet_v2(in_channels: int = 3, num_classes: int = 1000) -> nn.Module:
    """MobileNetV2 1.0 with ReLU6 and inverted residuals."""
    return MobileNetV2(in_channels, num_classes)


class InvertedResidualV3(nn.Module):
    """MobileNetV3 block: 1x1 expand (unless expand == cin), kxk depthwise, optional
    squeeze-excite (hard-sigmoid gate), 1x1 project; skip when the shape is unchanged."""

    def __init__(
        self, cin: int, k: int, exp: int, cout: int, se: bool, act: type[nn.Module], stride: int
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        if exp != cin:
            layers += [*conv_bn(cin, exp, 1), act()]
        layers += [*conv_bn(exp, exp, k, stride, groups=exp), act()]
        if se:
            layers.append(SqueezeExcite(exp, make_divisible(exp // 4), nn.ReLU, nn.Hardsigmoid))
        layers += conv_bn(exp, cout, 1)
        self.block = nn.Sequential(*layers)
        self.use_res = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.use_res:
            return x + self.block(x)
        return self.block(x)


class MobileNetV3(nn.Module):
    """MobileNetV3 (Howard et al., 2019), width 1.0, torchvision's topology (224x224 nominal).

    ``settings`` rows: (cin, kernel, expanded, cout, squeeze-excite, "RE"/"HS", stride).
    """

    LARGE = [(16, 3, 16, 16, False, "RE", 1), (16, 3, 64, 24, False, "RE", 2),
             (24, 3, 72, 24, False, "RE", 1), (24, 5, 72, 40, True, "RE", 2),
             (40, 5, 120, 40, True, "RE", 1), (40, 5, 120, 40, True, "RE", 1),
             (40, 3, 240, 80, False, "HS", 2), (80, 3, 200, 80, False, "HS", 1),
             (80, 3, 184, 80, False, "HS", 1), (80, 3, 184, 80, False, "HS", 1),
             (80, 3, 480, 112, True, "HS", 1), (112, 3, 672, 112, True, "HS", 1),
             (112, 5, 672, 160, True, "HS", 2), (160, 5, 960, 160, True, "HS", 1),
             (160, 5, 960, 160, True, "HS", 1)]  # fmt: skip
    SMALL = [(16, 3, 16, 16, True, "RE", 2), (16, 3, 72, 24, False, "RE", 2),
             (24, 3, 88, 24, False, "RE", 1), (24, 5, 96, 40, True, "HS", 2),
             (40, 5, 240, 40, True, "HS", 1), (40, 5, 240, 40, True, "HS", 1),
             (40, 5, 120, 48, True, "HS", 1), (48, 5, 144, 48, True, "HS", 1),
             (48, 5, 288, 96, True, "HS", 2), (96, 5, 576, 96, True, "HS", 1),
             (96, 5, 576, 96, True, "HS", 1)]  # fmt: skip

    def __init__(
        self,
        settings: list[tuple[int, int, int, int, bool, str, int]],
        last_channel: int,
        in_channels: int = 3,
        num_classes: int = 1000,
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = [*conv_bn(in_channels, 16, 3, 2), nn.Hardswish()]
        for cin, k, exp, cout, se, act, stride in settings:
            act_cls = nn.ReLU if act == "RE" else nn.Hardswish
            layers.append(InvertedResidualV3(cin, k, exp, cout, se, act_cls, stride))
        last_conv = 6 * settings[-1][3]
        layers += [*conv_bn(settings[-1][3], last_conv, 1), nn.Hardswish()]
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(
            nn.Linear(last_conv, last_channel),
            nn.Hardswish(),
            nn.Dropout(0.2),
            nn.Linear(last_channel, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(self.features(x))
        return self.classifier(torch.flatten(x, 1))


def mobilenet_v3_large(in_channels: int = 3, num_classes: int = 1000) -> nn.Module:
    """MobileNetV3-Large 1.0: 15 blocks, squeeze-excite with hard-sigmoid gates, hardswish."""
    return MobileNetV3(MobileNetV3.LARGE, 1280, in_channels, num_classes)


def mobilenet_v3_small(in_channels: int = 3, num_classes: int = 1000) -> nn.Module:
    """MobileNetV3-Small 1.0: 11 blocks, squeeze-excite with hard-sigmoid gates, hardswish."""
    return MobileNetV3(MobileNetV3.SMALL, 1024, in_channels, num_classes)
