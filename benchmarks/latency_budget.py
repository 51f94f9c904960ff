#!/usr/bin/env python3
"""FLOP budget vs latency budget: do the designed levels get faster the way they were asked to?

For each zoo model (random weights, seeded): measure the per-layer latency table with the engine
(`allinone.exporter.latency.measure_layer_latency`), design `--levels` nested levels whose cost
falls by `--step` per level twice (cost = FLOPs, cost = that table's predicted latency), export
both, and time every level of both files side by side (interleaved rounds, medians). A good
design has measured latency ratios t_k / t_0 close to step^k; the FLOP design misses where
FLOPs and time disagree (depthwise and large-map 1x1 layers run far below peak).

    PYTHONPATH=. python benchmarks/latency_budget.py --models mobilenet_v2 resnet20 --threads 1
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from allinone import Engine, zoo
from allinone.exporter import budget_levels, export
from allinone.exporter.latency import measure_layer_latency

SHAPES = {"mobilenet_v2": (3, 224, 224), "resnet20": (3, 32, 32), "resnet18": (3, 224, 224)}


def time_levels(engines: dict[str, Engine], x: np.ndarray, rounds: int) -> dict[str, list[float]]:
    """Median ms of every level of every engine, rounds interleaved across engines and levels."""
    samples = {k: [[] for _ in range(e.num_levels)] for k, e in engines.items()}
    for _ in range(rounds):
        for k, e in engines.items():
            for lv in range(e.num_levels):
                t0 = time.perf_counter()
                e.run_at(lv, x)
                samples[k][lv].append((time.perf_counter() - t0) * 1e3)
    return {k: [float(np.median(s)) for s in v] for k, v in samples.items()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", nargs="+", default=["mobilenet_v2", "resnet20"])
    ap.add_argument("--levels", type=int, default=6)
    ap.add_argument("--step", type=float, default=0.8)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=30)
    ap.add_argument("--json", dest="json_out")
    args = ap.parse_args()
    torch.set_num_threads(1)
    results = {}
    for name in args.models:
        torch.manual_seed(0)
        shape = SHAPES[name]
        model = zoo.get(name, in_channels=shape[0]).eval()
        x = torch.randn(1, *shape)
        table = measure_layer_latency(model, x, threads=args.threads)
        designs = {
            "flops": budget_levels(model, x, n_levels=args.levels, step=args.step),
            "latency": budget_levels(model, x, n_levels=args.levels, step=args.step, latency=table),
        }
        with tempfile.TemporaryDirectory() as tmp:
            engines = {}
            for kind, levels in designs.items():
                path = Path(tmp) / f"{name}_{kind}.aio"
                export(model, str(path), x, levels=levels, name=f"{name}-{kind}")
                engines[kind] = Engine(path, threads=args.threads)
            xs = x.numpy()
            for e in engines.values():  # warm-up
                for lv in range(e.num_levels):
                    e.run_at(lv, xs)
            ms = time_levels(engines, xs, args.rounds)
            fl = {k: [lv.flops for lv in e.levels] for k, e in engines.items()}
        print(f"\n{name}, {args.levels} levels, step {args.step}, threads {args.threads}")
        print(
            "| level | asked t/t0 | FLOP design: FLOPs/F0, t/t0 | latency design: FLOPs/F0, t/t0 |"
        )
        print("|---|---|---|---|")
        rows = []
        for k in range(args.levels):
            asked = args.step**k
            f_r = fl["flops"][k] / fl["flops"][0]
            f_t = ms["flops"][k] / ms["flops"][0]
            l_r = fl["latency"][k] / fl["latency"][0]
            l_t = ms["latency"][k] / ms["latency"][0]
            rows.append(
                {
                    "level": k,
                    "asked": asked,
                    "flops_design": [f_r, f_t],
                    "latency_design": [l_r, l_t],
                }
            )
            print(f"| {k} | {asked:.3f} | {f_r:.3f}, {f_t:.3f} | {l_r:.3f}, {l_t:.3f} |")
        err = {
            kind: float(
                np.mean(
                    [abs(ms[kind][k] / ms[kind][0] - args.step**k) for k in range(1, args.levels)]
                )
            )
            for kind in designs
        }
        print(
            f"mean |t_k/t_0 - step^k|: FLOP design {err['flops']:.3f}, "
            f"latency design {err['latency']:.3f}; level 0 {ms['flops'][0]:.3f} ms"
        )
        results[name] = {"rows": rows, "mean_abs_error": err, "level0_ms": ms["flops"][0]}
    if args.json_out:
        from allinone.device.context import run_context

        results["context"] = run_context(emulated=False)
        Path(args.json_out).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
