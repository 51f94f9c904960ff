"""`allinone monitor`: print live frequencies from the detected (or a chosen) source."""

from __future__ import annotations

import argparse
import json
import sys
import time


def register(subparsers: argparse._SubParsersAction) -> None:
    """Adds the `monitor` sub-command."""
    p = subparsers.add_parser(
        "monitor",
        help="print live CPU/GPU frequencies from the best available source",
        description="Detects the best frequency source (cpufreq, devfreq, NVML, psutil), says why "
        "each other one is not used, and prints its readings.",
    )
    p.add_argument(
        "--source",
        default="auto",
        help="auto (default), cpufreq[:POLICY], devfreq[:DEVICE], nvml[:INDEX], psutil, "
        "fixed:MHZ or replay:TRACE.csv",
    )
    p.add_argument("--root", default="/sys", help="sysfs root (a fake tree for testing)")
    p.add_argument("--interval", type=float, default=0.5, help="seconds between readings")
    p.add_argument("--count", type=int, default=0, help="stop after N readings (0: until ^C)")
    p.add_argument(
        "--json",
        action="store_true",
        help="JSON lines on stdout: one object describing the source, then one per reading "
        "(the detection report goes to stderr)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Runs `allinone monitor`."""
    from allinone.dvfs.sources import detect_source, open_source

    if args.source == "auto":
        det = detect_source(args.root)
        print("frequency sources:\n" + det.report(), file=sys.stderr if args.json else sys.stdout)
        if det.source is None:
            print("allinone monitor: no frequency source available here", file=sys.stderr)
            return 1
        src = det.source
    else:
        src = open_source(args.source, args.root)
    if args.json:
        head = {
            "source": src.name,
            "description": src.describe(),
            "emulated": bool(src.emulated),
            "max_mhz": src.max_mhz,
        }
        print(json.dumps(head), flush=True)
    tag = " [EMULATED]" if src.emulated else ""
    if not args.json:
        print(f"source: {src.name}: {src.describe()}{tag}; max {src.max_mhz:.0f} MHz")
    if src.name == "cpufreq" and not args.json:
        for p in src.policies:
            cpus = ",".join(map(str, p.related_cpus))
            print(
                f"  policy{p.id}: cpus {cpus}, {p.min_khz // 1000}-{p.max_khz // 1000} MHz, "
                f"governor {p.governor or '?'}, {len(p.available_khz)} operating points"
            )
    if not args.json:
        from allinone.device.energy import detect_energy
        from allinone.device.topology import read_topology

        print(f"clusters: {read_topology(args.root).describe()}")
        print("energy sources:\n" + detect_energy(args.root).report())
    n = 0
    t0 = time.monotonic()
    try:
        while args.count <= 0 or n < args.count:
            r = src.read()
            t = time.monotonic() - t0
            if args.json:
                line = json.dumps({"t_s": round(t, 6), "cpu_mhz": r.cpu_mhz, "gpu_mhz": r.gpu_mhz})
            else:
                parts = [f"cpu {r.cpu_mhz:7.0f} MHz"] if r.cpu_mhz else []
                parts += [f"gpu {r.gpu_mhz:7.0f} MHz"] if r.gpu_mhz else []
                if src.name == "cpufreq":
                    parts += [f"policy{p.id} {src.current_khz(p) / 1000:.0f}" for p in src.policies]
                line = f"{t:8.2f} s  " + "  ".join(parts)
            print(line, flush=True)
            n += 1
            if args.count <= 0 or n < args.count:
                time.sleep(args.interval)
    except KeyboardInterrupt:
        pass
    return 0
