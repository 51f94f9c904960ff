"""One layer, ours versus ONNX Runtime, paired in one process: for a kernel change, where a whole
model's run-to-run spread on a shared host hides a few percent.

A layer spec builds a small PyTorch module (conv + BatchNorm + activation), exports it with one
level, exports the engine's own sliced ONNX of it (``Engine.export_onnx``), checks both runtimes
agree, then times them in alternating blocks and prints the median of the per-block ratios, and
each runtime's per-node times (ours from ``Engine.profile``, ORT's from its profiler). ORT's whole
time includes its NCHWc reorders at the graph's ends, which a model pays once: a lone layer
flatters us by that much.

    python benchmarks/one_layer.py dw:5:1:240:28          # depthwise 5x5 stride 1, 240 ch, 28x28
    python benchmarks/one_layer.py dw:3:2:96:112:relu pw:16:64:112 --threads 2
    python benchmarks/one_layer.py mnv3_112                # MobileNetV3-Large's 112x112 layers

Specs: ``dw:K:S:C:H[:act]`` (depthwise), ``pw:CIN:COUT:H[:act]`` (1x1), ``conv:K:S:CIN:COUT:H[:act]``,
and ``mnv3_112`` (a chain: dw 3x3 16, 1x1 16 -> 16, 1x1 16 -> 64, dw 3x3/2 64, 1x1 64 -> 24).
Activations: silu (default), relu, relu6, hardswish, none. Needs torch and onnxruntime.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from latency import ort_layer_ms  # noqa: E402  (the benchmarks folder is not a package)


def build(spec: str):  # -> tuple[torch.nn.Module, tuple[int, int, int]]
    from torch import nn

    acts = {
        "silu": nn.SiLU,
        "relu": nn.ReLU,
        "relu6": nn.ReLU6,
        "hardswish": nn.Hardswish,
        "none": nn.Identity,
    }

    def block(cin: int, cout: int, k: int, s: int, groups: int, act: str) -> list[nn.Module]:
        conv = nn.Conv2d(cin, cout, k, s, k // 2, groups=groups, bias=False)
        return [conv, nn.BatchNorm2d(cout), acts[act]()]

    if spec == "mnv3_112":
        layers = (
            block(16, 16, 3, 1, 16, "relu")
            + block(16, 16, 1, 1, 1, "none")
            + block(16, 64, 1, 1, 1, "relu")
            + block(64, 64, 3, 2, 64, "relu")
            + block(64, 24, 1, 1, 1, "none")
        )
        return nn.Sequential(*layers), (16, 112, 112)
    kind, *rest = spec.split(":")
    act = rest.pop() if rest and not rest[-1].isdigit() else "silu"
    n = [int(v) for v in rest]
    if kind == "dw" and len(n) == 4:
        k, s, c, h = n
        return nn.Sequential(*block(c, c, k, s, c, act)), (c, h, h)
    if kind == "pw" and len(n) == 3:
        cin, cout, h = n
        return nn.Sequential(*block(cin, cout, 1, 1, 1, act)), (cin, h, h)
    if kind == "conv" and len(n) == 5:
        k, s, cin, cout, h = n
        return nn.Sequential(*block(cin, cout, k, s, 1, act)), (cin, h, h)
    raise SystemExit(f"bad layer spec {spec!r} (see --help)")


def block_ms(fn: Callable[[], object], runs: int) -> float:
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples) * 1e3


def bench(spec: str, threads: int, rounds: int, runs: int) -> None:
    import onnxruntime as ort
    import torch

    from allinone import Engine
    from allinone.exporter import export

    torch.manual_seed(0)
    model, shape = build(spec)
    model.eval()
    for m in model.modules():  # random statistics, so that folding matters
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    with tempfile.TemporaryDirectory() as tmp:
        aio, onnx = Path(tmp) / "m.aio", Path(tmp) / "m.onnx"
        export(model, str(aio), torch.randn(1, *shape), levels=[1.0], round_to=8, name=spec)
        eng = Engine(str(aio), threads=threads)
        eng.export_onnx(0, str(onnx))
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        sess = ort.InferenceSession(str(onnx), opts, providers=["CPUExecutionProvider"])
        x = np.random.default_rng(0).standard_normal((1, *shape)).astype(np.float32)
        ref = sess.run(None, {"input": x})[0]
        ours_y = eng.run_at(0, x).reshape(ref.shape)
        err = float(np.abs(ours_y - ref).max() / (np.abs(ref).max() + 1e-12))
        if err > 1e-4:
            raise SystemExit(f"{spec}: ours and ORT differ by {err:.2e} of the largest output")

        def ours() -> object:
            return eng.run_at(0, x)

        def theirs() -> object:
            return sess.run(None, {"input": x})

        for _ in range(10):
            ours()
            theirs()
        a_ms, b_ms, ratios = [], [], []
        for r in range(rounds):  # alternate which runtime goes first
            if r % 2:
                a, b = block_ms(ours, runs), block_ms(theirs, runs)
            else:
                b, a = block_ms(theirs, runs), block_ms(ours, runs)
            a_ms.append(a)
            b_ms.append(b)
            ratios.append(a / b)
        print(
            f"{spec} T{threads}: ours {statistics.median(a_ms):.4f} ms  "
            f"ORT {statistics.median(b_ms):.4f} ms  ratio {statistics.median(ratios):.3f} "
            f"(range {min(ratios):.3f}-{max(ratios):.3f}, {rounds} rounds)  max rel diff {err:.1e}"
        )
        for name, kind, ms, _flops in eng.profile(x, 0, 50):
            print(f"    ours {name + ' ' + kind:<40} {ms:.4f} ms")
        for name, ms in ort_layer_ms(onnx, x, threads, 50).items():
            print(f"    ORT  {name:<40} {ms:.4f} ms")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("specs", nargs="+", help="layer specs (module docstring)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=11, help="alternating blocks per runtime")
    ap.add_argument("--runs", type=int, default=30, help="runs per block (median taken)")
    args = ap.parse_args()
    for spec in args.specs:
        bench(spec, args.threads, args.rounds, args.runs)


if __name__ == "__main__":
    main()
