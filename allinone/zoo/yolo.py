"""A YOLO-style detector (YOLOv5's layout, scaled down): CSP (C3) blocks, SPPF, an FPN/PAN neck
with upsample + concat, and raw head outputs (no decoding, no NMS in the graph).

The runtime has one output tensor, so the three heads (strides 8, 16, 32; ``anchors x (5 +
classes)`` channels each) are stacked along channels on the stride-8 grid: the stride-16 and
stride-32 heads are upsampled (nearest) by 2 and 4 first, so head i's own grid is every
``2**i``-th pixel of the output (:func:`split_heads`).
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["YoloSmall", "split_heads", "yolo_small"]


class ConvBnSiLU(nn.Sequential):
    """Conv (no bias) + BatchNorm + SiLU, YOLOv5's ``Conv``."""

    def __init__(self, cin: int, cout: int, k: int = 1, stride: int = 1) -> None:
        super().__init__(
            nn.Conv2d(cin, cout, k, stride, k // 2, bias=False), nn.BatchNorm2d(cout), nn.SiLU()
        )


class Bottleneck(nn.Module):
    """1x1 then 3x3, with a skip when ``shortcut``."""

    def __init__(self, c: int, shortcut: bool = True) -> None:
        super().__init__()
        self.cv1 = ConvBnSiLU(c, c, 1)
        self.cv2 = ConvBnSiLU(c, c, 3)
        self.add = shortcut

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.cv2(self.cv1(x))
        return x + y if self.add else y


class C3(nn.Module):
    """CSP block: two 1x1 branches, bottlenecks on one, concatenated and fused by a 1x1 conv."""

    def __init__(self, cin: int, cout: int, n: int = 1, shortcut: bool = True) -> None:
        super().__init__()
        c = cout // 2
        self.cv1 = ConvBnSiLU(cin, c, 1)
        self.cv2 = ConvBnSiLU(cin, c, 1)
        self.m = nn.Sequential(*(Bottleneck(c, shortcut) for _ in range(n)))
        self.cv3 = ConvBnSiLU(2 * c, cout, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.cv3(torch.cat([self.m(self.cv1(x)), self.cv2(x)], 1))


class SPPF(nn.Module):
    """Spatial pyramid pooling, fast: three chained 5x5 max pools, all four concatenated."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        c = cin // 2
        self.cv1 = ConvBnSiLU(cin, c, 1)
        self.m = nn.MaxPool2d(5, 1, 2)
        self.cv2 = ConvBnSiLU(4 * c, cout, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.cv1(x)
        y1 = self.m(x)
        y2 = self.m(y1)
        return self.cv2(torch.cat([x, y1, y2, self.m(y2)], 1))


class YoloSmall(nn.Module):
    """Backbone (CSP) -> SPPF -> FPN (top-down: upsample + concat) -> PAN (bottom-up: strided
    conv + concat) -> three 1x1 heads. ``width``: channels of the first stage."""

    def __init__(
        self, in_channels: int = 3, num_classes: int = 80, width: int = 16, anchors: int = 3
    ) -> None:
        super().__init__()
        w = width
        self.stem = ConvBnSiLU(in_channels, w, 3, 2)  # /2
        self.s1 = nn.Sequential(ConvBnSiLU(w, 2 * w, 3, 2), C3(2 * w, 2 * w, 1))  # /4
        self.s2 = nn.Sequential(ConvBnSiLU(2 * w, 4 * w, 3, 2), C3(4 * w, 4 * w, 2))  # /8: P3
        self.s3 = nn.Sequential(ConvBnSiLU(4 * w, 8 * w, 3, 2), C3(8 * w, 8 * w, 2))  # /16: P4
        self.s4 = nn.Sequential(ConvBnSiLU(8 * w, 16 * w, 3, 2), C3(16 * w, 16 * w, 1))  # /32
        self.sppf = SPPF(16 * w, 16 * w)
        # FPN
        self.lat5 = ConvBnSiLU(16 * w, 8 * w, 1)
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        self.fpn4 = C3(16 * w, 8 * w, 1, shortcut=False)
        self.lat4 = ConvBnSiLU(8 * w, 4 * w, 1)
        self.fpn3 = C3(8 * w, 4 * w, 1, shortcut=False)  # out P3
        # PAN
        self.down3 = ConvBnSiLU(4 * w, 4 * w, 3, 2)
        self.pan4 = C3(8 * w, 8 * w, 1, shortcut=False)  # out P4
        self.down4 = ConvBnSiLU(8 * w, 8 * w, 3, 2)
        self.pan5 = C3(16 * w, 16 * w, 1, shortcut=False)  # out P5
        no = anchors * (5 + num_classes)
        self.head3 = nn.Conv2d(4 * w, no, 1)
        self.head4 = nn.Conv2d(8 * w, no, 1)
        self.head5 = nn.Conv2d(16 * w, no, 1)
        self.up4 = nn.Upsample(scale_factor=4, mode="nearest")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p3 = self.s2(self.s1(self.stem(x)))
        p4 = self.s3(p3)
        p5 = self.sppf(self.s4(p4))
        l5 = self.lat5(p5)
        f4 = self.fpn4(torch.cat([self.up(l5), p4], 1))
        l4 = self.lat4(f4)
        o3 = self.fpn3(torch.cat([self.up(l4), p3], 1))
        o4 = self.pan4(torch.cat([self.down3(o3), l4], 1))
        o5 = self.pan5(torch.cat([self.down4(o4), l5], 1))
        return torch.cat([self.head3(o3), self.up(self.head4(o4)), self.up4(self.head5(o5))], 1)


def split_heads(out: torch.Tensor, anchors: int = 3) -> list[torch.Tensor]:
    """The three raw heads (strides 8, 16, 32) of a :class:`YoloSmall` output (N, 3·no, H, W)."""
    no = out.shape[1] // 3
    return [out[:, i * no : (i + 1) * no, :: 2**i, :: 2**i] for i in range(3)]


def yolo_small(in_channels: int = 3, num_classes: int = 80) -> nn.Module:
    """YOLO-style detector, width 16 (2.0 M parameters at 80 classes), 320x320 nominal input."""
    return YoloSmall(in_channels, num_classes)
