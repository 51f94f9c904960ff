"""Physically sliced PyTorch copies of a level: the independent reference for the file's levels."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import torch
from torch import nn

from allinone.exporter.groups import is_depthwise
from allinone.exporter.state import ExportState

__all__ = ["slice_model"]


def _param(t: torch.Tensor) -> nn.Parameter:
    return nn.Parameter(t.detach().clone().contiguous(), requires_grad=False)


def _idx(a: np.ndarray) -> torch.Tensor:
    return torch.as_tensor(np.ascontiguousarray(a), dtype=torch.long)


def _state_of(obj: Any) -> ExportState:
    if isinstance(obj, ExportState):
        return obj
    state = getattr(obj, "export_state", None)
    if isinstance(state, ExportState):
        return state
    raise TypeError("slice_model needs an ExportState (or the AioModel returned by export())")


def slice_model(state_or_model: Any, level: int, bn_stats: bool = True) -> nn.Module:
    """A deep copy of the original model with every layer physically cut to ``level``.

    Convs, BatchNorms and Linears get real smaller parameters: the level's kept channels (in the
    exported order) of the original tensors, and that level's BatchNorm statistics (the calibrated
    ones when export had ``calib``; ``bn_stats=False`` keeps the original ones). The result is in
    eval mode; its output equals the ``.aio`` file at ``level`` up to float rounding.
    """
    state = _state_of(state_or_model)
    if not 0 <= level < state.n_levels:
        raise ValueError(f"level {level} out of range: the export has {state.n_levels} levels")
    graph = state.graph
    model = copy.deepcopy(graph.module).eval()
    mods = dict(model.named_modules())
    for i, layer in enumerate(graph.layers):
        if layer.kind not in ("conv2d", "linear"):
            continue
        out_idx = _idx(state.kept(layer.output, level))
        in_idx = _idx(state.kept(layer.inputs[0], level))
        if layer.kind == "conv2d":
            conv = mods[layer.conv or ""]
            assert isinstance(conv, nn.Conv2d)
            w = conv.weight.detach()[out_idx]
            if is_depthwise(graph, i):
                conv.groups = conv.in_channels = len(out_idx)
            elif conv.groups == 1:
                w = w[:, in_idx]
                conv.in_channels = len(in_idx)
            conv.out_channels = len(out_idx)
            conv.weight = _param(w)
            if conv.bias is not None:
                conv.bias = _param(conv.bias.detach()[out_idx])
            if layer.bn:
                _slice_bn(
                    mods[layer.bn], out_idx, state.bn_stats[level][layer.bn] if bn_stats else None
                )
        else:
            lin = mods[layer.linear or ""]
            assert isinstance(lin, nn.Linear)
            c, h, w_ = graph.shapes[layer.inputs[0]]
            w = lin.weight.detach().reshape(lin.out_features, c, h * w_)[out_idx][:, in_idx]
            lin.weight = _param(w.reshape(len(out_idx), -1))
            lin.in_features, lin.out_features = int(lin.weight.shape[1]), len(out_idx)
            if lin.bias is not None:
                lin.bias = _param(lin.bias.detach()[out_idx])
    return model


def _slice_bn(
    bn: nn.Module, idx: torch.Tensor, stats: tuple[np.ndarray, np.ndarray] | None
) -> None:
    assert isinstance(bn, nn.BatchNorm2d)
    if stats is not None:
        mean = torch.as_tensor(stats[0], dtype=bn.running_mean.dtype)
        var = torch.as_tensor(stats[1], dtype=bn.running_var.dtype)
    else:
        mean, var = bn.running_mean, bn.running_var
    bn.running_mean = mean[idx].clone()
    bn.running_var = var[idx].clone()
    if bn.weight is not None:
        bn.weight = _param(bn.weight.detach()[idx])
        bn.bias = _param(bn.bias.detach()[idx])
    bn.num_features = len(idx)
