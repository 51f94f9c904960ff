#!/usr/bin/env python3
"""Make allinone/data/demo.aio, the Fashion-MNIST model `allinone demo` ships with.

Trains zoo ``resnet14`` (a CIFAR-style ResNet-14, 32/64/128 channels, on the native 1x28x28
images) with ``allinone train``: 12 nested levels allocated by the latency budget (``--budget
latency``: each level ~10 % faster than the one before, by the engine's measured per-layer
latencies on this machine), every level's test accuracy stored in the file. Then times every level
with the engine (1 thread, batch 1), checks the engine's accuracy on test images against the stored
figures, and writes allinone/data/DEMO_MODEL.md describing the run.

    PYTHONPATH=. python tools/make_demo_model.py   # trains: ~70 min on 2 busy shared cores
    PYTHONPATH=. python tools/make_demo_model.py --trained m.aio --train-seconds S --train-log L
        # a file `allinone train` already made with the arguments below: only measure and write
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
N_LEVELS, STEP = 12, 0.9
TRAIN_ARGS = [
    "--model", "resnet14",
    "--levels", ",".join(f"{STEP**k:.4f}" for k in range(N_LEVELS)),
    "--budget", "latency",
    "--epochs", "4",
    "--limit-train", "60000",
    "--batch-size", "128",
    "--middle-levels", "1",
    "--lr", "0.1",
    "--threads", "2",
    "--seed", "0",
]  # fmt: skip
# libgomp's threads spin at barriers by default; on a shared 2-core machine a spinning thread
# whose partner lost its core wastes the slice: 2 threads trained at 11.5 images/s spinning and
# 21.4 passive in one measurement (resnet14, batch 128, load ~5 on 2 cores).
TRAIN_ENV = {"OMP_WAIT_POLICY": "PASSIVE"}


def train_arg(name: str) -> str:
    """The value TRAIN_ARGS gives ``--name``."""
    return TRAIN_ARGS[TRAIN_ARGS.index(f"--{name}") + 1]


def time_levels(path: Path, rounds: int) -> list[float]:
    """Median ms per level, 1 thread, batch 1, levels interleaved round by round."""
    from allinone import Engine
    from allinone.dvfs.table import make_input

    eng = Engine(str(path), threads=1)
    x = make_input(eng)
    for k in range(eng.num_levels):
        eng.run_at(k, x)
    samples: list[list[float]] = [[] for _ in range(eng.num_levels)]
    for _ in range(rounds):
        for k in range(eng.num_levels):
            eng.run_at(k, x)  # the caches hold this level's weights, as in an app
            t0 = time.perf_counter()
            eng.run_at(k, x)
            samples[k].append((time.perf_counter() - t0) * 1e3)
    return [float(np.median(s)) for s in samples]


def engine_accuracy(path: Path, n: int) -> list[float]:
    """Each level's accuracy on the first n test images, run by the C++ engine."""
    from allinone import Engine
    from allinone.train.data import load_fashion_mnist

    x, y = load_fashion_mnist("test", None, n)
    eng = Engine(str(path), threads=1)
    acc = []
    for k in range(eng.num_levels):
        pred = np.concatenate(
            [eng.run_at(k, x[i : i + 100]).reshape(-1, 10).argmax(1) for i in range(0, n, 100)]
        )
        acc.append(float((pred == y).mean()))
    return acc


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    ap.add_argument("--trained", type=Path, help="skip training: a file made by TRAIN_ARGS")
    ap.add_argument("--train-seconds", type=float, default=0.0, help="with --trained: its time")
    ap.add_argument("--train-log", type=Path, help="with --trained: its output (for the table)")
    ap.add_argument("--rounds", type=int, default=200, help="timing rounds per level")
    ap.add_argument("--check-images", type=int, default=2000, help="engine accuracy check")
    ap.add_argument("-o", "--output", type=Path, default=ROOT / "allinone/data/demo.aio")
    ap.add_argument("--notes", type=Path, default=ROOT / "allinone/data/DEMO_MODEL.md")
    ap.add_argument(
        "--conditions",
        default="load average about 5",
        help="how busy the machine was while training (for the notes)",
    )
    args = ap.parse_args()

    if args.trained is None:
        tmp = args.output.with_suffix(".new.aio")
        cmd = [sys.executable, "-m", "allinone", "train", *TRAIN_ARGS, "-o", str(tmp)]
        t0 = time.perf_counter()
        env = {**os.environ, **TRAIN_ENV}
        run = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env)
        train_s = time.perf_counter() - t0
        train_out = run.stdout
        shutil.move(tmp, args.output)
    else:
        if args.trained.resolve() != args.output.resolve():
            shutil.copyfile(args.trained, args.output)
        train_s = args.train_seconds
        train_out = args.train_log.read_text() if args.train_log else ""
    train_out = re.sub(r"\r[^\n]*(?=\r)", "", train_out)  # progress redraws, if captured on a tty

    from allinone import Engine
    from allinone.format import level_accuracy, load

    model = load(args.output)
    acc = level_accuracy(model)
    if acc is None:
        raise SystemExit(f"{args.output} stores no per-level accuracy: not made by allinone train")
    eng = Engine(str(args.output), threads=1)
    ms = time_levels(args.output, args.rounds)
    check = engine_accuracy(args.output, args.check_images)
    size = args.output.stat().st_size
    f0 = eng.levels[0].flops
    rows = [
        "| level | MFLOPs | FLOPs vs level 0 | ms (1 thread) | vs previous level | test acc % "
        f"(PyTorch, 10,000) | engine acc % (first {args.check_images:,}) |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for k, lv in enumerate(eng.levels):
        prev = f"{ms[k] / ms[k - 1]:.3f}" if k else "-"
        rows.append(
            f"| {k} | {lv.flops / 1e6:.1f} | {lv.flops / f0:.3f} | {ms[k]:.3f} | {prev} "
            f"| {100 * acc[k]:.2f} | {100 * check[k]:.2f} |"
        )
    with open("/proc/cpuinfo") as f:
        cpu = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), "?")
    import torch

    cmdline = " ".join(TRAIN_ARGS).replace(" --", " \\\n    --")
    env = " ".join(f"{k}={v}" for k, v in TRAIN_ENV.items())
    n_train, epochs = int(train_arg("limit-train")), int(train_arg("epochs"))
    middle = int(train_arg("middle-levels"))
    passes = "one pass" if epochs == 1 else f"{epochs} passes"
    short = ""
    if acc[0] < 0.91:
        spread = 100 * (max(acc) - min(acc))
        short = (
            f" Issue 19 asks for 91 % at level 0: this run is {91 - 100 * acc[0]:.1f} points"
            f" short. All levels lie within {spread:.1f} points of one another, so the width"
            " is not what limits them: a longer run (all 60,000 images, more passes) is owed."
        )
    notes = f"""# demo.aio: how it was made

`allinone/data/demo.aio` is the model `allinone demo` runs: a Fashion-MNIST classifier with
{eng.num_levels} nested pruning levels, level 0 {ms[0]:.2f} ms and level {eng.num_levels - 1}
{ms[-1]:.2f} ms per image on one thread of this machine ({cpu}), {100 * acc[0]:.2f} % to
{100 * min(acc):.2f} % accurate. It was trained with

```bash
{env} allinone train {cmdline} \\
    -o demo.aio
```

(`tools/make_demo_model.py` runs exactly that, then measures and writes this page.)

- **Network:** zoo `resnet14`: a CIFAR-style ResNet-14 (3x3 stem, three stages of two basic
  blocks with 32, 64 and 128 channels, stride 2 between stages, 1x1 conv shortcuts, global
  average pool, Linear 10) on the native 1x28x28 images. {f0 / 1e6:.0f} MFLOPs at level 0.
- **Data:** Fashion-MNIST from the Debian package `dataset-fashion-mnist`
  (`/usr/share/datasets/fashion-mnist/`): the first {n_train:,} of the 60,000 training images,
  pixels scaled to [0, 1], no augmentation; accuracy on the full 10,000-image test set.
- **Levels:** `--budget latency`: the engine profiled the untrained network's layers at a few
  uniform widths on this machine (`allinone.exporter.latency`), and `budget_levels` allocated each
  level's channels across layers so that its predicted latency is 0.9^k of level 0's.
- **Training:** `allinone train` (learned nested channel masks, a BatchNorm per level, sandwich
  rule with in-place distillation: each step trains the largest, the smallest and {middle} random
  middle level(s), SGD momentum 0.9, batch {train_arg("batch-size")}, cosine learning rate, BN
  statistics re-estimated per level at the end), {passes} over {n_train:,} images,
  {train_s / 60:.0f} minutes (evaluation of every level included) on 2 threads of the 2-core VM,
  shared with other engineers' compiles, tests and qemu runs ({args.conditions}) (torch
  {torch.__version__}, Python {platform.python_version()}). The size of the run was set by the
  time available; more data and epochs should gain accuracy.{short}
- **File:** {size:,} bytes; every level's test accuracy is stored in it (`allinone info
  allinone/data/demo.aio` prints them).
- **Check:** the C++ engine's accuracy on the first {args.check_images:,} test images, per level,
  beside PyTorch's on all 10,000 (last column).
- **Latency:** `Engine(demo.aio, threads=1).run_at(k, x)`, batch 1, median of {args.rounds}
  interleaved rounds (each timed run after an untimed run of the same level), measured while
  other jobs shared the machine.

MFLOPs count 2 FLOPs per multiply-accumulate of the convs and the linear layer (one image).

{chr(10).join(rows)}
"""
    if train_out.strip():
        notes += f"\n`allinone train` printed:\n\n```\n{train_out.strip()}\n```\n"
    args.notes.write_text(notes)
    print(notes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
