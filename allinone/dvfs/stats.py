"""Run statistics: time per level, latency percentiles, deadline misses."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class RunStats:
    """Accumulates (level, latency) per inference. Not locked: record from one thread."""

    target_ms: float
    levels: list[int] = field(default_factory=list)
    latency_ms: list[float] = field(default_factory=list)

    def record(self, level: int, latency_ms: float) -> None:
        """Adds one inference."""
        self.levels.append(int(level))
        self.latency_ms.append(float(latency_ms))

    def summary(self, flops: list[float] | None = None) -> dict[str, Any]:
        """p50/p90/p99/max/mean/std/cv, miss rate (latency > target), mean level, time and count
        per level and, given per-level FLOPs, mean FLOPs relative to level 0."""
        return summarize(self.levels, self.latency_ms, self.target_ms, flops)


def summarize(
    levels: list[int] | np.ndarray,
    latency_ms: list[float] | np.ndarray,
    target_ms: float,
    flops: list[float] | None = None,
) -> dict[str, Any]:
    """The statistics of :meth:`RunStats.summary` for given arrays."""
    lat = np.asarray(latency_ms, dtype=float)
    lv = np.asarray(levels, dtype=int)
    if lat.size == 0:
        return {"count": 0}
    mean = float(lat.mean())
    out: dict[str, Any] = {
        "count": int(lat.size),
        "p50_ms": float(np.percentile(lat, 50)),
        "p90_ms": float(np.percentile(lat, 90)),
        "p99_ms": float(np.percentile(lat, 99)),
        "max_ms": float(lat.max()),
        "mean_ms": mean,
        "std_ms": float(lat.std()),
        "cv": float(lat.std() / mean) if mean > 0 else 0.0,
        "miss_rate": float(np.mean(lat > target_ms)),
        "mean_level": float(lv.mean()),
        "time_per_level_ms": {int(k): float(lat[lv == k].sum()) for k in np.unique(lv)},
        "count_per_level": {int(k): int((lv == k).sum()) for k in np.unique(lv)},
        "switches": int(np.count_nonzero(np.diff(lv))) if lv.size > 1 else 0,
    }
    if flops:
        f = np.asarray(flops, dtype=float)
        out["mean_flops_ratio"] = float(f[lv].mean() / f[0])
    return out
