"""Channel importance per group and the resulting channel order (most important first)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch

from allinone.exporter.groups import Groups
from allinone.exporter.trace import Graph

__all__ = ["Importance", "channel_scores", "rank"]

Importance = str | Mapping[int, Sequence[float] | np.ndarray]


def _bn_scale(bn: torch.nn.BatchNorm2d) -> np.ndarray:
    var = bn.running_var.detach().double().numpy()
    gamma = bn.weight.detach().double().numpy() if bn.weight is not None else np.ones_like(var)
    return gamma / np.sqrt(var + bn.eps)


def channel_scores(graph: Graph, groups: Groups, importance: Importance = "l1") -> list[np.ndarray]:
    """Per-channel importance of every group.

    ``"l1"``: sum over the group's convs/linears of the L1 norm of each output channel's
    weights, BatchNorm folded in (times ``|γ/√(σ²+ε)|``). ``"bn_gamma"``: sum of ``|γ|`` of the
    group's BatchNorms (L1 for layers without one). A mapping ``{group: scores}`` gives the
    scores directly (e.g. trained soft-mask scores); groups it leaves out use ``"l1"``.
    """
    if isinstance(importance, str) and importance not in ("l1", "bn_gamma"):
        raise ValueError(f"unknown importance {importance!r}; use 'l1', 'bn_gamma' or a mapping")
    mods = graph.modules()
    scores = [np.zeros(c, dtype=np.float64) for c in groups.full]
    for layer in graph.layers:
        g = groups.of_value[layer.output]
        if g is None or layer.kind not in ("conv2d", "linear"):
            continue
        w = mods[layer.conv or layer.linear or ""].weight.detach().double().numpy()
        l1 = np.abs(w.reshape(w.shape[0], -1)).sum(axis=1)
        bn = mods[layer.bn] if layer.bn else None
        if importance == "bn_gamma" and bn is not None and bn.weight is not None:
            scores[g] += np.abs(bn.weight.detach().double().numpy())
        elif bn is not None:
            scores[g] += l1 * np.abs(_bn_scale(bn))
        else:
            scores[g] += l1
    if isinstance(importance, Mapping):
        for g, s in importance.items():
            if not 0 <= int(g) < len(scores):
                raise ValueError(f"importance given for group {g}, but the model has {len(scores)}")
            arr = np.asarray(s, dtype=np.float64).reshape(-1)
            if arr.shape != scores[int(g)].shape:
                raise ValueError(
                    f"importance of group {g} has {arr.size} scores, expected {scores[int(g)].size}"
                )
            scores[int(g)] = arr
    return scores


def rank(scores: list[np.ndarray]) -> list[np.ndarray]:
    """Channel order of each group: descending score, ties by original index."""
    return [np.argsort(-s, kind="stable") for s in scores]
