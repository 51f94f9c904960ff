"""`allinone bench model.aio --trace T.csv`: a frequency trace run five ways (fixed level 0, fixed
last level, adaptive, the median and the p99 oracle) under emulation, with latency statistics per
way and a verdict line (adaptive against fixed level 0 and the p99 oracle).
`allinone bench model.aio --live`: adaptive and fixed level 0 against the real clock
(allinone/dvfs/live.py)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def register(subparsers: argparse._SubParsersAction) -> None:
    """Adds the `bench` sub-command."""
    p = subparsers.add_parser(
        "bench",
        help="run a model over a frequency trace: fixed first/last level, adaptive, oracle",
        description="EMULATED DVFS benchmark: steps through the trace at a fixed inference "
        "cadence, slowing each run by busy-waiting as the trace's clock would.",
    )
    p.add_argument("model", help="the .aio model")
    add_trace_options(p, trace_required=False)
    live = p.add_argument_group("live runs against the real clock (--live; not emulated)")
    live.add_argument(
        "--live",
        action="store_true",
        help="alternate short blocks of adaptive and fixed level 0 runs against the live clock",
    )
    live.add_argument("--source", default="auto", help="clock: auto, cpufreq[:POLICY], devfreq:D")
    live.add_argument("--duration", type=float, default=20.0, help="seconds (default 20)")
    live.add_argument("--block", type=int, default=20, help="runs per block (default 20)")
    live.add_argument("--save-trace", help="save the clock seen as a trace CSV (for --trace)")
    p.add_argument("--cpus", help="run on these CPUs: 4-7, 0,2, policyN, big or little")
    p.add_argument("--energy", default="auto", help="auto, none, powercap, hwmon or ina3221")
    p.set_defaults(func=run)


def add_trace_options(p: argparse.ArgumentParser, trace_required: bool) -> None:
    """Options shared by `bench` and `demo`."""
    p.add_argument(
        "--trace",
        required=trace_required,
        help="trace CSV (t_s,cpu_mhz[,gpu_mhz]) or the name of a shipped trace",
    )
    p.add_argument("--alpha", type=float, default=0.85, help="compute-bound share (default 0.85)")
    p.add_argument("--target-ms", type=float, default=None, help="default: 1.05 x level 0 at f_max")
    p.add_argument("--steps", type=int, default=800, help="inferences per way (default 800)")
    p.add_argument(
        "--runs",
        type=int,
        default=200,
        help="calibration runs per level (default 200: the oracle_p99 reference chooses by each "
        "level's p99)",
    )
    p.add_argument("--threads", type=int, default=None, help="engine threads (default: all cores)")
    p.add_argument(
        "--batch",
        type=int,
        default=1,
        help="images per inference (default 1); longer runs "
        "average out the machine's run-to-run jitter",
    )
    p.add_argument("--table", help="load the latency table from this JSON instead of calibrating")
    p.add_argument("--save-table", help="write the calibrated latency table to this JSON")
    p.add_argument("--json", dest="json_out", help="write the results as JSON")
    p.add_argument("--plot", help="draw latency, frequency and level over time (PNG)")


def run(args: argparse.Namespace) -> int:
    """Runs `allinone bench`."""
    if args.live:
        if args.trace:
            raise ValueError("--live runs against the real clock: it takes no --trace")
        return 0 if live_bench(args.model, args) else 1
    if not args.trace:
        raise ValueError("give --trace T.csv (emulated) or --live (the real clock)")
    result = bench_model(args.model, args)
    return 0 if result else 1


def _pin(args: argparse.Namespace) -> list[int] | None:
    """--cpus: pins this (the calling) thread and returns the CPUs for the engine's workers."""
    if not getattr(args, "cpus", None):
        return None
    from allinone.device.topology import pin_current_thread, read_topology, resolve_cpus

    topo = read_topology()
    cpus = resolve_cpus(args.cpus, topo)
    print(f"running on CPUs {pin_current_thread(cpus)} ({topo.describe()})")
    return cpus


def _energy(args: argparse.Namespace) -> Any:
    from allinone.device.energy import detect_energy

    spec = getattr(args, "energy", "none")
    if spec == "none":
        return None
    det = detect_energy(only=None if spec == "auto" else spec)
    if det.source is None:
        print("energy: not available here:\n" + det.report())
    return det.source


def _report_warmup(engine: Any) -> dict[str, Any]:
    w = engine.warmup(max_s=3.0)
    print(
        f"warm-up: first run {w.first_ms:.3f} ms, then {w.runs - 1} runs in {w.warmup_s:.2f} s "
        f"until stable (median {w.median_ms:.3f} ms)" + ("" if w.stable else ", NOT stable")
    )
    return {"first_ms": w.first_ms, "warmup_s": w.warmup_s, "runs": w.runs,
            "median_ms": w.median_ms, "stable": w.stable}  # fmt: skip


def _print_levels(meter: Any) -> dict[str, Any]:
    per = meter.summary()
    for level, v in per.items():
        j = v["joules_per_inference"]
        extra = f", {j * 1e3:.3f} mJ, {v['mean_watts']:.2f} W" if j is not None else ""
        print(f"  level {level}: {v['inferences']} runs, CPU {v['cpu_ms_per_inference']:.3f} ms"
              f"/inference{extra}")  # fmt: skip
    return per


def live_bench(model: str, args: argparse.Namespace) -> dict[str, Any]:
    """`allinone bench --live`: adaptive and fixed level 0 against the live clock."""
    from allinone import Engine
    from allinone.device.context import run_context
    from allinone.device.energy import LevelMeter
    from allinone.dvfs.bench import format_table
    from allinone.dvfs.live import LiveRunner, run_live, save_trace
    from allinone.dvfs.sources import open_source
    from allinone.dvfs.table import calibrate

    cpus = _pin(args)
    source = open_source(args.source, cpus=cpus)  # with --cpus: the pinned cluster's clock
    print(f"clock: {source.describe()}")
    engine = Engine(model, threads=args.threads, cpus=cpus)
    warm = _report_warmup(engine)
    if args.table:
        table = _load_table(args.table, engine, args.batch)
    else:
        mhz = float(source.read().cpu_mhz or source.read().gpu_mhz)
        print(f"calibrating at the clock now ({mhz:.0f} MHz); a sweep table (--table "
              "SWEEP.json from `allinone sweep`) is better on a device", flush=True)  # fmt: skip
        table = calibrate(engine, mhz, runs=args.runs, alpha=args.alpha, source=source.name,
                          batch=args.batch)  # fmt: skip
    flops = [float(lv.flops) for lv in engine.levels]
    meter = LevelMeter(LiveRunner(engine, args.batch), _energy(args))
    result = run_live(
        meter, table, source, duration_s=args.duration, flops=flops, block=args.block,
        alpha=args.alpha, target_ms=args.target_ms,
    )  # fmt: skip
    result["model"] = str(model)
    result["warmup"] = warm
    result["per_level"] = _print_levels(meter)
    result["energy_source"] = meter.source.describe() if meter.source else "none"
    result["context"] = run_context(model=model, engine=engine, emulated=result["emulated"])
    print(f"LIVE: {result['steps']} runs per way in {result['duration_s']:.1f} s, "
          f"clock {source.describe()}")  # fmt: skip
    print(format_table(result))
    if args.save_trace:
        rows = save_trace(result, args.save_trace)
        print(f"wrote {args.save_trace} ({rows} rows; replay with --trace)")
    if args.json_out:
        out = {k: v for k, v in result.items() if k not in ("series", "clock_samples")}
        Path(args.json_out).write_text(json.dumps(out, indent=2))
        print(f"wrote {args.json_out}")
    return result


def _load_table(path: str, engine: Any, batch: int) -> Any:
    """A latency table JSON, or a sweep result (its measured frequency x level table)."""
    from allinone.dvfs.table import LatencyTable

    try:
        table = LatencyTable.from_sweep(path)
    except ValueError:
        table = LatencyTable.load(path)
    if len(table.level_ms) != engine.num_levels:
        raise ValueError(f"{path}: {len(table.level_ms)} levels, model has {engine.num_levels}")
    if table.batch != batch:
        raise ValueError(f"{path}: calibrated at batch {table.batch}, not {batch}")
    return table


def bench_model(model: str, args: argparse.Namespace) -> dict[str, Any]:
    """Loads, calibrates (or loads the table), runs the five ways, prints/saves the results and
    the verdict line."""
    from allinone import Engine
    from allinone.device.context import run_context
    from allinone.device.energy import LevelMeter
    from allinone.dvfs.bench import EngineRunner, format_table, plot, run_ways, verdict_line
    from allinone.dvfs.table import LatencyTable, calibrate
    from allinone.dvfs.traces import load_trace, trace_path

    if args.batch < 1:
        raise ValueError(f"--batch must be at least 1, got {args.batch}")
    path = trace_path(args.trace)
    trace = load_trace(path)
    f_max = float(trace["cpu_mhz"].max())
    cpus = _pin(args)
    engine = Engine(model, threads=args.threads, cpus=cpus)
    warm = _report_warmup(engine)
    if args.table:
        table = LatencyTable.load(args.table)
        if len(table.level_ms) != engine.num_levels:
            raise ValueError(
                f"{args.table}: {len(table.level_ms)} levels, model has {engine.num_levels}"
            )
        if table.batch != args.batch:
            raise ValueError(f"{args.table}: calibrated at batch {table.batch}, not {args.batch}")
        # The table's clock is this machine's speed standing for the trace's top operating point.
        table.f_ref_mhz = f_max
    else:
        print(f"calibrating {engine.num_levels} levels ({args.runs} runs each) ...", flush=True)
        table = calibrate(
            engine,
            f_max,
            runs=args.runs,
            alpha=args.alpha,
            source=f"trace {path.name}",
            emulated=True,
            batch=args.batch,
            gap=1.0,  # measured as the emulated runs will run: each followed by padding
        )
        if args.save_table:
            table.save(args.save_table)
    flops = [float(lv.flops) for lv in engine.levels]
    runner = LevelMeter(EngineRunner(engine, args.alpha, f_max, args.batch), _energy(args))
    result = run_ways(
        runner,
        table,
        trace,
        flops=flops,
        alpha=args.alpha,
        target_ms=args.target_ms,
        steps=args.steps,
        progress=True,
    )
    result["trace"] = path.name
    result["model"] = str(model)
    result["batch"] = args.batch
    result["warmup"] = warm
    print(f"trace {path.name} (f_max {f_max:.0f} MHz), model {model}, batch {args.batch}")
    print(format_table(result))
    print("per level, all ways (CPU time from getrusage; emulated runs include the padding):")
    result["per_level"] = _print_levels(runner)
    result["energy_source"] = runner.source.describe() if runner.source else "none"
    result["context"] = run_context(model=model, engine=engine, emulated=result["emulated"])
    if "adaptive" in result:
        print(verdict_line(result))
    if args.json_out:
        out = {k: v for k, v in result.items() if k != "series"}
        Path(args.json_out).write_text(json.dumps(out, indent=2))
        print(f"wrote {args.json_out}")
    if args.plot:
        plot(result, args.plot, title=f"{Path(model).name} on {path.name}")
        print(f"wrote {args.plot}")
    return result
