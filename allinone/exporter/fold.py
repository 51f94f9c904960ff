"""BatchNorm statistics per level: the original ones, or re-estimated on calibration data."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import torch
from torch import nn

from allinone.exporter.slicing import slice_model
from allinone.exporter.state import BNStats, ExportState
from allinone.exporter.trace import Graph

__all__ = ["calibrate", "fold_bn", "original_stats"]


def original_stats(graph: Graph) -> BNStats:
    """The running statistics of every folded BatchNorm, as float64 arrays."""
    mods = graph.modules()
    out: BNStats = {}
    for layer in graph.layers:
        if layer.bn:
            bn = mods[layer.bn]
            out[layer.bn] = (
                bn.running_mean.detach().double().numpy().copy(),
                bn.running_var.detach().double().numpy().copy(),
            )
    return out


def calibrate(state: ExportState, calib: Iterable[torch.Tensor]) -> None:
    """Re-estimate each level's BatchNorm statistics on that level's sliced model, in place.

    Every BatchNorm of the sliced copy runs in train mode with ``momentum=None`` (a cumulative
    average over all batches), without gradients. Channels a level drops keep the original stats.
    """
    batches = list(calib)
    if not batches:
        raise ValueError("calib is empty")
    base = original_stats(state.graph)
    for k in range(state.n_levels):
        model = slice_model(state, k, bn_stats=False)
        mods = dict(model.named_modules())
        bns = [mods[layer.bn] for layer in state.graph.layers if layer.bn]
        for bn in bns:
            assert isinstance(bn, nn.BatchNorm2d)
            bn.reset_running_stats()
            bn.momentum = None
            bn.train()
        with torch.no_grad():
            for x in batches:
                model(torch.as_tensor(x, dtype=torch.float32))
        stats: BNStats = {}
        for layer in state.graph.layers:
            if not layer.bn:
                continue
            mean, var = (a.copy() for a in base[layer.bn])
            idx = state.kept(layer.output, k)
            bn = mods[layer.bn]
            mean[idx] = bn.running_mean.detach().double().numpy()
            var[idx] = bn.running_var.detach().double().numpy()
            stats[layer.bn] = (mean, var)
        state.bn_stats[k] = stats


def fold_bn(
    bn: nn.BatchNorm2d | None,
    stats: tuple[np.ndarray, np.ndarray] | None,
    conv_bias: np.ndarray | None,
    c: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel ``(scale, bias)``: ``scale = γ/√(σ²+ε)``, ``bias = β − μ·scale + scale·b``."""
    b = np.zeros(c) if conv_bias is None else conv_bias.astype(np.float64)
    if bn is None or stats is None:
        return np.ones(c), b
    mean, var = stats
    gamma = np.ones(c) if bn.weight is None else bn.weight.detach().double().numpy()
    beta = np.zeros(c) if bn.bias is None else bn.bias.detach().double().numpy()
    scale = gamma / np.sqrt(var + bn.eps)
    return scale, beta - mean * scale + scale * b
