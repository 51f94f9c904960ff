#!/usr/bin/env python3
"""Make allinone/data/demo.aio, the small Fashion-MNIST model that `allinone demo` ships with.

A narrowed VGG-small (24-24-M-48-48-M-96-96-M, GAP, 128-unit head) for 1x28x28 inputs; 12 nested
levels whose FLOPs fall ~10 % per level (the exporter's ``budget_levels``); trained with
``allinone.train`` on a subset of the Fashion-MNIST training set (Debian package
``dataset-fashion-mnist``), evaluated on the full test set, written with the class names as
labels. Also writes allinone/data/DEMO_MODEL.md describing the run.

    PYTHONPATH=. python tools/make_demo_model.py            # ~ a few minutes on one core
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import torch

from allinone import zoo
from allinone.exporter import budget_levels
from allinone.train import (
    CLASS_NAMES,
    NestedModel,
    NestedTrainer,
    batches,
    export_nested,
    fit,
    load_fashion_mnist,
    reference_output,
)

ROOT = Path(__file__).resolve().parents[1]
CFG = (24, 24, "M", 48, 48, "M", 96, 96, "M")
HIDDEN = 128


def build() -> torch.nn.Module:
    return zoo.VGGSmall(in_channels=1, num_classes=len(CLASS_NAMES), cfg=CFG, hidden=HIDDEN)


def engine_check(path: Path, nested: NestedModel, x: torch.Tensor) -> str:
    """Compare every level of the file, run by the C++ engine, with the PyTorch model."""
    try:
        from allinone import Engine
    except ImportError as exc:
        return f"not checked against the C++ engine (not importable: {exc})"
    eng = Engine(str(path))
    worst = 0.0
    for k in range(nested.n_levels):
        ref = reference_output(nested, k, x).numpy()
        got = eng.run_at(k, x.numpy())
        worst = max(worst, float(abs(got.reshape(ref.shape) - ref).max() / abs(ref).max()))
    return (
        f"engine vs PyTorch, all levels, {len(x)} test images: max |diff| / max |ref| = {worst:.1e}"
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--limit-train", type=int, default=24000)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--lr", type=float, default=0.05)
    ap.add_argument("--levels", type=int, default=12)
    ap.add_argument("--step", type=float, default=0.9, help="FLOP ratio between adjacent levels")
    ap.add_argument("--min-keep", type=float, default=0.25, help="no group below this share")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("-o", "--output", type=Path, default=ROOT / "allinone/data/demo.aio")
    ap.add_argument("--notes", type=Path, default=ROOT / "allinone/data/DEMO_MODEL.md")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    x_train, y_train = load_fashion_mnist("train", args.data_dir, args.limit_train)
    x_test, y_test = load_fashion_mnist("test", args.data_dir)
    model = build()
    example = torch.from_numpy(x_train[:2])
    levels = budget_levels(
        model, example, n_levels=args.levels, step=args.step, min_keep=args.min_keep
    )
    nested = NestedModel(model, levels, example)
    steps = args.epochs * -(-len(x_train) // args.batch_size)
    trainer = NestedTrainer(nested, total_steps=steps, lr=args.lr, seed=args.seed)
    t0 = time.perf_counter()
    fit(trainer, x_train, y_train, args.epochs, args.batch_size, seed=args.seed)
    train_s = time.perf_counter() - t0
    acc = trainer.evaluate(batches(x_test, y_test, 500))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    export_nested(nested, args.output, name="vgg_tiny_fmnist", labels=list(CLASS_NAMES))
    size = args.output.stat().st_size
    check = engine_check(args.output, nested, torch.from_numpy(x_test[:64]))

    full_macs = nested.cost(0)[0]
    lines = [
        "| level | MFLOPs | FLOPs vs level 0 | params | widths (per group) | test acc % |",
        "|---:|---:|---:|---:|---|---:|",
    ]
    for k in range(nested.n_levels):
        macs, params = nested.cost(k)
        widths = ",".join(str(w) for w in nested.level_widths[k])
        lines.append(
            f"| {k} | {2 * macs / 1e6:.2f} | {macs / full_macs:.3f} | {params:,} | {widths} "
            f"| {100 * acc[k]:.2f} |"
        )
    table = "\n".join(lines)
    notes = f"""# demo.aio: how it was made

`allinone/data/demo.aio` is the model `allinone demo` runs. It is regenerated with

```bash
PYTHONPATH=. python tools/make_demo_model.py \\
    --epochs {args.epochs} --limit-train {args.limit_train} --batch-size {args.batch_size}
```

- **Model:** VGG-small narrowed to conv {"-".join(str(c) for c in CFG)} (3x3, BN, ReLU),
  global average pool, Linear {HIDDEN} + ReLU, Linear 10; input 1x28x28
  (`tools/make_demo_model.py:build`).
- **Data:** Fashion-MNIST from the Debian package `dataset-fashion-mnist`
  (`/usr/share/datasets/fashion-mnist/`): the first {len(x_train):,} training images, pixels scaled
  to [0, 1], no augmentation; accuracy on the full {len(x_test):,}-image test set.
- **Levels:** {nested.n_levels} nested levels from `allinone.exporter.levels.budget_levels`
  (step {args.step}: each level has ~{100 * (1 - args.step):.0f} % fewer FLOPs than the one before;
  widths per channel group chosen greedily from the untrained model's L1 importance, no group
  below {args.min_keep:.0%} of its channels).
- **Training:** `allinone.train` (learned nested channel masks, soft with an annealed temperature
  then hard for the last quarter of the steps, a BatchNorm per level, sandwich rule: largest +
  smallest + 2 random levels per step, in-place distillation from the largest level),
  {args.epochs} epoch(s), batch {args.batch_size}, SGD momentum 0.9, lr {args.lr} cosine,
  weight decay 5e-4, seed {args.seed}; BN statistics re-estimated per level on 2,048 training
  images at the end.
  Took {train_s:.0f} s on {args.threads} CPU thread(s)
  ({platform.processor() or platform.machine()}, torch {torch.__version__}).
- **Export:** `allinone.train.export_nested` (learned scores as the exporter's `importance`,
  each level's own BatchNorm folded into its scale/bias). File size {size:,} bytes.
- **Check:** {check}.
- **Labels:** {", ".join(CLASS_NAMES)}.

MFLOPs count 2 FLOPs per multiply-accumulate of the convs and linears (one image).

{table}
"""
    args.notes.write_text(notes)
    print(notes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
