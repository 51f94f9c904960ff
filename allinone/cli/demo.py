"""`allinone demo`: the shipped demo model on a shipped trace — the five-way table, the verdict
line and a plot. Needs only numpy (matplotlib for the plot); no PyTorch."""

from __future__ import annotations

import argparse
from pathlib import Path

from allinone.cli.bench import add_trace_options, bench_model

DEMO_MODEL = Path(__file__).resolve().parent.parent / "data" / "demo.aio"


def register(subparsers: argparse._SubParsersAction) -> None:
    """Adds the `demo` sub-command."""
    p = subparsers.add_parser(
        "demo",
        help="the shipped model on a shipped DVFS trace (EMULATED): table and plot",
        description="Runs allinone/data/demo.aio over a shipped frequency trace five ways, prints "
        "the table and a verdict line and writes a plot. Equivalent to `allinone bench "
        "<demo.aio> --trace sd855_prime_thermal --threads 1`.",
    )
    add_trace_options(p, trace_required=False)
    p.set_defaults(func=run)
    p.add_argument("--model", default=str(DEMO_MODEL), help=argparse.SUPPRESS)


def run(args: argparse.Namespace) -> int:
    """Runs `allinone demo`."""
    from allinone.dvfs.traces import DEMO_TRACE

    if not Path(args.model).exists():
        raise FileNotFoundError(f"demo model not found: {args.model} (is the package complete?)")
    args.trace = args.trace or DEMO_TRACE
    if args.plot is None:
        args.plot = "allinone_demo.png"
    if args.threads is None:
        args.threads = 1  # an edge app's one core; the demo model's latencies are for 1 thread
    no_plot = ""
    if args.plot:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            no_plot = (
                f"no plot: matplotlib is not installed (pip install 'allinone[plot]', then "
                f"`allinone demo` draws {args.plot})"
            )
            args.plot = ""
    print(
        "allinone demo: one model, 12+ nested pruning levels, a phone's CPU clock replayed "
        "(EMULATED):\nthe adaptive engine switches levels so latency stays on target while "
        "the clock moves."
    )
    bench_model(args.model, args)
    if no_plot:
        print(no_plot)
    return 0
