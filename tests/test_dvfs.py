"""Frequency sources on fake sysfs trees, the replay source, auto-detection, shipped traces, latency
tables and the `monitor` CLI. Nothing here needs cpufreq, a GPU or a trained model."""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from allinone.dvfs import (
    CpufreqSource,
    DevfreqSource,
    Emulator,
    LatencyTable,
    PsutilSource,
    ReplaySource,
    Unavailable,
    detect_source,
    list_traces,
    load_trace,
    open_source,
    trace_path,
)
from allinone.dvfs.bench import ModelRunner, format_table, run_ways

SHARED_TRACES = Path(__file__).resolve().parents[2] / "shared" / "traces"


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


@pytest.fixture
def big_little(tmp_path: Path) -> Path:
    """A fake /sys with two cpufreq policies (little 0-3, big 4-7) and a Jetson-style GPU."""
    cf = tmp_path / "devices/system/cpu/cpufreq"
    write(cf / "policy0/related_cpus", "0 1 2 3\n")
    write(cf / "policy0/cpuinfo_max_freq", "1800000\n")
    write(cf / "policy0/scaling_cur_freq", "900000\n")
    write(cf / "policy4/related_cpus", "4-7\n")
    write(cf / "policy4/cpuinfo_max_freq", "2400000\n")
    write(cf / "policy4/cpuinfo_min_freq", "500000\n")
    write(cf / "policy4/scaling_available_frequencies", "500000 1200000 2400000\n")
    write(cf / "policy4/scaling_cur_freq", "2400000\n")  # the governor's request ...
    write(cf / "policy4/cpuinfo_cur_freq", "1200000\n")  # ... and the real clock (throttled)
    write(cf / "policy4/scaling_governor", "schedutil\n")
    df = tmp_path / "class/devfreq"
    write(df / "17000000.gpu/max_freq", "1020000000\n")
    write(df / "17000000.gpu/cur_freq", "612000000\n")
    write(df / "17000000.gpu/governor", "nvhost_podgov\n")
    return tmp_path


def test_cpufreq_reads_the_big_cluster_and_prefers_cpuinfo_cur(big_little: Path) -> None:
    src = CpufreqSource(str(big_little))
    assert [p.id for p in src.policies] == [0, 4]
    assert src.policy.id == 4 and src.policy.related_cpus == [4, 5, 6, 7]
    assert src.policy.available_khz == [500000, 1200000, 2400000]
    assert src.max_mhz == 2400.0
    assert src.cur_file == "cpuinfo_cur_freq"
    assert src.read().cpu_mhz == 1200.0  # not scaling_cur_freq's 2400
    assert "policy4" in src.describe() and not src.emulated
    little = CpufreqSource(str(big_little), 0)
    assert little.cur_file == "scaling_cur_freq" and little.read().cpu_mhz == 900.0


def test_cpufreq_missing_and_garbage(tmp_path: Path, big_little: Path) -> None:
    with pytest.raises(Unavailable, match="not available here"):
        CpufreqSource(str(tmp_path / "nothing"))
    cf = big_little / "devices/system/cpu/cpufreq"
    write(cf / "policy0/scaling_cur_freq", "0x1f\n")
    with pytest.raises(Unavailable, match="neither"):
        CpufreqSource(str(big_little), 0)
    src = CpufreqSource(str(big_little))
    (cf / "policy4/cpuinfo_cur_freq").unlink()
    with pytest.raises(Unavailable, match="vanished"):
        src.read()
    write(cf / "policy4/cpuinfo_max_freq", "lots\n")
    with pytest.raises(Unavailable, match="not a number"):
        CpufreqSource(str(big_little))


def test_devfreq_gpu(big_little: Path, tmp_path: Path) -> None:
    src = DevfreqSource(str(big_little))
    assert src.device.name == "17000000.gpu" and src.device.governor == "nvhost_podgov"
    assert src.read().gpu_mhz == 612.0 and src.read().cpu_mhz == 0.0
    assert src.max_mhz == 1020.0
    write(big_little / "class/devfreq/17000000.gpu/cur_freq", "612 MHz\n")
    with pytest.raises(Unavailable, match="not a number"):
        src.read()
    with pytest.raises(Unavailable, match="not available here"):
        DevfreqSource(str(tmp_path / "empty"))
    with pytest.raises(Unavailable, match="no mali"):
        DevfreqSource(str(big_little), "mali")


def test_replay_source_and_garbage_rows(tmp_path: Path) -> None:
    good = tmp_path / "t.csv"
    good.write_text("t_s,cpu_mhz,gpu_mhz\n0,2000,800\n0.5,1000,400\n")
    src = ReplaySource(str(good))
    assert src.emulated and src.has_gpu and src.max_mhz == 2000.0
    assert src.at(0.2).cpu_mhz == 2000.0 and src.at(0.7).gpu_mhz == 400.0
    src.set_time(0.6)
    assert src.read().cpu_mhz == 1000.0
    bad = tmp_path / "bad.csv"
    bad.write_text("t_s,cpu_mhz\n0,2000\n0.1,fast\n")
    with pytest.raises(Unavailable, match=r"bad\.csv line 3: not a number"):
        ReplaySource(str(bad))
    bad.write_text("t_s,cpu_mhz\n0,2000\n0.1,1000,5\n")
    with pytest.raises(Unavailable, match="expected 2 columns"):
        load_trace(bad)
    bad.write_text("time,mhz\n0,1\n")
    with pytest.raises(Unavailable, match="header"):
        load_trace(bad)
    with pytest.raises(Unavailable, match="cannot read"):
        ReplaySource(str(tmp_path / "missing.csv"))


def test_detect_source_says_why(big_little: Path, tmp_path: Path, monkeypatch) -> None:
    det = detect_source(str(big_little))
    assert det.source is not None and det.source.name == "cpufreq"
    assert "chosen" in det.report() and "devfreq" in det.report()
    # No sysfs at all and psutil reporting nothing (as in many VMs): a clear "not available".
    fake_psutil = types.SimpleNamespace(cpu_freq=lambda: None)
    monkeypatch.setitem(sys.modules, "psutil", fake_psutil)
    monkeypatch.setitem(sys.modules, "pynvml", None)  # import fails: not installed
    det = detect_source(str(tmp_path / "none"))
    assert det.source is None
    text = det.report()
    assert "cpu_freq() returned None" in text and "not installed" in text
    with pytest.raises(Unavailable, match="no frequency source"):
        open_source("auto", str(tmp_path / "none"))
    monkeypatch.setitem(
        sys.modules,
        "psutil",
        types.SimpleNamespace(
            cpu_freq=lambda: types.SimpleNamespace(current=0.0, min=0.0, max=0.0)
        ),
    )
    with pytest.raises(Unavailable, match="returned"):
        PsutilSource()


def test_open_source_specs(tmp_path: Path) -> None:
    assert open_source("fixed:1500").read().cpu_mhz == 1500.0
    assert open_source(f"replay:{trace_path('rpi4_thermal_throttle')}").name == "replay"
    with pytest.raises(ValueError, match="unknown"):
        open_source("magic")
    with pytest.raises(ValueError, match="needs a value"):
        open_source("fixed")


def test_shipped_traces_are_the_shared_ones() -> None:
    names = list_traces()
    assert "sd855_prime_thermal" in names and len(names) >= 5
    assert (trace_path(names[0]).parent / "PROVENANCE.md").exists()
    if SHARED_TRACES.exists():
        for n in names:
            shipped = hashlib.sha256(trace_path(n).read_bytes()).hexdigest()
            assert shipped == hashlib.sha256((SHARED_TRACES / f"{n}.csv").read_bytes()).hexdigest()
    tr = load_trace("orin_nano_gpu_nvpmodel")
    assert tr["gpu_mhz"].max() == 1020 and np.all(np.diff(tr["t_s"]) > 0)
    with pytest.raises(FileNotFoundError, match="shipped traces"):
        trace_path("no_such_trace")


def test_emulator_model() -> None:
    e = Emulator(0.85, 2000)
    assert e.slowdown(2000) == 1.0
    assert e.slowdown(1000) == pytest.approx(0.85 * 2 + 0.15)
    assert e.slowdown(3000) == 1.0
    with pytest.raises(ValueError):
        Emulator(1.5, 2000)


def test_latency_table_round_trip(tmp_path: Path) -> None:
    t = LatencyTable(
        [3.0, 2.0, 1.0], 2400.0, p90_ms=[3.5, 2.5, 1.5], p99_ms=[4, 3, 2], model="m", emulated=True
    )
    p = tmp_path / "table.json"
    t.save(p)
    assert LatencyTable.load(p) == t
    p.write_text(json.dumps({"version": 99}))
    with pytest.raises(ValueError, match="version"):
        LatencyTable.load(p)
    p.write_text("{")
    with pytest.raises(ValueError, match="bad JSON"):
        LatencyTable.load(p)
    with pytest.raises(ValueError):
        LatencyTable([], 2000.0)
    with pytest.raises(ValueError, match="batch"):
        LatencyTable([1.0], 2000.0, batch=0)
    with pytest.raises(ValueError, match="p99_ms"):
        LatencyTable([1.0, 0.5], 2000.0, p99_ms=[1.2])
    assert t.spread_prior() == pytest.approx(0.5 / 2.0 / 1.28)  # median of 1/6, 1/4, 1/2
    assert LatencyTable([1.0], 1.0).spread_prior() == 0.02


def test_monitor_cli_on_a_fake_tree(big_little: Path, capsys) -> None:
    from allinone.cli import monitor

    parser = argparse.ArgumentParser()
    monitor.register(parser.add_subparsers())
    args = parser.parse_args(
        ["monitor", "--root", str(big_little), "--count", "2", "--interval", "0"]
    )
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert "chosen" in out and "cpu    1200 MHz" in out and "policy0 900" in out


def test_bench_output_says_emulated(tmp_path: Path) -> None:
    table = [4.0 * 0.9**k for k in range(12)]
    r = run_ways(
        ModelRunner(table, 0.85, 2842.0),
        LatencyTable(table, 2842.0),
        load_trace("sd855_prime_thermal"),
        flops=[0.9**k for k in range(12)],
        steps=200,
    )
    assert format_table(r).startswith("EMULATED")
    pytest.importorskip("matplotlib")
    from allinone.dvfs.bench import plot

    plot(r, str(tmp_path / "p.png"))
    assert (tmp_path / "p.png").stat().st_size > 1000
