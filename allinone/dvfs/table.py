"""Per-level latency tables: calibrated on the device, saved and loaded as JSON."""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from allinone.dvfs._native import native

TABLE_VERSION = 1


@dataclass
class LatencyTable:
    """Each level's median (and p90, p99) latency in ms, measured at clock ``f_ref_mhz``.

    ``emulated`` is True when ``f_ref_mhz`` is not this machine's measured clock but the top of a
    replayed trace that the machine's fixed speed stands in for. ``batch``: images per timed run."""

    level_ms: list[float]
    f_ref_mhz: float
    p90_ms: list[float] = field(default_factory=list)
    # The benchmark's oracle_p99 reference chooses by these (a level "meets" a target when it does
    # 99 % of the time). Empty in tables written before they were recorded: no such reference then.
    p99_ms: list[float] = field(default_factory=list)
    alpha: float = 0.85
    model: str = ""
    source: str = ""
    emulated: bool = False
    batch: int = 1
    # A frequency x level table measured by `allinone sweep` (freq_level_ms[i][k]: level k at
    # freqs_mhz[i]); empty when only level_ms at f_ref_mhz is known. With it the governor
    # interpolates between measured clocks and uses the alpha model only outside them.
    freqs_mhz: list[float] = field(default_factory=list)
    freq_level_ms: list[list[float]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.level_ms or any(not (t > 0) for t in self.level_ms):
            raise ValueError("LatencyTable: level_ms must be a non-empty list of positive numbers")
        if not self.f_ref_mhz > 0:
            raise ValueError("LatencyTable: f_ref_mhz must be positive")
        for name in ("p90_ms", "p99_ms"):
            if getattr(self, name) and len(getattr(self, name)) != len(self.level_ms):
                raise ValueError(f"LatencyTable: {name} must have one entry per level (or none)")
        if not (isinstance(self.batch, int) and self.batch >= 1):
            raise ValueError("LatencyTable: batch must be a positive integer")
        if len(self.freqs_mhz) != len(self.freq_level_ms) or any(
            len(row) != len(self.level_ms) for row in self.freq_level_ms
        ):
            raise ValueError(
                "LatencyTable: freq_level_ms needs one row per entry of freqs_mhz, one entry "
                "per level"
            )

    @classmethod
    def from_sweep(cls, result: dict[str, Any] | str | Path) -> LatencyTable:
        """The table of an ``allinone sweep`` result (or its JSON file): level_ms and p99_ms at
        the highest clock measured, every row for the governor, alpha = the median of the
        levels' fitted alphas (used outside the measured range only)."""
        from allinone.device.sweep import load_sweep, measured_table

        data = result if isinstance(result, dict) else load_sweep(result)
        measured = measured_table(data)
        top = int(np.argmax(data["table_freqs_mhz"]))
        alphas = [a for a in data["alpha"] if a is not None and 0.0 <= a <= 1.0]
        return cls(
            level_ms=list(measured.ms[-1]),
            f_ref_mhz=float(measured.freqs_mhz[-1]),
            p99_ms=list(data["p99_ms"][top]),
            alpha=float(np.median(alphas)) if alphas else 0.85,
            model=str(data.get("model", "")),
            source=f"sweep: {data.get('clock', '')}",
            emulated=bool(data["emulated"]),
            freqs_mhz=list(measured.freqs_mhz),
            freq_level_ms=[list(r) for r in measured.ms],
        )

    def governor(self, cfg: Any) -> Any:
        """The native Governor for this table: the measured rows where there are any, and each
        level's calibrated p99 (its tail) where recorded."""
        if self.freqs_mhz:
            measured = native.MeasuredTable(self.freqs_mhz, self.freq_level_ms)
            return native.Governor(measured, cfg, self.p99_ms)
        return native.Governor(self.level_ms, self.f_ref_mhz, cfg, self.p99_ms)

    def spread_prior(self) -> float:
        """Relative latency spread σ implied by the calibration (p90 = median·(1 + 1.28σ) for
        Gaussian noise), the governor's starting noise estimate; 0.02 without p90s."""
        if len(self.p90_ms) != len(self.level_ms):
            return 0.02
        ratios = [p / m - 1.0 for p, m in zip(self.p90_ms, self.level_ms, strict=True)]
        return float(np.clip(np.median(ratios) / 1.28, 0.005, 0.2))

    def save(self, path: str | Path) -> None:
        """Writes the table as JSON (with a format version)."""
        Path(path).write_text(json.dumps({"version": TABLE_VERSION, **asdict(self)}, indent=2))

    @classmethod
    def load(cls, path: str | Path) -> LatencyTable:
        """Reads a table written by :meth:`save`; raises ValueError on another format/version."""
        try:
            data: dict[str, Any] = json.loads(Path(path).read_text())
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}: not a latency table (bad JSON: {exc})") from exc
        if not isinstance(data, dict) or data.pop("version", None) != TABLE_VERSION:
            raise ValueError(f"{path}: not a version-{TABLE_VERSION} latency table")
        try:
            return cls(**data)
        except TypeError as exc:
            raise ValueError(f"{path}: bad latency table fields: {exc}") from exc


def make_input(engine: Any, batch: int = 1, seed: int = 0) -> np.ndarray:
    """A random float32 NCHW input matching ``engine.input_shape`` ((C,H,W) or an object with
    c, h, w)."""
    shape = engine.input_shape
    chw = (shape.c, shape.h, shape.w) if hasattr(shape, "c") else tuple(shape)[-3:]
    return np.random.default_rng(seed).standard_normal((batch, *chw), dtype=np.float32)


def timed_run(engine: Any, level: int, x: np.ndarray, gap: float = 0.0) -> float:
    """Runs ``level`` once and returns its seconds; then busy-waits ``gap`` times that long (the
    padding an emulated run at a lower clock gets, see `calibrate`)."""
    t0 = time.perf_counter()
    engine.run_at(level, x)
    elapsed = time.perf_counter() - t0
    if gap > 0:
        native.busy_wait(gap * elapsed)
    return elapsed


def calibrate(
    engine: Any,
    f_ref_mhz: float,
    *,
    runs: int = 20,
    warmup: int = 3,
    alpha: float = 0.85,
    source: str = "",
    emulated: bool = False,
    batch: int = 1,
    gap: float = 0.0,
) -> LatencyTable:
    """Times every level with ``engine.run_at`` on ``batch`` images and returns medians, p90s
    and p99s (give ``runs`` >= 100 for a p99 that means something).

    Run it with the clock at ``f_ref_mhz`` (the top operating point, e.g. performance governor);
    warm-up runs are discarded so caches, page faults and thread start-up do not count.
    ``gap``: after each timed run, busy-wait ``gap`` times its duration. A run that follows a
    busy-wait is slower than one in a back-to-back loop (2-8 % at the median here); emulated
    runs are all followed by padding, so a table for them is measured with gap 1 (the padding
    of a run at about 0.46 x f_max with alpha 0.85)."""
    if gap < 0:
        raise ValueError(f"calibrate: gap must be >= 0, got {gap}")
    x = make_input(engine, batch)
    n = engine.num_levels
    for level in range(n):
        for _ in range(warmup):
            engine.run_at(level, x)
    # Levels interleaved round by round, so a burst of background load inflates every level's
    # samples a little instead of one level's a lot (the governor relies on their ratios).
    # Each timed run follows an untimed run of the same level: a level right after another one
    # finds the caches holding the other's weights (MobileNetV2's smallest level is ~20 % slower
    # then), while a governor stays on a level for many runs.
    samples: list[list[float]] = [[] for _ in range(n)]
    for _ in range(runs):
        for level in range(n):
            if n > 1:
                timed_run(engine, level, x, gap)
            samples[level].append(timed_run(engine, level, x, gap) * 1e3)
    med = [float(np.median(s)) for s in samples]
    p90 = [float(np.percentile(s, 90)) for s in samples]
    p99 = [float(np.percentile(s, 99)) for s in samples]
    return LatencyTable(
        level_ms=med,
        f_ref_mhz=f_ref_mhz,
        p90_ms=p90,
        p99_ms=p99,
        alpha=alpha,
        model=str(getattr(engine, "name", "")),
        source=source,
        emulated=emulated,
        batch=batch,
    )
