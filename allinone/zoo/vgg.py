"""Small VGG-style classifiers."""

from __future__ import annotations

import torch
from torch import nn

from allinone.zoo._common import conv_bn

__all__ = ["VGGSmall", "vgg_small"]


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
                layers += [*conv_bn(cin, int(v), 3), nn.ReLU(inplace=True)]
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
