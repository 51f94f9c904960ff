"""Wrap a traceable CNN so every pruning level runs from one weight set (masks + per-level BN)."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from allinone.exporter.groups import find_groups
from allinone.exporter.levels import flops, resolve_levels
from allinone.exporter.trace import trace
from allinone.train.bn import PerLevelBatchNorm
from allinone.train.levels import Level, check_ratios
from allinone.train.masks import NestedMasks

__all__ = ["LayerInfo", "NestedModel"]


@dataclass(frozen=True)
class LayerInfo:
    """A conv/linear layer of the traced graph and the channel groups on its two sides."""

    name: str
    kind: str  # "conv2d" or "linear"
    module: str  # qualified name of the nn.Conv2d / nn.Linear
    bn: str | None  # qualified name of its BatchNorm, if any
    in_group: int | None
    out_group: int | None
    depthwise: bool
    out_value: int  # index of the output value in the traced graph
    in_shape: tuple[int, int, int]
    out_shape: tuple[int, int, int]


def _set_submodule(root: nn.Module, name: str, new: nn.Module) -> None:
    parent, _, leaf = name.rpartition(".")
    setattr(root.get_submodule(parent) if parent else root, leaf, new)


class NestedModel(nn.Module):
    """``model`` with nested channel masks and per-level BatchNorm; ``set_level(k)`` picks a level.

    Channel groups come from the exporter's tracer (:func:`allinone.exporter.trace.trace` and
    :func:`allinone.exporter.groups.find_groups`), so training and export agree on them. The mask
    of a group multiplies the output of each BatchNorm (or bias-only conv/linear) that produces
    the group's channels, so a zeroed channel is exactly a removed one.
    """

    def __init__(
        self,
        model: nn.Module,
        levels: Sequence[Level],
        example_input: torch.Tensor,
        round_to: int = 1,
    ) -> None:
        super().__init__()
        if all(isinstance(lv, (int, float)) for lv in levels):
            check_ratios([float(lv) for lv in levels])  # type: ignore[arg-type]
        graph = trace(model, example_input)
        groups = find_groups(graph)
        self.model = model
        self.graph = graph
        self.groups = groups
        self.example_input = example_input.detach().clone()
        self.full_widths: list[int] = list(groups.full)
        widths, ratios = resolve_levels(levels, groups.full, round_to)
        self.level_widths: list[list[int]] = [[int(w) for w in row] for row in widths]
        self.keep_ratios: list[float] = list(ratios)
        self.layers: list[LayerInfo] = []
        for layer in graph.layers:
            if layer.kind not in ("conv2d", "linear"):
                continue
            src, out = layer.inputs[0], layer.output
            dw = layer.kind == "conv2d" and layer.groups > 1 and groups.of_value[src] is not None
            self.layers.append(
                LayerInfo(
                    name=layer.name,
                    kind=layer.kind,
                    module=str(layer.conv or layer.linear),
                    bn=layer.bn,
                    in_group=groups.of_value[src],
                    out_group=groups.of_value[out],
                    depthwise=dw and groups.of_value[src] == groups.of_value[out],
                    out_value=out,
                    in_shape=graph.shapes[src],
                    out_shape=graph.shapes[out],
                )
            )
        n_levels = len(self.level_widths)
        for info in self.layers:
            if info.bn is not None:
                bn = model.get_submodule(info.bn)
                _set_submodule(model, info.bn, PerLevelBatchNorm(bn, n_levels))
        self.masks = NestedMasks(self.full_widths, self.level_widths)
        self.level = 0
        for info in self.layers:
            if info.out_group is not None:
                target = model.get_submodule(info.bn or info.module)
                target.register_forward_hook(self._mask_hook(info.out_group))

    # -- levels -------------------------------------------------------------------------------
    @property
    def n_levels(self) -> int:
        return len(self.level_widths)

    def set_level(self, level: int) -> None:
        """Run the sub-network of ``level`` (0 = least pruned) from now on."""
        if not 0 <= level < self.n_levels:
            raise ValueError(f"level {level} out of range [0, {self.n_levels})")
        self.level = level
        for m in self.model.modules():
            if isinstance(m, PerLevelBatchNorm):
                m.level = level

    @property
    def temperature(self) -> float:
        """Mask temperature; 0 means hard 0/1 masks (what export and the runtime compute)."""
        return self.masks.temperature

    @temperature.setter
    def temperature(self, t: float) -> None:
        self.masks.temperature = float(t)

    def _mask_hook(self, group: int):  # noqa: ANN202 - a torch hook
        def hook(_m: nn.Module, _inp: tuple[torch.Tensor, ...], out: torch.Tensor) -> torch.Tensor:
            m = self.masks.mask(self.level, group).to(out.dtype)
            return out * m.view(1, -1, *([1] * (out.dim() - 2)))

        return hook

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)

    def kept_channels(self, level: int, group: int) -> list[int]:
        """Channels (original indices) of ``group`` kept at ``level``."""
        return [int(i) for i in self.masks.kept(level, group)]

    # -- cost and export helpers ---------------------------------------------------------------
    def cost(self, level: int) -> tuple[int, int]:
        """``(MACs, weights)`` of ``level`` for one image (MACs by the exporter's counter)."""
        widths = self.level_widths[level]
        params = 0
        for info in self.layers:
            cin = widths[info.in_group] if info.in_group is not None else info.in_shape[0]
            cout = widths[info.out_group] if info.out_group is not None else info.out_shape[0]
            mod = self.model.get_submodule(info.module)
            if isinstance(mod, nn.Conv2d):
                k = mod.kernel_size[0] * mod.kernel_size[1]
                params += cout * (k if info.depthwise else k * cin // mod.groups)
            else:
                params += cout * cin * info.in_shape[1] * info.in_shape[2]
            params += cout if getattr(mod, "bias", None) is not None else 0
        return flops(self.graph, self.groups, widths), params

    def scores(self) -> dict[int, list[float]]:
        """Learned importance of every group's channels (``importance=`` of the exporter)."""
        return {g: [float(v) for v in s.detach()] for g, s in enumerate(self.masks.scores)}

    def plain_model(self, level: int = 0) -> nn.Module:
        """A hook-free deep copy of the wrapped model with ordinary BatchNorms (``level``'s)."""
        clone = copy.deepcopy(self.model)
        for m in clone.modules():
            m._forward_hooks.clear()
        for name, m in list(clone.named_modules()):
            if isinstance(m, PerLevelBatchNorm):
                _set_submodule(clone, name, copy.deepcopy(m.bns[level]))
        return clone

    def per_level_bn(self, name: str) -> PerLevelBatchNorm:
        """The per-level BatchNorm that replaced the model's BatchNorm ``name``."""
        m = self.model.get_submodule(name)
        if not isinstance(m, PerLevelBatchNorm):
            raise KeyError(f"{name!r} is not a per-level BatchNorm")
        return m
