"""Live adaptive runs against the real clock: ``allinone bench MODEL --live``.

Adaptive and fixed level 0 run in alternating short blocks for ``duration_s`` seconds, so both
see the same stretch of clock behaviour (a block of each every few hundred milliseconds) and
nothing is emulated. Every run logs the clock read just before it, the level and the latency;
the result has the same per-way statistics as the trace bench (:func:`allinone.dvfs.bench.
format_table` prints it), and the clock seen can be saved as a trace CSV that ``--trace``
replays later.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from allinone.dvfs._native import native
from allinone.dvfs.bench import STAT_KEYS
from allinone.dvfs.stats import summarize
from allinone.dvfs.table import LatencyTable, make_input

LIVE_WAYS = ("fixed_first", "adaptive")


class LiveRunner:
    """Runs the engine at `level` and returns its wall time in ms; nothing emulated (the clock
    argument is only logged by the caller)."""

    emulated = False

    def __init__(self, engine: Any, batch: int = 1) -> None:
        self.engine = engine
        self.x = make_input(engine, batch)

    def __call__(self, level: int, f_mhz: float) -> float:
        t0 = time.perf_counter()
        self.engine.run_at(level, self.x)
        return (time.perf_counter() - t0) * 1e3


def _mhz(source: Any) -> float:
    r = source.read()
    return float(r.cpu_mhz or r.gpu_mhz)


def run_live(
    runner: Any,
    table: LatencyTable,
    source: Any,
    *,
    duration_s: float,
    flops: list[float],
    block: int = 20,
    alpha: float | None = None,
    target_ms: float | None = None,
) -> dict[str, Any]:
    """Alternates `block` adaptive runs and `block` runs at level 0 until `duration_s` has
    passed; `runner(level, mhz) -> ms` runs one inference (:class:`LiveRunner`). Returns the
    JSON-ready result with a per-run log under ``series``."""
    if duration_s <= 0 or block < 1:
        raise ValueError("duration must be positive and block at least 1")
    cfg = native.GovernorConfig()
    cfg.alpha = table.alpha if alpha is None else alpha
    cfg.initial_spread = table.spread_prior()
    cfg.target_ms = target_ms or 0.0
    gov = table.governor(cfg)
    target = float(gov.target_ms)
    log: dict[str, dict[str, list[float]]] = {
        w: {"t_s": [], "mhz": [], "level": [], "latency_ms": []} for w in LIVE_WAYS
    }
    clock: list[tuple[float, float]] = []
    t_start = time.perf_counter()
    while time.perf_counter() - t_start < duration_s:
        for way in LIVE_WAYS:
            for _ in range(block):
                t = time.perf_counter() - t_start
                f = _mhz(source)
                clock.append((t, f))
                k = int(gov.update(f)) if way == "adaptive" else 0
                ms = float(runner(k, f))
                if way == "adaptive":
                    gov.observe(k, f, ms)
                rec = log[way]
                rec["t_s"].append(t)
                rec["mhz"].append(f)
                rec["level"].append(k)
                rec["latency_ms"].append(ms)
    result: dict[str, Any] = {
        "live": True,
        "emulated": bool(getattr(source, "emulated", False) or runner.emulated),
        "source": source.describe(),
        "target_ms": target,
        "alpha": cfg.alpha,
        "levels": len(table.level_ms),
        "steps": len(log["adaptive"]["t_s"]),
        "duration_s": time.perf_counter() - t_start,
        "block": block,
        "table": "measured frequency x level" if table.freqs_mhz else "one clock, alpha model",
        "series": log,
    }
    for way in LIVE_WAYS:
        stats = summarize(log[way]["level"], log[way]["latency_ms"], target, flops)
        result[way] = {key: stats[key] for key in STAT_KEYS}
        result[way]["switches"] = stats["switches"]
        mhz = np.asarray(log[way]["mhz"])
        result[way]["clock_mhz"] = {"min": float(mhz.min()), "max": float(mhz.max())}
    result["clock_samples"] = clock
    return result


def save_trace(result: dict[str, Any], path: str | Path) -> int:
    """Writes the clock seen as a trace CSV (``t_s,cpu_mhz``), one row per change; returns the
    rows written. ``allinone bench --trace PATH`` replays it."""
    rows = []
    for t, f in result["clock_samples"]:
        if not rows or rows[-1][1] != f:
            rows.append((t, f))
    if not rows:
        raise ValueError("no clock samples to save")
    # A trace starts at t = 0, and its last row marks its end.
    t0 = rows[0][0]
    end = result["clock_samples"][-1][0]
    lines = ["t_s,cpu_mhz"] + [f"{t - t0:.4f},{f:.1f}" for t, f in rows]
    if end - t0 > rows[-1][0] - t0:
        lines.append(f"{end - t0:.4f},{rows[-1][1]:.1f}")
    Path(path).write_text("\n".join(lines) + "\n")
    return len(lines) - 1
