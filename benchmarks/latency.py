"""Latency of every level, ours versus ONNX Runtime on the same sliced sub-network, side by side.

For each zoo model (random weights, seeded), export one .aio with four nested levels, export each
level's physically sliced sub-network as ONNX (``Engine.export_onnx``), then for 1 and 2 threads
time both runtimes in the same process, interleaved repeat by repeat, and report medians. The
ratio is paired: ours / ORT within each repeat (the runtimes' order alternating between repeats),
then the median over the repeats, so a change of the host's speed between repeats cancels.

    python benchmarks/latency.py                       # all models, threads 1 and 2
    python benchmarks/latency.py --models resnet20 --repeats 3 --json out.json
    python benchmarks/latency.py --models resnet18 --threads 1 --layers   # + per-layer ms, GFLOP/s
    python benchmarks/latency.py --without-winograd   # + ours without Winograd, interleaved
    python benchmarks/latency.py --models mobilenet_v2 --size 96   # another input size

The header carries the machine's measured FP32 peak per thread count (benchmarks/peak.py: the FMA
peak of the cores, and numpy/OpenBLAS SGEMM as a reference); ``--layers`` adds, per model x level x
threads, every layer's median time from ``Engine.profile`` with its GFLOP/s and share of the FMA
peak, beside ONNX Runtime's time for the same node from its own profiler.

Needs the ``train`` and ``onnx`` extras (torch builds the zoo model; onnxruntime is the baseline).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

# model name -> (input shape, zoo kwargs)
CASES: dict[str, tuple[tuple[int, int, int], dict]] = {
    "resnet18": ((3, 224, 224), {}),
    "mobilenet_v2": ((3, 224, 224), {}),
    "resnet20": ((3, 32, 32), {"num_classes": 10}),
    # Squeeze-excite, hardswish / SiLU, 5x5 depthwise; concatenations and upsampling.
    "mobilenet_v3_large": ((3, 224, 224), {}),
    "efficientnet_b0": ((3, 224, 224), {}),
    "yolo_small": ((3, 320, 320), {}),
}
LEVELS = (1.0, 0.75, 0.5, 0.25)


@dataclass
class Row:
    model: str
    level: int
    keep: float
    threads: int
    mflops: float
    ours_ms: float
    ort_ms: float
    ratio: float
    ours_gflops: float
    ort_gflops: float
    no_winograd_ms: float | None = None  # ours with Engine(winograd=False), --without-winograd
    no_winograd_ratio: float | None = None  # paired like ratio
    # Engine.warmup before timing: the very first run (page faults, cold caches, sleeping
    # workers) and the time until the median of the last runs settled, reported apart.
    first_ms: float | None = None
    warmup_s: float | None = None


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def time_block(fn, runs: int) -> float:
    """Median milliseconds of `runs` calls of fn()."""
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(samples)


def runs_for(ms_estimate: float, budget_ms: float) -> int:
    return int(min(200, max(5, budget_ms / max(ms_estimate, 1e-3))))


def build_model(name: str, workdir: Path, seed: int = 0) -> Path:
    import torch

    from allinone import zoo
    from allinone.exporter import export

    shape, kwargs = CASES[name]
    torch.manual_seed(seed)
    model = zoo.get(name, in_channels=shape[0], **kwargs).eval()
    # Random BN statistics so that folding matters, as a trained model's would.
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    path = workdir / f"{name}.aio"
    export(model, str(path), torch.randn(1, *shape), levels=LEVELS, round_to=8, name=name)
    return path


def ort_layer_ms(onnx_path: Path, x: np.ndarray, threads: int, runs: int = 20) -> dict[str, float]:
    """ONNX Runtime's own per-node times (its profiler), median over `runs`, keyed by our node
    name: ORT names a node after the ONNX node it came from plus what it fused and a counter
    (``layers.0.0.conv1_relu_9_nchwc``), so those suffixes are stripped and fused parts summed."""
    import json
    import tempfile

    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.enable_profiling = True
    with tempfile.TemporaryDirectory() as tmp:
        opts.profile_file_prefix = str(Path(tmp) / "ort")
        sess = ort.InferenceSession(str(onnx_path), opts, providers=["CPUExecutionProvider"])
        for _ in range(runs + 5):
            sess.run(None, {"input": x})
        events = json.loads(Path(sess.end_profiling()).read_text())
    per_run: dict[str, list[float]] = {}
    for e in events:
        if e.get("cat") == "Node" and e["name"].endswith("_kernel_time"):
            per_run.setdefault(e["name"][: -len("_kernel_time")], []).append(e["dur"] / 1e3)
    out: dict[str, float] = {}
    for node, ms in per_run.items():
        base = re.sub(r"(_relu6|_relu)?_\d+(_nchwc)?$", "", node)
        out[base] = out.get(base, 0.0) + statistics.median(ms[5:] or ms)
    return out


def layer_table(
    eng, x: np.ndarray, level: int, peak: float | None, ort_ms: dict[str, float], repeats: int = 20
) -> str:
    """Per-layer medians of one image (ours), with GFLOP/s and % of `peak` GFLOP/s (no % without a
    peak), beside ONNX Runtime's time for the same node (`ort_layer_ms`; "-" where it has none).
    FLOPs are the direct convolution's for every layer: a ".../winograd" layer does 4/9 of the
    multiplies, so its rate is an effective one and may pass the peak."""

    def pct(gflops: float) -> str:
        return f"{100 * gflops / peak:6.0f}%" if peak and gflops else f"{'-':>7s}"

    prof = eng.profile(x, level, repeats)
    total = sum(ms for _, _, ms, _ in prof) or 1e-9
    lines = [
        f"    {'layer':32s} {'kind':20s} {'ms':>8s} {'share':>6s} {'MFLOP':>8s} {'GFLOP/s':>8s} "
        f"{'%peak':>7s} {'ORT ms':>8s} {'ORT %pk':>7s}"
    ]
    for name, kind, ms, flops in prof:
        gf = flops / ms / 1e6 if ms > 0 else 0.0
        r = ort_ms.get(name)
        theirs = f"{r:8.3f} {pct(flops / r / 1e6)}" if r else f"{'-':>8s}"
        lines.append(
            f"    {name[:32]:32s} {kind:20s} {ms:8.3f} {100 * ms / total:5.1f}% {flops / 1e6:8.1f} "
            f"{gf:8.1f} {pct(gf)} {theirs}"
        )
    flops = sum(f for *_, f in prof)
    lines.append(
        f"    {'sum of layer medians':53s} {total:8.3f}        {flops / 1e6:8.1f} "
        f"{flops / total / 1e6:8.1f}         {sum(ort_ms.values()):8.3f} (ORT, all its nodes)"
    )
    return "\n".join(lines)


def bench_model(
    name: str,
    threads: list[int],
    repeats: int,
    budget_ms: float,
    layers: bool = False,
    peaks: dict | None = None,
    without_winograd: bool = False,
) -> tuple[list[Row], dict]:
    import onnxruntime as ort

    from allinone import Engine

    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        aio_path = build_model(name, workdir)
        probe = Engine(str(aio_path), threads=1)
        x = np.random.default_rng(0).standard_normal((1, *probe.input_shape)).astype(np.float32)
        onnx_paths = []
        for k in range(probe.num_levels):
            p = workdir / f"{name}_L{k}.onnx"
            probe.export_onnx(k, str(p))
            onnx_paths.append(p)

        # set_level cost: alternate between first and last level through the Python binding.
        n_switch = 20000
        t0 = time.perf_counter()
        for i in range(n_switch):
            probe.set_level(i & 1 and probe.num_levels - 1)
        set_level_us = (time.perf_counter() - t0) / n_switch * 1e6
        probe.set_level(0)

        sizes = {
            "aio_file_bytes": aio_path.stat().st_size,
            "onnx_level0_bytes": onnx_paths[0].stat().st_size,
            "onnx_all_levels_bytes": sum(p.stat().st_size for p in onnx_paths),
            "engine_weight_bytes": probe.weight_bytes,
            "engine_weight_bytes_no_winograd": Engine(
                str(aio_path), threads=1, winograd=False
            ).weight_bytes,
            "set_level_us": set_level_us,
        }

        for t in threads:
            eng = Engine(str(aio_path), threads=t)
            eng_nw = Engine(str(aio_path), threads=t, winograd=False) if without_winograd else None
            opts = ort.SessionOptions()
            opts.intra_op_num_threads = t
            opts.inter_op_num_threads = 1
            opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            sessions = [
                ort.InferenceSession(str(p), opts, providers=["CPUExecutionProvider"])
                for p in onnx_paths
            ]
            for k, sess in enumerate(sessions):
                info = eng.levels[k]

                def ours(k=k, eng=eng):
                    eng.run_at(k, x)

                def theirs(sess=sess):
                    sess.run(None, {"input": x})

                def ours_nw(k=k, eng=eng_nw):
                    if eng is not None:
                        eng.run_at(k, x)

                warm = eng.warmup(max_s=2.0, level=k, x=x)
                for fn in (theirs, ours_nw):  # warm-up
                    for _ in range(5):
                        fn()
                est = time_block(ours, 3)
                n = runs_for(est, budget_ms)
                ours_reps: list[float] = []
                ort_reps: list[float] = []
                nw_reps: list[float] = []
                blocks = [(ours, ours_reps), (theirs, ort_reps)]
                if eng_nw is not None:
                    blocks.append((ours_nw, nw_reps))
                # Interleaved so drift hits all alike; the order alternates so neither runtime
                # always runs first after the other's caches.
                for i in range(repeats):
                    for fn, reps in blocks if i % 2 == 0 else blocks[::-1]:
                        reps.append(time_block(fn, n))
                o, r = statistics.median(ours_reps), statistics.median(ort_reps)
                d = statistics.median(nw_reps) if nw_reps else None
                ratio = statistics.median(a / b for a, b in zip(ours_reps, ort_reps, strict=True))
                nw_ratio = (
                    statistics.median(a / b for a, b in zip(nw_reps, ort_reps, strict=True))
                    if nw_reps
                    else None
                )
                flops = info.flops
                rows.append(
                    Row(
                        name,
                        k,
                        info.keep_ratio,
                        t,
                        flops / 1e6,
                        o,
                        r,
                        ratio,
                        flops / o / 1e6,
                        flops / r / 1e6,
                        d,
                        nw_ratio,
                        warm.first_ms,
                        warm.warmup_s,
                    )
                )
                print(
                    f"{name:13s} L{k} keep {info.keep_ratio:.2f} T{t}: ours {o:8.3f} ms  "
                    f"ORT {r:8.3f} ms  ratio {ratio:5.2f}"
                    + (f"  (no Winograd {d:8.3f} ms, ratio {nw_ratio:5.2f})" if d else ""),
                    flush=True,
                )
                if layers:
                    peak = (peaks or {}).get(t) or (peaks or {}).get(1)  # None: --no-peak
                    ort_ms = ort_layer_ms(onnx_paths[k], x, t)
                    print(layer_table(eng, x[0], k, peak, ort_ms), flush=True)
    return rows, sizes


def markdown(rows: list[Row], sizes: dict[str, dict]) -> str:
    nw = any(r.no_winograd_ms for r in rows)
    out = [
        "| model | level | keep | threads | MFLOP | ours ms | ORT ms | ours/ORT | ours GFLOP/s | ORT GFLOP/s |"
        + (" no-Winograd ms | no-Winograd/ORT |" if nw else ""),
        "|---|---|---|---|---|---|---|---|---|---|" + ("---|---|" if nw else ""),
    ]
    for r in rows:
        out.append(
            f"| {r.model} | {r.level} | {r.keep:.2f} | {r.threads} | {r.mflops:.1f} | "
            f"{r.ours_ms:.3f} | {r.ort_ms:.3f} | {r.ratio:.2f} | {r.ours_gflops:.1f} | "
            f"{r.ort_gflops:.1f} |"
            + (
                f" {r.no_winograd_ms:.3f} | {r.no_winograd_ratio:.2f} |"
                if r.no_winograd_ms and r.no_winograd_ratio
                else ""
            )
        )
    out += [
        "",
        "| model | set_level (µs, via Python) | .aio file MB | engine weights MB | engine weights MB, winograd=False | ONNX level 0 MB | ONNX, one file per level, MB |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, s in sizes.items():
        out.append(
            f"| {name} | {s['set_level_us']:.2f} | {s['aio_file_bytes'] / 1e6:.2f} | "
            f"{s['engine_weight_bytes'] / 1e6:.2f} | "
            f"{s['engine_weight_bytes_no_winograd'] / 1e6:.2f} | {s['onnx_level0_bytes'] / 1e6:.2f} | "
            f"{s['onnx_all_levels_bytes'] / 1e6:.2f} |"
        )
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--models", nargs="+", default=list(CASES), choices=list(CASES))
    ap.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    ap.add_argument("--repeats", type=int, default=5, help="interleaved repeats (median reported)")
    ap.add_argument("--budget-ms", type=float, default=300.0, help="time per repeat per runtime")
    ap.add_argument("--json", help="write rows and sizes as JSON here")
    ap.add_argument(
        "--layers", action="store_true", help="print per-layer times (ours) for every cell"
    )
    ap.add_argument("--no-peak", action="store_true", help="skip the peak probes")
    ap.add_argument(
        "--size",
        type=int,
        help="input height and width instead of each model's default (e.g. 96: activations in L2)",
    )
    ap.add_argument(
        "--without-winograd",
        action="store_true",
        help="also time ours with Engine(winograd=False), interleaved (what Winograd buys)",
    )
    args = ap.parse_args()

    import onnxruntime as ort
    from allinone._core import isa, isa_features

    from allinone import __version__

    peaks: dict[int, float] = {}  # FMA peak per thread count: the % of peak columns
    sgemm: dict[int, float] = {}
    if not args.no_peak:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        import peak as peak_probe

        for t in sorted(set(args.threads) | {1}):
            peaks[t] = peak_probe.fma_peak(t)
            sgemm[t] = peak_probe.measure(t)["best"]

    def per_thread(d: dict[int, float]) -> str:
        return ", ".join(f"{t} thread{'s' if t > 1 else ''} {p:.1f}" for t, p in sorted(d.items()))

    header = (
        f"machine: {cpu_name()}, {os.cpu_count()} logical CPUs; allinone {__version__} (ISA {isa()}"
        f"{', ' + isa_features() if isa_features() else ''}), "
        f"onnxruntime {ort.__version__}; repeats {args.repeats}, medians of per-repeat medians, "
        f"ratios paired per repeat; "
        f"measured FP32 peak (FMA loop, GFLOP/s): {per_thread(peaks) or 'not measured'}; "
        f"numpy SGEMM: {per_thread(sgemm) or 'not measured'}"
    )
    print(header, flush=True)
    rows: list[Row] = []
    sizes: dict[str, dict] = {}
    if args.size:
        for name in args.models:
            c, _, _ = CASES[name][0]
            CASES[name] = ((c, args.size, args.size), CASES[name][1])
    for name in args.models:
        r, s = bench_model(
            name,
            args.threads,
            args.repeats,
            args.budget_ms,
            args.layers,
            peaks,
            args.without_winograd,
        )
        rows += r
        sizes[name] = s
    print()
    print(header)
    print(markdown(rows, sizes))
    if args.json:
        from allinone.device.context import run_context

        Path(args.json).write_text(
            json.dumps(
                {
                    "header": header,
                    "isa": isa(),
                    "isa_features": isa_features(),
                    "peaks": peaks,
                    "sgemm": sgemm,
                    "rows": [asdict(r) for r in rows],
                    "sizes": sizes,
                    "context": run_context(emulated=False),
                },
                indent=1,
            )
        )


if __name__ == "__main__":
    main()
