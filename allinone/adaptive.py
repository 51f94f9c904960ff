"""AdaptiveEngine: an Engine whose pruning level follows the clock so latency stays on target.

A background monitor thread polls a frequency source every ``poll_interval_s`` and lets the native
governor re-pick the level (the least-pruned level whose predicted tail latency meets the target);
each ``run`` feeds its measured latency back to the governor. ``run`` is ``next_level``, the
engine's ``run_at`` and ``record``, as in the C++ ``aio::dvfs::AdaptiveEngine``: one governor,
the same choices on the same clocks and latencies (tests/test_governor.py replays one sequence
through both).

    table = calibrate(engine, f_ref_mhz=source.max_mhz)
    with AdaptiveEngine(engine, table, source, on_level_change=print) as ae:
        y = ae.run(x)
    print(ae.stats.summary())
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from allinone.dvfs._native import native
from allinone.dvfs.sources import Source
from allinone.dvfs.stats import RunStats
from allinone.dvfs.table import LatencyTable

LevelCallback = Callable[[int, int, float], None]  # (old level, new level, clock MHz)


def governor_config(
    table: LatencyTable,
    *,
    target_ms: float | None = None,
    alpha: float | None = None,
    up_margin: float | None = None,
    guard_quantile: float | None = None,
    guard_window: int | None = None,
    guard_deadband: float | None = None,
    miss_z: float | None = None,
) -> Any:
    """The ``GovernorConfig`` for ``table``: its alpha and spread prior, the native defaults
    (csrc/dvfs/governor.h) for every tuning argument left None. The AdaptiveEngine and the
    benchmark (:mod:`allinone.dvfs.bench`) both build their governor with this, and hand it the
    table's p99s as tails."""
    cfg = native.GovernorConfig()
    cfg.target_ms = target_ms or 0.0
    cfg.alpha = table.alpha if alpha is None else alpha
    cfg.initial_spread = table.spread_prior()
    for name, value in (
        ("up_margin", up_margin),
        ("guard_quantile", guard_quantile),
        ("guard_window", guard_window),
        ("guard_deadband", guard_deadband),
        ("miss_z", miss_z),
    ):
        if value is not None:
            setattr(cfg, name, value)
    return cfg


class AdaptiveEngine:
    """Wraps an engine (``run_at``, ``set_level``, ``num_levels``) with a governor.

    Args:
        engine: an ``allinone.Engine`` (or anything with the same methods).
        table: the engine's calibrated latency table (:func:`allinone.dvfs.calibrate`), or a
            frequency x level table from ``allinone sweep`` (``LatencyTable.from_sweep``).
        source: where the clock comes from (:func:`allinone.dvfs.detect_source`, a replay ...).
        target_ms: latency target; None: 1.05 × level 0's table latency.
        alpha: compute-bound share in t(f) = t(f_ref)·(α·f_ref/f + 1 − α); None: the table's.
        poll_interval_s: how often the monitor thread samples the clock.
        on_level_change: called as (old, new, mhz) on the monitor thread after each switch.
        emulate: when True, each run busy-waits as if executed at the source's clock (for
            replayed traces on machines without DVFS); results are then EMULATED.
        up_margin, guard_quantile, guard_window, guard_deadband, miss_z: governor tuning
            (:func:`governor_config`; csrc/dvfs/governor.h explains each).
    """

    def __init__(
        self,
        engine: Any,
        table: LatencyTable,
        source: Source,
        *,
        target_ms: float | None = None,
        alpha: float | None = None,
        poll_interval_s: float = 0.01,
        on_level_change: LevelCallback | None = None,
        emulate: bool = False,
        up_margin: float | None = None,
        guard_quantile: float | None = None,
        guard_window: int | None = None,
        guard_deadband: float | None = None,
        miss_z: float | None = None,
    ) -> None:
        if len(table.level_ms) != engine.num_levels:
            raise ValueError(
                f"latency table has {len(table.level_ms)} levels, engine has {engine.num_levels}"
            )
        if poll_interval_s <= 0:
            raise ValueError("poll_interval_s must be positive")
        cfg = governor_config(
            table,
            target_ms=target_ms,
            alpha=alpha,
            up_margin=up_margin,
            guard_quantile=guard_quantile,
            guard_window=guard_window,
            guard_deadband=guard_deadband,
            miss_z=miss_z,
        )
        self.engine = engine
        self.source = source
        self.governor = table.governor(cfg)  # a swept frequency x level table where present
        self.poll_interval_s = poll_interval_s
        self.on_level_change = on_level_change
        self.emulator = native.Emulator(cfg.alpha, table.f_ref_mhz) if emulate else None
        self.stats = RunStats(self.governor.target_ms)
        self._mhz = self._sample()
        self._run_mhz = self._mhz
        self._apply(self.governor.update(self._mhz), 0)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.error: Exception | None = None  # set if the monitor thread died

    @property
    def emulated(self) -> bool:
        """True when latencies are emulated (busy-waiting) or the clock is not this machine's."""
        return self.emulator is not None or bool(getattr(self.source, "emulated", False))

    @property
    def level(self) -> int:
        """The level the next run will use."""
        return int(self.governor.level)

    @property
    def target_ms(self) -> float:
        """The latency target in ms."""
        return float(self.governor.target_ms)

    @target_ms.setter
    def target_ms(self, value: float | None) -> None:
        self.governor.target_ms = value or 0.0
        self.stats.target_ms = self.governor.target_ms

    @property
    def mhz(self) -> float:
        """The clock last sampled."""
        return self._mhz

    def _sample(self) -> float:
        r = self.source.read()
        return float(r.cpu_mhz or r.gpu_mhz)

    def _apply(self, new: int, old: int) -> None:
        self.engine.set_level(new)
        if new != old and self.on_level_change is not None:
            self.on_level_change(old, new, self._mhz)

    def poll(self) -> int:
        """Samples the clock once and lets the governor re-pick; returns the level."""
        old = int(self.governor.level)
        self._mhz = self._sample()
        new = int(self.governor.update(self._mhz))
        if new != old:
            self._apply(new, old)
        return new

    def _monitor(self) -> None:
        while not self._stop.wait(self.poll_interval_s):
            try:
                self.poll()
            except Exception as exc:  # surfaced through .error and the next run()
                self.error = exc
                return

    def start(self) -> AdaptiveEngine:
        """Starts the monitor thread (idempotent)."""
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._monitor, name="aio-dvfs", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stops and joins the monitor thread."""
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self._thread = None

    def __enter__(self) -> AdaptiveEngine:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def next_level(self) -> int:
        """The level the next run uses: without a monitor thread, samples the clock and lets the
        governor re-pick first; with one, the monitor's last choice."""
        if self.error is not None:
            raise RuntimeError(f"frequency monitor stopped: {self.error}") from self.error
        if self._thread is None:
            self.poll()
        self._run_mhz = self._mhz
        return int(self.governor.level)

    def record(self, level: int, ms: float) -> None:
        """Feeds back one measured per-inference latency of ``level``, run at the clock
        :meth:`next_level` saw."""
        if self._run_mhz > 0:
            self.governor.observe(level, self._run_mhz, ms)
        self.stats.record(level, ms)

    def run(self, x: np.ndarray) -> np.ndarray:
        """Runs x at the governor's level (:meth:`next_level`, ``run_at``, :meth:`record`)."""
        level = self.next_level()
        t0 = time.perf_counter()
        out = self.engine.run_at(level, x)
        if self.emulator is not None:
            # The clock at this moment, not the monitor's possibly stale sample: the emulated
            # hardware runs at the true clock whatever the governor believes.
            self.emulator.pad(time.perf_counter() - t0, self._sample())
        self.record(level, (time.perf_counter() - t0) * 1e3)
        return out
