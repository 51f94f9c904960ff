"""Reference CNNs for tests, demos and benchmarks (PyTorch; never imported by the runtime).

One module per family. Every model uses modules only in ``forward`` (no functional op that
hard-codes a channel count), so a physically sliced copy (see
:func:`allinone.exporter.slice_model`) still runs.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from allinone.zoo.efficientnet import EfficientNet, efficientnet_b0
from allinone.zoo.mobilenet import (
    InvertedResidual,
    MobileNetV2,
    MobileNetV3,
    mobilenet_v2,
    mobilenet_v3_large,
    mobilenet_v3_small,
)
from allinone.zoo.resnet import BasicBlock, ResNet, resnet14, resnet18, resnet20
from allinone.zoo.unet import UNetSmall, unet_small
from allinone.zoo.vgg import VGGSmall, vgg_small
from allinone.zoo.yolo import YoloSmall, split_heads, yolo_small

__all__ = [
    "INPUT_SIZE",
    "NAMES",
    "BasicBlock",
    "EfficientNet",
    "InvertedResidual",
    "MobileNetV2",
    "MobileNetV3",
    "ResNet",
    "UNetSmall",
    "VGGSmall",
    "YoloSmall",
    "efficientnet_b0",
    "get",
    "mobilenet_v2",
    "mobilenet_v3_large",
    "mobilenet_v3_small",
    "resnet14",
    "resnet18",
    "resnet20",
    "split_heads",
    "unet_small",
    "vgg_small",
    "yolo_small",
]

_MODELS: dict[str, Callable[..., nn.Module]] = {
    "resnet18": resnet18,
    "mobilenet_v2": mobilenet_v2,
    "resnet20": resnet20,
    "resnet14": resnet14,
    "vgg_small": vgg_small,
    "mobilenet_v3_small": mobilenet_v3_small,
    "mobilenet_v3_large": mobilenet_v3_large,
    "efficientnet_b0": efficientnet_b0,
    "yolo_small": yolo_small,
    "unet_small": unet_small,
}
NAMES: tuple[str, ...] = tuple(_MODELS)

# Nominal input size (h, w) of each model.
INPUT_SIZE: dict[str, tuple[int, int]] = {
    "resnet18": (224, 224),
    "mobilenet_v2": (224, 224),
    "resnet20": (32, 32),
    "resnet14": (28, 28),
    "vgg_small": (32, 32),
    "mobilenet_v3_small": (224, 224),
    "mobilenet_v3_large": (224, 224),
    "efficientnet_b0": (224, 224),
    "yolo_small": (320, 320),
    "unet_small": (128, 128),
}


def get(name: str, **kw: int) -> nn.Module:
    """Build zoo model ``name`` (one of :data:`NAMES`); kwargs ``in_channels``, ``num_classes``."""
    if name not in _MODELS:
        raise ValueError(f"unknown zoo model {name!r}; choose from {', '.join(NAMES)}")
    return _MODELS[name](**kw)
