"""Winograd output tiles A/B: F(2x2, 3x3) against F(4x4, 3x3), paired, in one process.

For each zoo model (the same random-weight exports as ``latency.py``), build engines that differ
only in the Winograd tile (``AIO_WINOGRAD_TILE=2`` or ``4`` while each engine loads; ``auto`` is
the runtime's per-layer choice, the default), then time every level at 1 and 2 threads with the
engines interleaved repeat by repeat (the order rotating between repeats) and report medians and
the paired ratio against F(2x2) (within each repeat, median over repeats). ``--layers`` adds, per
Winograd layer, the median of ``Engine.profile`` per tile, interleaved the same way.

    python benchmarks/winograd_tiles.py                          # all models, threads 1 and 2
    python benchmarks/winograd_tiles.py --models resnet18 --layers --levels 0

Needs the ``train`` extra (torch builds the zoo model).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from latency import CASES, build_model, cpu_name, runs_for, time_block  # noqa: E402

VARIANTS = ("2", "4", "auto")


def engine(path: Path, threads: int, tile: str):
    """An engine whose Winograd layers were built with `tile` ("auto": the runtime's choice)."""
    from allinone.runtime import Engine

    if tile == "auto":
        os.environ.pop("AIO_WINOGRAD_TILE", None)
    else:
        os.environ["AIO_WINOGRAD_TILE"] = tile
    try:
        return Engine(str(path), threads=threads)
    finally:
        os.environ.pop("AIO_WINOGRAD_TILE", None)


def layer_rows(engines: dict, x: np.ndarray, level: int, repeats: int) -> list[str]:
    """Per Winograd layer: median ms of each variant over `repeats` interleaved profiles."""
    times: dict[str, dict[str, list[float]]] = {v: {} for v in engines}
    kinds: dict[str, str] = {}
    for i in range(repeats):
        order = list(engines)[i % len(engines) :] + list(engines)[: i % len(engines)]
        for v in order:
            for name, kind, ms, _ in engines[v].profile(x, level, 10):
                times[v].setdefault(name, []).append(ms)
                if v == "2":
                    kinds[name] = kind
    out = []
    for name, kind in kinds.items():
        if not kind.endswith("winograd"):
            continue
        med = {v: statistics.median(times[v][name]) for v in engines}
        ratio = statistics.median(
            a / b for a, b in zip(times["4"][name], times["2"][name], strict=True)
        )
        out.append(
            f"    {name[:28]:28s} "
            + " ".join(f"{med[v]:8.3f}" for v in engines)
            + f"   F4/F2 {ratio:5.2f}"
        )
    return out


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--models", nargs="+", default=list(CASES), choices=list(CASES))
    ap.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    ap.add_argument("--levels", nargs="+", type=int, default=[0, 1, 2, 3])
    ap.add_argument("--repeats", type=int, default=7, help="interleaved repeats (median reported)")
    ap.add_argument("--budget-ms", type=float, default=200.0, help="time per repeat per engine")
    ap.add_argument("--layers", action="store_true", help="per-layer medians of Winograd layers")
    args = ap.parse_args()

    from allinone import _core

    print(f"# {cpu_name()}, isa {_core.isa()}; paired A/B in one process, engines interleaved")
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.models:
            path = build_model(name, Path(tmp))
            shape = CASES[name][0]
            x = np.random.default_rng(0).standard_normal((1, *shape)).astype(np.float32)
            sizes = {v: engine(path, 1, v).weight_bytes / 1e6 for v in VARIANTS}
            from allinone.runtime import Engine

            nw = Engine(str(path), threads=1, winograd=False).weight_bytes / 1e6
            print(
                f"\n## {name}: engine weights MB: F2 {sizes['2']:.1f}, F4 {sizes['4']:.1f}, "
                f"auto {sizes['auto']:.1f}, winograd=False {nw:.1f}"
            )
            print(
                f"  {'lvl':>3s} {'thr':>3s} {'F2 ms':>8s} {'F4 ms':>8s} {'auto ms':>8s} "
                f"{'F4/F2':>6s} {'auto/F2':>7s}"
            )
            for t in args.threads:
                engines = {v: engine(path, t, v) for v in VARIANTS}
                for k in args.levels:
                    if k >= engines["2"].num_levels:
                        continue
                    fns = {v: (lambda e=e, k=k, x=x: e.run_at(k, x)) for v, e in engines.items()}
                    for fn in fns.values():
                        for _ in range(3):
                            fn()
                    n = runs_for(time_block(fns["2"], 3), args.budget_ms)
                    reps: dict[str, list[float]] = {v: [] for v in VARIANTS}
                    for i in range(args.repeats):
                        order = VARIANTS[i % 3 :] + VARIANTS[: i % 3]
                        for v in order:
                            reps[v].append(time_block(fns[v], n))
                    med = {v: statistics.median(reps[v]) for v in VARIANTS}

                    def paired(v: str, reps: dict[str, list[float]] = reps) -> float:
                        return statistics.median(
                            a / b for a, b in zip(reps[v], reps["2"], strict=True)
                        )

                    print(
                        f"  {k:3d} {t:3d} {med['2']:8.3f} {med['4']:8.3f} {med['auto']:8.3f} "
                        f"{paired('4'):6.3f} {paired('auto'):7.3f}",
                        flush=True,
                    )
                    if args.layers:
                        print(f"    {'layer':28s} {'F2 ms':>8s} {'F4 ms':>8s} {'auto ms':>8s}")
                        for line in layer_rows(engines, x, k, args.repeats):
                            print(line, flush=True)


if __name__ == "__main__":
    main()
