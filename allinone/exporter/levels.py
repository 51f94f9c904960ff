"""Level specifications → per-group widths, FLOP counting, and latency-budget level design."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch

from allinone.exporter.groups import Groups, find_groups, is_depthwise
from allinone.exporter.ranking import Importance, channel_scores, rank
from allinone.exporter.trace import Graph, trace

if TYPE_CHECKING:
    from allinone.exporter.latency import LayerLatency

__all__ = ["LevelSpec", "budget_levels", "flops", "layer_macs", "resolve_levels"]

LevelSpec = float | Mapping[int, int] | Sequence[int]


def _round_width(ratio: float, full: int, round_to: int) -> int:
    w = max(1, int(math.floor(ratio * full + 0.5)))
    if round_to > 1 and w >= round_to:
        w = max(round_to, int(math.floor(w / round_to + 0.5)) * round_to)
    return min(w, full)


def resolve_levels(
    levels: Sequence[LevelSpec], full: Sequence[int], round_to: int = 1
) -> tuple[np.ndarray, list[float]]:
    """Turn level specs into ``widths[level][group]`` (uint32) and nominal keep ratios.

    Each spec is a keep ratio in (0, 1] (rounded per group, to a multiple of ``round_to`` when at
    least ``round_to``), a mapping ``{group: width}`` (other groups at full width) or a list of
    every group's width. Widths must be in [1, full] and non-increasing from level to level.
    """
    if round_to < 1:
        raise ValueError(f"round_to must be >= 1, got {round_to}")
    if len(levels) == 0:
        raise ValueError("at least one level is required")
    rows: list[list[int]] = []
    ratios: list[float] = []
    n = len(full)
    for i, spec in enumerate(levels):
        if isinstance(spec, (int, float)) and not isinstance(spec, bool):
            r = float(spec)
            if not 0.0 < r <= 1.0:
                raise ValueError(f"level {i}: keep ratio {r} is not in (0, 1]")
            rows.append([_round_width(r, f, round_to) for f in full])
            ratios.append(r)
            continue
        if isinstance(spec, Mapping):
            row = list(full)
            for g, w in spec.items():
                if not 0 <= int(g) < n:
                    raise ValueError(
                        f"level {i}: group {g} does not exist (the model has {n} groups)"
                    )
                row[int(g)] = int(w)
        elif isinstance(spec, Sequence) and not isinstance(spec, str):
            row = [int(w) for w in spec]
            if len(row) != n:
                raise ValueError(f"level {i}: {len(row)} widths given, the model has {n} groups")
        else:
            raise ValueError(
                f"level {i}: expected a keep ratio, a {{group: width}} dict or a list, got {spec!r}"
            )
        for g, (w, f) in enumerate(zip(row, full, strict=True)):
            if not 1 <= w <= f:
                raise ValueError(f"level {i}: width {w} of group {g} is not in [1, {f}]")
        rows.append(row)
        ratios.append(sum(row) / max(1, sum(full)))
    widths = np.array(rows, dtype=np.uint32).reshape(len(rows), n)
    for k in range(1, len(rows)):
        bad = np.nonzero(widths[k] > widths[k - 1])[0]
        if bad.size:
            g = int(bad[0])
            raise ValueError(
                f"levels must be nested (non-increasing widths, level 0 least pruned): group {g} "
                f"has width {widths[k - 1][g]} at level {k - 1} but {widths[k][g]} at level {k}"
            )
    return widths, ratios


def layer_macs(graph: Graph, groups: Groups, widths: Sequence[int]) -> dict[str, int]:
    """Multiply-accumulates of each conv and linear of ``graph`` (by layer name) at per-group
    ``widths``."""

    def width(v: int) -> int:
        return groups.width(v, widths, graph.shapes)

    out: dict[str, int] = {}
    for i, layer in enumerate(graph.layers):
        cin, cout = width(layer.inputs[0]), width(layer.output)
        _, h, w = graph.shapes[layer.output]
        if layer.kind == "conv2d":
            kh, kw = layer.kernel
            per_out = 1 if is_depthwise(graph, i) else cin // layer.groups
            out[layer.name] = h * w * cout * per_out * kh * kw
        elif layer.kind == "linear":
            _, hi, wi = graph.shapes[layer.inputs[0]]
            out[layer.name] = cout * cin * hi * wi
    return out


def flops(graph: Graph, groups: Groups, widths: Sequence[int]) -> int:
    """Multiply-accumulates of the convs and linears of ``graph`` at per-group ``widths``."""
    return sum(layer_macs(graph, groups, widths).values())


def budget_levels(
    model: torch.nn.Module,
    example_input: torch.Tensor,
    n_levels: int = 12,
    step: float = 0.9,
    importance: Importance = "l1",
    round_to: int = 1,
    min_keep: float = 0.25,
    latency: LayerLatency | None = None,
    ratios: Sequence[float] | None = None,
) -> list[list[int]]:
    """Design ``n_levels`` nested levels whose cost falls by a factor ``step`` per level, or,
    with ``ratios`` (1.0 first, decreasing), levels costing those fractions of level 0.

    The cost is FLOPs, or with ``latency`` (:func:`allinone.exporter.latency.measure_layer_latency`:
    a per-layer table measured by the runtime) the predicted latency: a layer that runs slowly
    per FLOP on the device is then worth more to shrink than its FLOPs say.

    Greedy: starting from full width, repeatedly shrink (by ``round_to`` channels) the group whose
    removed channels cost the least importance per unit of cost saved, until the level's cost
    target is met. The cost of a channel is its share of its
    group's importance, divided by the square of the fraction of the group still kept (thin
    groups are spared). No group falls below ``min_keep`` of its width.
    Returns per-group width lists, usable as ``levels=`` of :func:`allinone.exporter.export`.
    """
    if ratios is None:
        if not 0.0 < step < 1.0:
            raise ValueError(f"step must be in (0, 1), got {step}")
        ratios = [step**k for k in range(n_levels)]
    elif (
        not ratios
        or ratios[0] != 1.0
        or any(b >= a or b <= 0 for a, b in zip(ratios, ratios[1:], strict=False))
    ):
        raise ValueError(f"ratios must start at 1.0 and decrease, staying > 0; got {list(ratios)}")
    graph = trace(model, example_input)
    groups = find_groups(graph)
    scores = channel_scores(graph, groups, importance)
    # Importance share of each channel within its group, in storage order.
    norm = []
    for s, p in zip(scores, rank(scores), strict=True):
        srt = s[p]
        norm.append(srt / max(float(srt.sum()), 1e-12))
    floor = [min(f, max(round_to, math.ceil(min_keep * f))) for f in groups.full]
    cur = list(groups.full)

    def cost_of(widths: Sequence[int]) -> float:
        if latency is None:
            return float(flops(graph, groups, widths))
        return latency.predict_ms(layer_macs(graph, groups, widths))

    full_cost = cost_of(cur)
    now = full_cost
    out = [list(cur)]
    for k in range(1, len(ratios)):
        target = full_cost * ratios[k]
        while now > target:
            best: tuple[float, int, int, float] | None = None
            for g, w in enumerate(cur):
                nw = ((w - 1) // round_to) * round_to if w > round_to else w - 1
                if nw < floor[g]:
                    continue
                trial = list(cur)
                trial[g] = nw
                f = cost_of(trial)
                saved = now - f
                if saved <= 0:
                    continue
                # Share of the group's importance removed, weighted up as the group thins out.
                cost = float(norm[g][nw:w].sum()) * (groups.full[g] / w) ** 2 / saved
                if best is None or cost < best[0]:
                    best = (cost, g, nw, f)
            if best is None:
                break  # every group is at its floor
            _, g, nw, now = best
            cur[g] = nw
        out.append(list(cur))
    return out
