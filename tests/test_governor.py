"""The governor (native) and AdaptiveEngine on synthetic tables and a fake engine: level choice,
hysteresis, feedback, the noise guard, callbacks, statistics. No timing assertions."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import pytest

from allinone.adaptive import AdaptiveEngine
from allinone.dvfs import FixedSource, Governor, GovernorConfig, LatencyTable, ReplaySource
from allinone.dvfs._native import native
from allinone.dvfs.bench import WAYS, ModelRunner, run_ways

TABLE = [10.0, 8.0, 6.4, 5.12]  # each level 20 % faster


def trace_points(rows: list[tuple[float, float]]) -> list[Any]:
    return [native.TracePoint(t, f) for t, f in rows]


def config(**kw: float) -> GovernorConfig:
    cfg = GovernorConfig()
    cfg.alpha = 1.0  # exact arithmetic: t(f) = t(f_ref)·f_ref/f
    cfg.miss_z = 0.0  # both noise guards off unless a test turns one on
    cfg.guard_quantile = 0.0
    for k, v in kw.items():
        setattr(cfg, k, v)
    return cfg


@pytest.mark.parametrize(
    ("mhz", "expected"),
    [(2000, 0), (1920, 0), (1900, 1), (1600, 1), (1300, 2), (1000, 3), (400, 3)],
)
def test_picks_least_pruned_level_meeting_target(mhz: float, expected: int) -> None:
    g = Governor(TABLE, 2000, config())
    assert g.target_ms == pytest.approx(10.5)  # default: 1.05 × level 0 at f_ref
    assert g.update(mhz) == expected


def test_alpha_model_and_custom_target() -> None:
    g = Governor(TABLE, 2000, config(alpha=0.5, target_ms=12.0))
    assert g.scale(1000) == pytest.approx(0.5 * 2 + 0.5)
    assert g.predict_ms(0, 1000) == pytest.approx(15.0)
    assert g.update(1000) == 1  # 8 × 1.5 = 12 ≤ 12
    g.target_ms = 0  # back to the default
    assert g.target_ms == pytest.approx(10.5)


def test_hysteresis_stops_flapping() -> None:
    # Level 0 fits below ~1905 MHz only without the band: the clock dithers around there.
    dither = [1890 if i % 2 else 1920 for i in range(200)]
    loose = Governor(TABLE, 2000, config(up_margin=0.0))
    loose.level = 1
    for f in dither:
        loose.update(f)
    tight = Governor(TABLE, 2000, config(up_margin=0.05))
    tight.level = 1
    for f in dither:
        tight.update(f)
    assert loose.switches > 100  # without hysteresis it flips every sample
    assert tight.switches <= 1


def test_feedback_corrects_a_wrong_table() -> None:
    g = Governor(TABLE, 2000, config())
    true_ms = [2 * t for t in TABLE]  # the table is 2× optimistic
    for _ in range(200):
        k = g.update(2000)
        g.observe(k, 2000, true_ms[k])
    assert g.feedback == pytest.approx(2.0, rel=0.01)
    assert g.level == 3  # the only level whose true latency (10.24) meets 10.5
    # And back: a pessimistic table is corrected the other way.
    h = Governor([2 * t for t in TABLE], 2000, config(target_ms=10.5))
    assert h.update(2000) == 3
    for _ in range(200):
        k = h.update(2000)
        h.observe(k, 2000, TABLE[k])
    assert h.level == 0


def test_noise_guard_leaves_room_for_spread() -> None:
    rng = np.random.default_rng(0)
    g = Governor([10.0, 9.0, 8.1], 2000, config(target_ms=10.2, miss_z=1.5))
    for _ in range(300):
        k = g.update(2000)
        g.observe(k, 2000, g.table_ms[k] * float(np.exp(rng.normal(0, 0.03))))
    assert 0.02 < g.spread < 0.04
    assert g.level == 1  # level 0 meets 10.2 only at its median; 9·(1+1.5·0.03) does with margin


def test_quantile_guard_covers_a_heavy_tail() -> None:
    # 90 % of runs on the table, 10 % slowed by 15-25 %: σ is large enough to matter but the
    # σ guard at z = 1.5 (≈ 1 + 1.5·0.06) does not cover the tail; the 0.99-quantile guard does.
    rng = np.random.default_rng(1)
    table = [10.0 * 0.9**k for k in range(6)]

    def slow() -> float:
        return 1.0 + (rng.uniform(0.15, 0.25) if rng.random() < 0.1 else 0.0)

    def run(**kw: float) -> tuple[float, float]:
        g = Governor(table, 2000, config(target_ms=10.5, **kw))
        misses, levels = 0, []
        for i in range(2000):
            k = g.update(2000)
            ms = table[k] * slow()
            g.observe(k, 2000, ms)
            if i >= 500:
                misses += ms > 10.5
                levels.append(k)
        return misses / 1500, float(np.mean(levels))

    sigma_miss, sigma_level = run(miss_z=1.5)
    q_miss, q_level = run(guard_quantile=0.99, guard_window=128)
    assert q_miss <= 0.01 < sigma_miss
    assert q_level > sigma_level  # the cover costs pruning, as it must ...
    assert q_level < 3.5  # ... but no more than the tail needs: level 3 is 27 % under target


def test_quantile_guard_waits_for_samples_and_resets() -> None:
    g = Governor(TABLE, 2000, config(target_ms=10.5, guard_quantile=0.99, guard_window=16))
    for _ in range(3):  # fewer than guard_window/4 deviations: no guard yet
        g.observe(0, 2000, 13.0)
    assert g.update(2000) == 0 or g.feedback > 1.0  # only feedback moved the choice
    h = Governor(TABLE, 2000, config(target_ms=10.5, guard_quantile=0.99, guard_window=16))
    for i in range(16):  # one run in four 25 % slow; feedback settles near 1.06
        h.observe(0, 2000, 12.5 if i % 4 == 0 else 10.0)
    assert h.update(2000) >= 1  # the quantile of those deviations does not fit level 0
    h.reset_feedback()
    assert h.update(2000) == 0  # the window is emptied with the feedback
    with pytest.raises(ValueError, match="guard_quantile"):
        Governor(TABLE, 2000, config(guard_quantile=1.0))
    with pytest.raises(ValueError, match="guard_window"):
        Governor(TABLE, 2000, config(guard_quantile=0.5, guard_window=2))


def test_invalid_governor_arguments() -> None:
    with pytest.raises(ValueError):
        Governor([], 2000)
    with pytest.raises(ValueError):
        Governor([1.0, -1.0], 2000)
    with pytest.raises(ValueError):
        Governor([1.0], 0)
    g = Governor(TABLE, 2000)
    with pytest.raises(IndexError):
        g.level = 4


class FakeEngine:
    """Engine stand-in: records levels; output is the level as an array."""

    def __init__(self, n: int) -> None:
        self.num_levels = n
        self.level = 0
        self.input_shape = (1, 4, 4)
        self.ran: list[int] = []

    def set_level(self, k: int) -> None:
        self.level = k

    def run_at(self, k: int, x: np.ndarray) -> np.ndarray:
        self.ran.append(k)
        return np.full((x.shape[0], 1), k, dtype=np.float32)


def test_adaptive_engine_follows_the_clock_and_calls_back() -> None:
    engine = FakeEngine(4)
    src = ReplaySource(trace_points([(0.0, 2000), (1.0, 1000), (2.0, 2000)]), "test")
    changes: list[tuple[int, int, float]] = []
    ae = AdaptiveEngine(
        engine,
        LatencyTable(TABLE, 2000, alpha=1.0),
        src,
        on_level_change=lambda a, b, f: changes.append((a, b, f)),
        miss_z=0.0,
    )
    x = np.zeros((1, 1, 4, 4), dtype=np.float32)
    for t, want in [(0.5, 0), (1.5, 3), (2.5, 0)]:
        src.set_time(t)
        out = ae.run(x)  # no monitor thread: run() polls
        assert int(out[0, 0]) == want
        assert engine.level == want
    assert changes == [(0, 3, 1000.0), (3, 0, 2000.0)]
    s = ae.stats.summary()
    assert s["count"] == 3 and s["count_per_level"] == {0: 2, 3: 1}
    assert ae.emulated  # the clock came from a replayed trace


def test_adaptive_engine_monitor_thread_picks_up_the_clock() -> None:
    engine = FakeEngine(4)
    src = ReplaySource(trace_points([(0.0, 2000), (1.0, 1000)]), "test")
    src.set_time(0.0)
    changed = threading.Event()
    ae = AdaptiveEngine(
        engine,
        LatencyTable(TABLE, 2000, alpha=1.0),
        src,
        poll_interval_s=0.001,
        on_level_change=lambda old, new, mhz: changed.set(),
        miss_z=0.0,
    )
    assert ae.level == 0
    with ae:
        src.set_time(1.5)  # the clock halves; only the monitor thread can notice (no run())
        assert changed.wait(timeout=10.0)  # generous: this checks behaviour, not speed
        assert ae.level == 3 and engine.level == 3
    assert ae._thread is None  # stopped and joined on exit
    with pytest.raises(ValueError, match="levels"):
        AdaptiveEngine(FakeEngine(3), LatencyTable(TABLE, 2000), FixedSource(2000))


def test_adaptive_engine_reports_a_dead_source() -> None:
    class Broken:
        name, max_mhz, emulated = "broken", 2000.0, False
        calls = 0

        def describe(self) -> str:
            return "broken"

        def read(self) -> Any:
            Broken.calls += 1
            if Broken.calls > 1:
                raise OSError("sensor gone")
            return FixedSource(2000).read()

    ae = AdaptiveEngine(FakeEngine(4), LatencyTable(TABLE, 2000), Broken())
    with pytest.raises(OSError, match="sensor gone"):
        ae.run(np.zeros((1, 1, 4, 4), dtype=np.float32))


def test_stats_percentiles_and_misses() -> None:
    from allinone.dvfs import RunStats

    st = RunStats(target_ms=10.0)
    for k, ms in [(0, 9.0), (0, 11.0), (1, 8.0), (1, 12.0)]:
        st.record(k, ms)
    s = st.summary(flops=[100.0, 50.0])
    assert s["miss_rate"] == 0.5
    assert s["mean_level"] == 0.5
    assert s["mean_flops_ratio"] == pytest.approx(0.75)
    assert s["time_per_level_ms"] == {0: 20.0, 1: 20.0}
    assert s["p50_ms"] == pytest.approx(10.0)
    assert s["switches"] == 1


def test_four_ways_on_a_synthetic_trace() -> None:
    table = [10.0 * 0.9**k for k in range(12)]
    t = np.arange(0, 4.0, 0.01)
    trace = {"t_s": t, "cpu_mhz": np.where((t > 1) & (t < 3), 1000.0, 2000.0)}
    r = run_ways(
        ModelRunner(table, 0.85, 2000.0),
        LatencyTable(table, 2000.0),
        trace,
        flops=[0.9**k for k in range(12)],
        steps=400,
    )
    assert r["emulated"] is True and r["levels"] == 12
    for way in WAYS:
        assert set(r[way]) >= {"p50_ms", "p99_ms", "mean_ms", "cv", "miss_rate", "mean_level"}
    assert r["fixed_first"]["miss_rate"] > 0.3  # level 0 at half clock misses
    assert r["fixed_last"]["mean_level"] == 11
    assert r["adaptive"]["miss_rate"] == 0.0  # noise-free: the model is exact
    assert r["adaptive"]["mean_flops_ratio"] >= 0.95 * r["oracle"]["mean_flops_ratio"]
    assert r["adaptive"]["cv"] < r["fixed_first"]["cv"] / 3


def test_oracle_p99_misses_rarely_where_the_median_oracle_does_not() -> None:
    # 12 levels 10 % apart, 5 % lognormal jitter: at the top clock the median oracle keeps level 0
    # (10 ms against a 10.5 ms target) and misses whenever a run is 5 % slow (~16 %); choosing by
    # p99 (~1.12 x median) leaves level 0 and misses about 1 run in 1000.
    true_ms = [10.0 * 0.9**k for k in range(12)]
    p99 = [t * float(np.exp(2.326 * 0.05)) for t in true_ms]
    t = np.arange(0, 4.0, 0.01)
    trace = {"t_s": t, "cpu_mhz": np.where((t > 1) & (t < 3), 1400.0, 2000.0)}
    r = run_ways(
        ModelRunner(true_ms, 0.85, 2000.0, noise=0.05, seed=3),
        LatencyTable(true_ms, 2000.0, p99_ms=p99),
        trace,
        flops=[0.9**k for k in range(12)],
        steps=1000,
        ways=("oracle", "oracle_p99"),
    )
    assert r["oracle"]["miss_rate"] > 0.05
    assert r["oracle_p99"]["miss_rate"] < 0.02
    assert r["oracle_p99"]["mean_level"] > r["oracle"]["mean_level"]
    # Without p99s in the table there is no p99 reference to run.
    r = run_ways(
        ModelRunner(true_ms, 0.85, 2000.0),
        LatencyTable(true_ms, 2000.0),
        trace,
        flops=[0.9**k for k in range(12)],
        steps=50,
    )
    assert "oracle_p99" not in r and "oracle" in r


def test_calibrate_records_p99_and_checks_gap() -> None:
    from allinone.dvfs.table import calibrate

    engine = FakeEngine(3)
    table = calibrate(engine, 2000.0, runs=10, warmup=1, gap=0.5)
    assert len(table.level_ms) == len(table.p90_ms) == len(table.p99_ms) == 3
    assert all(p >= m for p, m in zip(table.p99_ms, table.level_ms, strict=True))
    assert engine.ran.count(2) == 21  # warm-up, then an untimed and a timed run per round
    with pytest.raises(ValueError, match="gap"):
        calibrate(engine, 2000.0, gap=-1.0)
