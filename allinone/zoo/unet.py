"""A small U-Net (Ronneberger et al., 2015): an encoder of double 3x3 convs and max pools, a
decoder that upsamples (bilinear), concatenates the encoder's skip and convolves, then a 1x1
head and a per-pixel softmax over classes."""

from __future__ import annotations

import torch
from torch import nn

from allinone.zoo._common import conv_bn

__all__ = ["UNetSmall", "unet_small"]


def _double(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(*conv_bn(cin, cout, 3), nn.ReLU(), *conv_bn(cout, cout, 3), nn.ReLU())


class UNetSmall(nn.Module):
    """Three scales (16, 32, 64 channels), a 128-channel bottleneck."""

    def __init__(self, in_channels: int = 3, num_classes: int = 2, width: int = 16) -> None:
        super().__init__()
        w = width
        self.enc1 = _double(in_channels, w)
        self.enc2 = _double(w, 2 * w)
        self.enc3 = _double(2 * w, 4 * w)
        self.pool = nn.MaxPool2d(2)
        self.bottleneck = _double(4 * w, 8 * w)
        self.up = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False)
        self.dec3 = _double(8 * w + 4 * w, 4 * w)
        self.dec2 = _double(4 * w + 2 * w, 2 * w)
        self.dec1 = _double(2 * w + w, w)
        self.head = nn.Conv2d(w, num_classes, 1)
        self.softmax = nn.Softmax(dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        e1 = self.enc1(x)
        e2 = self.enc2(self.pool(e1))
        e3 = self.enc3(self.pool(e2))
        b = self.bottleneck(self.pool(e3))
        d3 = self.dec3(torch.cat([self.up(b), e3], 1))
        d2 = self.dec2(torch.cat([self.up(d3), e2], 1))
        d1 = self.dec1(torch.cat([self.up(d2), e1], 1))
        return self.softmax(self.head(d1))


def unet_small(in_channels: int = 3, num_classes: int = 2) -> nn.Module:
    """Small U-Net, widths 16-32-64-128, per-pixel class probabilities (softmax)."""
    return UNetSmall(in_channels, num_classes)
