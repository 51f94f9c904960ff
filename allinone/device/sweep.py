"""Latency across clocks: pin each frequency, warm up, measure every level (p50, p99, CV, CPU time
and energy per inference), fit each level's α, restore the clock. ``allinone sweep`` drives it.

The frequency x level table it writes (``table_ms``, one row per clock) feeds the governor
(:func:`measured_table`): the governor interpolates between measured clocks and uses the α model
only outside them.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from allinone.device.clocks import pin_and_wait
from allinone.device.energy import EnergySource, LevelMeter
from allinone.dvfs._native import native
from allinone.dvfs.table import make_input
from allinone.progress import Progress

SWEEP_KIND = "allinone-sweep"
SWEEP_VERSION = 1


def fit_alpha(freqs_mhz: list[float], ms: list[float]) -> float | None:
    """α of t(f) = t(f_top)·(α·f_top/f + 1 − α), by least squares of t against 1/f (the model is
    t = a/f + b: α is the share a/f_top of the time at the top clock). None with fewer than two
    distinct clocks. Not clamped: a value outside [0, 1] says the model does not fit."""
    f = np.asarray(freqs_mhz, dtype=float)
    t = np.asarray(ms, dtype=float)
    if np.unique(f).size < 2:
        return None
    a, b = np.polyfit(1.0 / f, t, 1)
    top = float(f.max())
    at_top = a / top + b
    return float((a / top) / at_top) if at_top > 0 else None


def resolve_freqs(spec: str, available: list[float]) -> list[float]:
    """``all`` (every clock the driver offers) or ``MHZ,MHZ,...``; highest first."""
    if spec == "all":
        if not available:
            raise ValueError("--freqs all: the clock lists no frequencies; give --freqs MHZ,...")
        freqs = list(available)
    else:
        try:
            freqs = [float(v) for v in spec.split(",") if v.strip()]
        except ValueError:
            raise ValueError(f"--freqs {spec!r}: expected 'all' or MHZ,MHZ,...") from None
        if not freqs or any(f <= 0 for f in freqs):
            raise ValueError(f"--freqs {spec!r}: frequencies must be positive")
    return sorted(set(freqs), reverse=True)


def run_sweep(
    engine: Any,
    clock: Any,
    freqs_mhz: list[float],
    *,
    runs: int = 30,
    warmup_s: float = 2.0,
    emulate_alpha: float | None = None,
    energy: EnergySource | None = None,
    settle_timeout_s: float = 2.0,
    progress: bool = False,
) -> dict[str, Any]:
    """Measures every level at every clock in `freqs_mhz` (the clock must already be owned by a
    :class:`~allinone.device.clocks.PinSession`). `emulate_alpha`: after each run, busy-wait as
    the clock read back would slow it (the emulator; results EMULATED). Returns the JSON-ready
    result."""
    if runs < 3:
        raise ValueError("--runs must be at least 3")
    n = engine.num_levels
    x = make_input(engine, 1)
    emulator = native.Emulator(emulate_alpha, max(freqs_mhz)) if emulate_alpha is not None else None
    emulated = emulator is not None or clock.kind == "emulated"
    result: dict[str, Any] = {
        "kind": SWEEP_KIND,
        "version": SWEEP_VERSION,
        "emulated": emulated,
        "clock": clock.describe(),
        "method": clock.method,
        "read_back_file": clock.current_file(),
        "levels": n,
        "runs": runs,
        "freqs_mhz": [],
        "read_mhz": [],
        "settled": [],
        "table_ms": [],
        "p99_ms": [],
        "cv": [],
        "cpu_ms_per_inference": [],
        "joules_per_inference": [],
        "mean_watts": [],
        "energy_source": energy.describe() if energy is not None else "none",
    }
    bar = Progress(len(freqs_mhz) * runs, "sweep") if progress else None
    for i, f in enumerate(freqs_mhz):
        got, settled = pin_and_wait(clock, f, settle_timeout_s)
        if i == 0:
            w = engine.warmup(max_s=warmup_s, x=x)
            result["warmup"] = {
                "first_ms": w.first_ms,
                "warmup_s": w.warmup_s,
                "runs": w.runs,
                "median_ms": w.median_ms,
                "stable": w.stable,
                "at_mhz": f,
            }

        def timed(level: int, f_asked: float) -> float:
            # The emulated hardware runs at the clock read back, read before the run so that
            # reading it is not timed.
            now = (clock.current_mhz() or f_asked) if emulator is not None else f_asked
            t0 = time.perf_counter()
            engine.run_at(level, x)
            if emulator is not None:
                emulator.pad(time.perf_counter() - t0, now)
            return (time.perf_counter() - t0) * 1e3

        meter = LevelMeter(timed, energy)
        samples: list[list[float]] = [[] for _ in range(n)]
        # Levels interleaved round by round (as calibrate() does), so a burst of background load
        # inflates every level's cell a little instead of one cell a lot; each timed run follows
        # an untimed run of the same level, whose weights are then in the caches.
        for _ in range(runs):
            for level in range(n):
                if n > 1:
                    engine.run_at(level, x)
                samples[level].append(meter(level, f))
            if bar is not None:
                bar.update()
        per = meter.summary()
        lat = [np.asarray(s) for s in samples]
        rows: dict[str, list[Any]] = {
            "p50": [float(np.median(v)) for v in lat],
            "p99": [float(np.percentile(v, 99)) for v in lat],
            "cv": [float(v.std() / v.mean()) for v in lat],
            "cpu": [per[str(k)]["cpu_ms_per_inference"] for k in range(n)],
            "j": [per[str(k)]["joules_per_inference"] for k in range(n)],
            "w": [per[str(k)]["mean_watts"] for k in range(n)],
        }
        result["freqs_mhz"].append(f)
        result["read_mhz"].append(got)
        result["settled"].append(settled)
        result["table_ms"].append(rows["p50"])
        result["p99_ms"].append(rows["p99"])
        result["cv"].append(rows["cv"])
        result["cpu_ms_per_inference"].append(rows["cpu"])
        result["joules_per_inference"].append(rows["j"])
        result["mean_watts"].append(rows["w"])
    if bar is not None:
        bar.close()
    axis = table_axis(result)
    result["table_freqs_mhz"] = axis
    table = np.asarray(result["table_ms"])
    result["alpha"] = [fit_alpha(axis, table[:, k].tolist()) for k in range(n)]
    return result


def table_axis(result: dict[str, Any]) -> list[float]:
    """The clock of each row: read back where readable (the real clock, e.g. a firmware floor
    under a lower request), else the one asked for."""
    return [
        float(got) if got else float(f)
        for f, got in zip(result["freqs_mhz"], result["read_mhz"], strict=True)
    ]


def measured_table(result: dict[str, Any] | str | Path) -> Any:
    """A sweep result (or its JSON file) as the governor's MeasuredTable. Rows whose clocks read
    back equal (a firmware floor) are averaged: the governor needs distinct clocks."""
    if not isinstance(result, dict):
        result = load_sweep(result)
    rows: dict[float, list[list[float]]] = {}
    for f, row in zip(result["table_freqs_mhz"], result["table_ms"], strict=True):
        rows.setdefault(round(float(f), 3), []).append(row)
    freqs = sorted(rows)
    ms = [np.mean(np.asarray(rows[f]), axis=0).tolist() for f in freqs]
    return native.MeasuredTable(freqs, ms)


def load_sweep(path: str | Path) -> dict[str, Any]:
    """Reads a JSON written by ``allinone sweep``; ValueError for anything else."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: not a readable sweep JSON ({exc})") from exc
    if not isinstance(data, dict) or data.get("kind") != SWEEP_KIND:
        raise ValueError(f"{path}: not an `allinone sweep` result (kind {SWEEP_KIND!r})")
    if data.get("version") != SWEEP_VERSION:
        raise ValueError(f"{path}: sweep format version {data.get('version')}, expected 1")
    return data


def format_sweep(result: dict[str, Any]) -> str:
    """The table as text: one row per clock, p50 per level; α per level underneath."""
    tag = "EMULATED " if result["emulated"] else ""
    n = result["levels"]
    lines = [
        f"{tag}sweep: {result['clock']}, {n} levels, {result['runs']} runs per cell",
        f"{'MHz':>7s} {'read':>7s} " + " ".join(f"{'L' + str(k) + ' ms':>9s}" for k in range(n)),
    ]
    for i, f in enumerate(result["freqs_mhz"]):
        got = result["read_mhz"][i]
        mark = "" if result["settled"][i] else "*"
        read = f"{got:.0f}{mark}" if got else "?"
        cells = " ".join(f"{v:9.3f}" for v in result["table_ms"][i])
        lines.append(f"{f:7.0f} {read:>7s} {cells}")
    alphas = " ".join(f"{a:9.3f}" if a is not None else f"{'-':>9s}" for a in result["alpha"])
    lines.append(f"{'alpha':>15s} {alphas}")
    if not all(result["settled"]):
        lines.append("* the clock did not read back as asked; rows use the clock read back")
    j = result["joules_per_inference"]
    if any(v is not None for row in j for v in row):
        lines.append("joules per inference (" + result["energy_source"] + "):")
        for i, f in enumerate(result["freqs_mhz"]):
            lines.append(f"{f:7.0f}         " + " ".join(f"{v:9.4f}" for v in j[i]))
    else:
        lines.append(f"energy: {result['energy_source']}")
    cpu = result["cpu_ms_per_inference"]
    lines.append("CPU ms per inference (getrusage, all threads), top clock: " +
                 " ".join(f"{v:.3f}" for v in cpu[0]))  # fmt: skip
    if result["emulated"]:
        lines.append("EMULATED: latencies padded by busy-waiting; the clock was not set.")
    return "\n".join(lines)


def plot_sweep(result: dict[str, Any], path: str, title: str = "") -> None:
    """Latency against clock, one line per level (needs matplotlib)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise RuntimeError("--plot needs matplotlib, which is not installed") from exc
    f = np.asarray(result["table_freqs_mhz"])
    t = np.asarray(result["table_ms"])
    order = np.argsort(f)
    fig, ax = plt.subplots(figsize=(8, 5))
    for k in range(t.shape[1]):
        a = result["alpha"][k]
        label = f"level {k}" + (f" (α {a:.2f})" if a is not None else "")
        ax.plot(f[order], t[order, k], marker="o", lw=1, label=label)
    ax.set_xlabel("clock (MHz)")
    ax.set_ylabel("median latency (ms)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    tag = "EMULATED — " if result["emulated"] else ""
    ax.set_title(f"{tag}{title}".strip(" —"))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
