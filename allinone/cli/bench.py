"""`allinone bench model.aio --trace T.csv`: a frequency trace run five ways (fixed level 0, fixed
last level, adaptive, the median and the p99 oracle) under emulation, with latency statistics per
way and a verdict line (adaptive against fixed level 0 and the p99 oracle)."""

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
    add_trace_options(p, trace_required=True)
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
    result = bench_model(args.model, args)
    return 0 if result else 1


def bench_model(model: str, args: argparse.Namespace) -> dict[str, Any]:
    """Loads, calibrates (or loads the table), runs the five ways, prints/saves the results and
    the verdict line."""
    from allinone import Engine
    from allinone.dvfs.bench import EngineRunner, format_table, plot, run_ways, verdict_line
    from allinone.dvfs.table import LatencyTable, calibrate
    from allinone.dvfs.traces import load_trace, trace_path

    if args.batch < 1:
        raise ValueError(f"--batch must be at least 1, got {args.batch}")
    path = trace_path(args.trace)
    trace = load_trace(path)
    f_max = float(trace["cpu_mhz"].max())
    engine = Engine(model, threads=args.threads)
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
    runner = EngineRunner(engine, args.alpha, f_max, args.batch)
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
    print(f"trace {path.name} (f_max {f_max:.0f} MHz), model {model}, batch {args.batch}")
    print(format_table(result))
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
