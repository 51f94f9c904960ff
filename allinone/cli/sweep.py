"""`allinone sweep model.aio`: latency of every level at every clock, with the clock pinned
through sysfs and restored afterwards (or EMULATED with --emulate)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any


def register(subparsers: argparse._SubParsersAction) -> None:
    """Adds the `sweep` sub-command."""
    p = subparsers.add_parser(
        "sweep",
        help="latency of every level at every clock (pins the clock; needs root) or --emulate",
        description="Pins each frequency (cpufreq: userspace governor + scaling_setspeed, else "
        "scaling_min_freq = scaling_max_freq; devfreq: userspace/set_freq, else min = max), "
        "waits for it to read back, measures every level and restores the clock on every exit. "
        "The original state is saved first; `--restore STATE` undoes a sweep that was killed.",
    )
    p.add_argument("model", nargs="?", help="the .aio model (not needed with --restore)")
    p.add_argument(
        "--source",
        default="cpufreq",
        help="clock to pin: cpufreq[:POLICY] (default: the policy of --cpus, else the fastest) "
        "or devfreq:DEVICE",
    )
    p.add_argument("--freqs", default="all", help="'all' (the driver's table) or MHZ,MHZ,...")
    p.add_argument("--runs", type=int, default=30, help="timed runs per level and clock")
    p.add_argument("--warmup-s", type=float, default=2.0, help="warm-up budget (seconds)")
    p.add_argument("--threads", type=int, default=None, help="engine threads (default: all)")
    p.add_argument("--cpus", help="run on these CPUs: 4-7, 0,2, policyN, big or little")
    p.add_argument(
        "--emulate",
        action="store_true",
        help="touch no clock: busy-wait as each clock would slow the run (EMULATED)",
    )
    p.add_argument("--alpha", type=float, default=0.85, help="compute-bound share (--emulate)")
    p.add_argument(
        "--energy", default="auto", help="energy source: auto, none, powercap, hwmon, ina3221"
    )
    p.add_argument("--settle-timeout", type=float, default=2.0, help="read-back wait (seconds)")
    p.add_argument(
        "--state", help="where to save the original clock state (default: a runtime dir)"
    )
    p.add_argument("--restore", metavar="STATE", help="restore the clocks saved in STATE and exit")
    p.add_argument("--root", default="/sys", help=argparse.SUPPRESS)  # a fake sysfs in tests
    p.add_argument("--json", dest="json_out", help="write the table as JSON")
    p.add_argument("--plot", help="latency against clock, one line per level (PNG)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Runs `allinone sweep`."""
    from allinone.device.clocks import (
        ClockError,
        EmulatedClock,
        Interrupted,
        PinSession,
        open_clock,
        restore_state_file,
    )

    if args.restore:
        try:
            for line in restore_state_file(args.restore):
                print(line)
        except ClockError as exc:
            print(f"allinone sweep: error: {exc}", file=sys.stderr)
            return 1
        return 0
    if not args.model:
        print("allinone sweep: error: a model is needed (or --restore STATE)", file=sys.stderr)
        return 2
    try:
        engine, cpus, clock, freqs, energy = _setup(args, open_clock, EmulatedClock)
        with PinSession([clock], args.state) as session:
            if session.live:
                print(f"clock state saved to {session.state_path} (restore: allinone sweep "
                      f"--restore {session.state_path})", flush=True)  # fmt: skip
            result = _measure(args, engine, clock, freqs, energy)
    except ClockError as exc:
        print(f"allinone sweep: error: {exc}", file=sys.stderr)
        return 1
    except Interrupted as exc:
        print(f"allinone sweep: {exc}; clocks restored", file=sys.stderr)
        return 128 + exc.signum
    _report(args, result, engine, cpus)
    return 0


def _setup(args: argparse.Namespace, open_clock: Any, emulated_clock: Any) -> tuple[Any, ...]:
    from allinone import Engine
    from allinone.device.energy import detect_energy
    from allinone.device.sweep import resolve_freqs
    from allinone.device.topology import pin_current_thread, read_topology, resolve_cpus

    cpus = None
    source = args.source
    if args.cpus:
        topo = read_topology(args.root)
        cpus = resolve_cpus(args.cpus, topo)
        got = pin_current_thread(cpus)
        print(f"pinned to CPUs {got} ({topo.describe()})")
        owner = topo.policy_of(cpus)
        if source == "cpufreq" and owner is not None:
            source = f"cpufreq:{owner.policy}"  # the clock of the cluster we run on
    if args.emulate:
        try:
            available = open_clock(source, args.root).available_mhz()
        except Exception:  # no readable clock either: --freqs must say
            available = []
        clock = emulated_clock(resolve_freqs(args.freqs, available))
    else:
        clock = open_clock(source, args.root)
    freqs = resolve_freqs(args.freqs, clock.available_mhz())
    energy = None
    if args.energy != "none":
        det = detect_energy(args.root, None if args.energy == "auto" else args.energy)
        energy = det.source
        if energy is None:
            print("energy: not available here:\n" + det.report())
    engine = Engine(args.model, threads=args.threads, cpus=cpus)
    print(f"{clock.describe()}; {len(freqs)} clocks: {', '.join(f'{f:.0f}' for f in freqs)} MHz")
    return engine, cpus, clock, freqs, energy


def _measure(
    args: argparse.Namespace, engine: Any, clock: Any, freqs: list[float], energy: Any
) -> dict[str, Any]:
    from allinone.device.sweep import run_sweep

    return run_sweep(
        engine,
        clock,
        freqs,
        runs=args.runs,
        warmup_s=args.warmup_s,
        emulate_alpha=args.alpha if args.emulate else None,
        energy=energy,
        settle_timeout_s=args.settle_timeout,
        progress=True,
    )


def _report(args: argparse.Namespace, result: dict[str, Any], engine: Any, cpus: Any) -> None:
    from allinone.device.context import run_context
    from allinone.device.sweep import format_sweep, plot_sweep

    result["model"] = str(args.model)
    result["context"] = run_context(
        model=args.model, engine=engine, emulated=result["emulated"], root=args.root
    )
    w = result["warmup"]
    print(
        f"warm-up: first run {w['first_ms']:.3f} ms, {w['runs']} runs in {w['warmup_s']:.2f} s"
        + ("" if w["stable"] else " (not stable within the budget)")
    )
    print(format_sweep(result))
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(result, indent=2))
        print(f"wrote {args.json_out}")
    if args.plot:
        plot_sweep(result, args.plot, title=f"{Path(args.model).name}: latency against clock")
        print(f"wrote {args.plot}")
