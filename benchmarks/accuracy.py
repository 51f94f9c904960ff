#!/usr/bin/env python3
"""Accuracy of every pruning level on Fashion-MNIST: one nested weight set vs two baselines.

For each level (keep ratio 1.0 / 0.75 / 0.5 / 0.25 of every channel group by default):

(a) **allinone**: one weight set trained with ``allinone.train`` (learned nested masks, per-level
    BatchNorm, sandwich rule, in-place distillation), exported with ``export_nested`` and
    evaluated **through the C++ engine** (``Engine.run_at``) on the test set.
(b) **scratch**: the same architecture physically cut to the level's widths (the exporter's
    ``slice_model`` on an untrained model, then every layer re-initialised for its new shape),
    trained from scratch: "rethinking the value of network pruning" (Liu et al., ICLR 2019).
(c) **dense → L1 + BN**: one dense model trained once, then converted after training: channels
    ranked by L1 importance (BN-folded), each level the top prefix, BatchNorm statistics
    re-estimated per level on 2,048 training images, nothing else (no fine-tuning).

Budget: every training run, the nested one (a), each of the four (b) models and the dense (c)
model, gets the same data (the first ``--limit-train`` training images, same shuffling seed), the
same number of epochs and optimiser steps, the same batch size and recipe (SGD + Nesterov
momentum 0.9, cosine learning rate from ``--lr``, weight decay 5e-4) and the same BatchNorm
re-estimation on 2,048 training images at the end. The (b) and (c) models are trained with the
same ``NestedTrainer`` given one level (no masks, no distillation), and are evaluated through the
C++ engine as well, so the three columns differ only in how the weights were obtained. (a) runs a
forward/backward pass for every level in each step, so its wall time is about that of (b)'s four
models together.

    PYTHONPATH=. python benchmarks/accuracy.py --epochs 2 --limit-train 24000 \\
        --json accuracy.json --markdown accuracy.md

Needs PyTorch (``pip install 'allinone[train]'``), the built engine (``allinone._core``) and the
Debian package ``dataset-fashion-mnist``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from allinone import Engine, zoo
from allinone.exporter import export, prepare, slice_model
from allinone.train import (
    CLASS_NAMES,
    NestedModel,
    NestedTrainer,
    export_nested,
    fit,
    load_fashion_mnist,
    reference_output,
)
from allinone.train.levels import parse_levels

CALIB_IMAGES = 2048  # what allinone.train.fit re-estimates BatchNorm on; (c) uses the same images
DEMO_CFG = (24, 24, "M", 48, 48, "M", 96, 96, "M")  # tools/make_demo_model.py's narrowed VGG


def build(name: str) -> nn.Module:
    """The model family: ``demo_vgg`` (the demo's narrowed VGG-small) or a zoo name, 1x28x28."""
    n = len(CLASS_NAMES)
    if name == "demo_vgg":
        return zoo.VGGSmall(in_channels=1, num_classes=n, cfg=DEMO_CFG, hidden=128)
    return zoo.get(name, in_channels=1, num_classes=n)


def narrow(model: nn.Module, example: torch.Tensor, widths: Sequence[Sequence[int]], k: int):
    """``model``'s architecture at level ``k``'s widths, freshly initialised and trainable."""
    state = prepare(model, example, levels=[list(w) for w in widths], importance="l1")
    small = slice_model(state, k, bn_stats=False)
    for m in small.modules():
        reset = getattr(m, "reset_parameters", None)
        if callable(reset):
            reset()  # default init for the sliced shape (fan-in of the narrow layer)
    for p in small.parameters():
        p.requires_grad_(True)
    return small.train()


def train(
    model: nn.Module, levels: Sequence, x: np.ndarray, y: np.ndarray, args: argparse.Namespace
) -> tuple[NestedModel, float]:
    """Train ``model`` with ``levels`` (one level: plain training) on the fixed budget."""
    nested = NestedModel(model, levels, torch.from_numpy(x[:2]))
    steps = args.epochs * -(-len(x) // args.batch_size)
    trainer = NestedTrainer(nested, total_steps=steps, lr=args.lr, seed=args.seed)
    t0 = time.perf_counter()
    fit(
        trainer, x, y, args.epochs, args.batch_size, seed=args.seed, progress=args.progress,
        calib_images=CALIB_IMAGES,
    )  # fmt: skip
    return nested, time.perf_counter() - t0


def engine_accuracy(path: Path, levels: Sequence[int], x: np.ndarray, y: np.ndarray) -> list[float]:
    """Top-1 accuracy of ``levels`` of the ``.aio`` file, run by the C++ engine (one thread)."""
    eng = Engine(str(path), threads=1)
    acc = []
    for k in levels:
        correct = 0
        for i in range(0, len(x), 1000):
            out = eng.run_at(k, np.ascontiguousarray(x[i : i + 1000]))
            correct += int((np.asarray(out).argmax(1) == y[i : i + 1000]).sum())
        acc.append(correct / len(x))
    return acc


def engine_vs_torch(path: Path, nested: NestedModel, x: np.ndarray) -> float:
    """Largest ``|engine − PyTorch| / max|PyTorch|`` over all levels of ``nested`` on ``x``."""
    eng = Engine(str(path), threads=1)
    worst = 0.0
    for k in range(nested.n_levels):
        ref = reference_output(nested, k, torch.from_numpy(x)).numpy()
        got = np.asarray(eng.run_at(k, np.ascontiguousarray(x))).reshape(ref.shape)
        worst = max(worst, float(np.abs(got - ref).max() / np.abs(ref).max()))
    return worst


def cpu_name() -> str:
    """The CPU model (``/proc/cpuinfo`` on Linux) and the number of logical CPUs."""
    name = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{name}, {os.cpu_count()} logical CPUs, {platform.system()}"


def timed(fn: Callable[[], object]) -> tuple[object, float]:
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="demo_vgg", help="demo_vgg, vgg_small, resnet20, ...")
    ap.add_argument("--epochs", type=int, default=2, help="epochs of EVERY training run")
    ap.add_argument("--limit-train", type=int, default=24000, help="first N training images")
    ap.add_argument("--limit-test", type=int, default=None, help="first N test images (all)")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--lr", type=float, default=0.05, help="peak SGD learning rate (cosine)")
    ap.add_argument("--levels", default="1,0.75,0.5,0.25", help="keep ratios per channel group")
    ap.add_argument("--threads", type=int, default=1, help="PyTorch CPU threads")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--data-dir", default=None, help="Fashion-MNIST IDX files (Debian default)")
    ap.add_argument("--only", default="abc", help="which columns to compute (subset of abc)")
    ap.add_argument("--workdir", type=Path, default=None, help="keep the .aio files here")
    ap.add_argument("--json", type=Path, default=None, help="write all results as JSON here")
    ap.add_argument("--markdown", type=Path, default=None, help="write the table here")
    ap.add_argument("--progress", action="store_true", help="show per-epoch progress bars")
    args = ap.parse_args(argv)

    torch.set_num_threads(args.threads)
    ratios = parse_levels(args.levels)
    x_train, y_train = load_fashion_mnist("train", args.data_dir, args.limit_train)
    x_test, y_test = load_fashion_mnist("test", args.data_dir, args.limit_test)
    example = torch.from_numpy(x_train[:2])
    work = args.workdir or Path(tempfile.mkdtemp(prefix="aio-accuracy-"))
    work.mkdir(parents=True, exist_ok=True)
    labels = list(CLASS_NAMES)

    torch.manual_seed(args.seed)
    probe = NestedModel(build(args.model), ratios, example)
    widths = probe.level_widths
    n = len(widths)
    res: dict[str, object] = {
        "model": args.model,
        "levels": ratios,
        "widths": widths,
        "mflops": [2 * probe.cost(k)[0] / 1e6 for k in range(n)],
        "params": [probe.cost(k)[1] for k in range(n)],
        "train_images": len(x_train),
        "test_images": len(x_test),
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "steps_per_run": args.epochs * -(-len(x_train) // args.batch_size),
        "lr": args.lr,
        "seed": args.seed,
        "threads": args.threads,
        "machine": cpu_name(),
        "torch": torch.__version__,
        "python": platform.python_version(),
    }

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    if "a" in args.only:
        torch.manual_seed(args.seed)
        nested, secs = train(build(args.model), widths, x_train, y_train, args)
        path = work / "a_allinone.aio"
        export_nested(nested, path, name=f"{args.model}_nested", labels=labels)
        acc, eval_s = timed(lambda: engine_accuracy(path, range(n), x_test, y_test))
        res["a"] = {"acc": acc, "train_s": secs, "eval_s": eval_s, "file": str(path)}
        res["a"]["engine_vs_torch"] = engine_vs_torch(path, nested, x_test[:256])
        log(f"(a) allinone: {[round(100 * v, 2) for v in acc]}  train {secs:.0f} s")

    if "b" in args.only:
        rows = []
        for k in range(n):
            torch.manual_seed(args.seed)
            model = narrow(build(args.model), example, widths, k)
            nested, secs = train(model, [1.0], x_train, y_train, args)
            path = work / f"b_scratch_level{k}.aio"
            export_nested(nested, path, name=f"{args.model}_scratch{k}", labels=labels)
            (acc,), eval_s = timed(lambda p=path: engine_accuracy(p, [0], x_test, y_test))
            rows.append({"acc": acc, "train_s": secs, "eval_s": eval_s, "file": str(path)})
            log(f"(b) scratch level {k}: {100 * acc:.2f}  train {secs:.0f} s")
        res["b"] = rows

    if "c" in args.only:
        torch.manual_seed(args.seed)
        dense, secs = train(build(args.model), [1.0], x_train, y_train, args)
        calib = [
            torch.from_numpy(x_train[i : i + args.batch_size])
            for i in range(0, min(CALIB_IMAGES, len(x_train)), args.batch_size)
        ]
        path = work / "c_dense_l1.aio"
        _, conv_s = timed(
            lambda: export(
                dense.plain_model(0).eval(), path, example, levels=widths, calib=calib,
                importance="l1", name=f"{args.model}_dense_l1", labels=labels,
            )
        )  # fmt: skip
        acc, eval_s = timed(lambda: engine_accuracy(path, range(n), x_test, y_test))
        res["c"] = {
            "acc": acc, "train_s": secs, "convert_s": conv_s, "eval_s": eval_s, "file": str(path)
        }  # fmt: skip
        log(f"(c) dense->L1+BN: {[round(100 * v, 2) for v in acc]}  train {secs:.0f} s")

    table = markdown_table(res)
    print(table)
    if args.markdown:
        args.markdown.write_text(table + "\n")
    if args.json:
        from allinone.device.context import run_context

        res["context"] = run_context(emulated=False)
        args.json.write_text(json.dumps(res, indent=2) + "\n")
    return 0


def markdown_table(res: dict) -> str:
    """One row per level: cost, the three accuracies, (a)−(b), (a)−(c), and the goal's verdict."""
    n = len(res["levels"])
    a = res.get("a", {}).get("acc")
    b = [r["acc"] for r in res["b"]] if "b" in res else None
    c = res.get("c", {}).get("acc")

    def pct(v: float | None) -> str:
        return "—" if v is None else f"{100 * v:.2f}"

    def diff(u: float | None, v: float | None) -> str:
        return "—" if u is None or v is None else f"{100 * (u - v):+.2f}"

    lines = [
        "| level | keep | MFLOPs | params | (a) allinone % | (b) scratch % | (c) dense→L1+BN % "
        "| (a)−(b) | (a)−(c) | (a) ≥ (b)−1 and > (c) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|:---:|",
    ]
    for k in range(n):
        ak = a[k] if a else None
        bk = b[k] if b else None
        ck = c[k] if c else None
        ok = "—"
        if ak is not None and bk is not None and ck is not None:
            ok = "yes" if ak >= bk - 0.01 and ak > ck else "no"
        lines.append(
            f"| {k} | {res['levels'][k]:.2f} | {res['mflops'][k]:.2f} | {res['params'][k]:,} "
            f"| {pct(ak)} | {pct(bk)} | {pct(ck)} | {diff(ak, bk)} | {diff(ak, ck)} | {ok} |"
        )
    t = []
    if "a" in res:
        t.append(f"(a) {res['a']['train_s']:.0f} s (one run, all levels)")
    if "b" in res:
        each = ", ".join(f"{r['train_s']:.0f}" for r in res["b"])
        t.append(f"(b) {sum(r['train_s'] for r in res['b']):.0f} s ({each} s per level)")
    if "c" in res:
        t.append(
            f"(c) {res['c']['train_s']:.0f} s dense training + {res['c']['convert_s']:.1f} s "
            "conversion"
        )
    lines.append("")
    lines.append(
        f"{res['model']}, {res['train_images']:,} training images, {res['epochs']} epoch(s) = "
        f"{res['steps_per_run']} steps of {res['batch_size']} per training run, "
        f"{res['test_images']:,} test images. Training wall time: " + "; ".join(t) + "."
    )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
