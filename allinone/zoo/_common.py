"""Building blocks shared by the zoo's families."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["SqueezeExcite", "conv_bn", "make_divisible"]


def conv_bn(cin: int, cout: int, k: int, stride: int = 1, groups: int = 1) -> list[nn.Module]:
    return [
        nn.Conv2d(cin, cout, k, stride, (k - 1) // 2, groups=groups, bias=False),
        nn.BatchNorm2d(cout),
    ]


def make_divisible(v: float, divisor: int = 8) -> int:
    """``v`` rounded to a multiple of ``divisor``, not below 90 % of ``v`` (torchvision)."""
    new_v = max(divisor, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


class SqueezeExcite(nn.Module):
    """Squeeze-excite: global pool, 1x1 squeeze conv + ``act``, 1x1 excite conv + ``gate``, then
    ``x * gate``. The exporter puts the excite conv's outputs in the group of ``x``."""

    def __init__(self, channels: int, squeeze: int, act: type[nn.Module], gate: type[nn.Module]):
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(channels, squeeze, 1)
        self.act = act()
        self.fc2 = nn.Conv2d(squeeze, channels, 1)
        self.gate = gate()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gate(self.fc2(self.act(self.fc1(self.pool(x)))))
