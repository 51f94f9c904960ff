"""``allinone train``: train all nested levels of a zoo model on Fashion-MNIST, export ``.aio``.

Only argparse at import time; PyTorch is imported when the command runs.

Launched with torchrun (``RANK`` and ``WORLD_SIZE`` in the environment), every process joins a
gloo process group, wraps the model in DistributedDataParallel and trains on its
DistributedSampler shard; ``--batch-size`` is then per process. Only rank 0 prints, evaluates and
writes the file:

    python -m torch.distributed.run --nproc_per_node=2 -m allinone train -o m.aio
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

DATASETS = ("fashion-mnist",)
DEFAULT_DATA_DIR = "/usr/share/datasets/fashion-mnist"


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "train",
        help="train nested pruning levels of a zoo model and export a .aio file (needs PyTorch)",
        description="Train every pruning level of one weight set at once (learned nested channel "
        "masks, per-level BatchNorm, sandwich rule with in-place distillation) and export it.",
    )
    p.add_argument("--model", default="resnet20", help="zoo model (resnet20, vgg_small, ...)")
    p.add_argument("--data", default="fashion-mnist", help="dataset (fashion-mnist)")
    p.add_argument("--data-dir", default=DEFAULT_DATA_DIR, help="directory of the IDX files")
    p.add_argument(
        "--levels", default="1,0.75,0.5,0.25", help="keep ratios, strictly decreasing (1,0.5,...)"
    )
    p.add_argument(
        "--budget",
        choices=("keep", "flops", "latency"),
        default="keep",
        help="what --levels are fractions of: channels kept in every group (keep), or level "
        "0's FLOPs or latency (measured per layer by the engine), with widths allocated "
        "across layers (default keep)",
    )
    p.add_argument("--epochs", type=int, default=1, help="passes over the training data")
    p.add_argument(
        "--batch-size", type=int, default=128, help="images per step (per process under torchrun)"
    )
    p.add_argument("--lr", type=float, default=0.05, help="peak SGD learning rate (cosine decay)")
    p.add_argument("--limit-train", type=int, default=None, help="use the first N training images")
    p.add_argument(
        "--limit-test", type=int, default=None, help="evaluate on the first N test images"
    )
    p.add_argument(
        "--middle-levels",
        type=int,
        default=2,
        help="random middle levels trained per step beside the largest and smallest (sandwich "
        "rule; default 2, fewer is faster)",
    )
    p.add_argument("--round-to", type=int, default=1, help="round level widths to this multiple")
    p.add_argument("--threads", type=int, default=1, help="PyTorch CPU threads")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("-o", "--output", required=True, help="the .aio file to write")
    p.set_defaults(func=run)


def _check_args(args: argparse.Namespace) -> list[float]:
    from allinone.train.levels import parse_levels

    levels = parse_levels(args.levels)
    if args.data not in DATASETS:
        raise ValueError(f"unknown dataset {args.data!r}; choose from {', '.join(DATASETS)}")
    if not Path(args.data_dir).is_dir():
        raise FileNotFoundError(
            f"Fashion-MNIST not found: {args.data_dir} does not exist "
            "(install it with `apt-get install dataset-fashion-mnist`, or pass --data-dir)"
        )
    for name in ("epochs", "batch_size", "threads", "round_to"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be >= 1")
    if args.middle_levels < 0:
        raise ValueError("--middle-levels must be >= 0")
    return levels


def run(args: argparse.Namespace) -> int:
    """Check the arguments, join the torchrun process group if launched by torchrun, train."""
    levels = _check_args(args)
    try:
        import torch  # noqa: F401
    except ImportError:
        raise RuntimeError(
            "allinone train needs PyTorch: pip install 'allinone[train]' (torch==2.13.0, CPU)"
        ) from None

    from allinone import zoo

    if args.model not in zoo.NAMES:
        raise ValueError(f"unknown model {args.model!r}; choose from {', '.join(zoo.NAMES)}")
    distributed = "RANK" in os.environ and "WORLD_SIZE" in os.environ
    rank, world = 0, 1
    if distributed:
        from allinone.train.distributed import init_distributed

        rank, world = init_distributed("gloo")
    try:
        return _train(args, levels, rank, world, distributed)
    finally:
        if distributed:
            from allinone.train.distributed import shutdown_distributed

            shutdown_distributed()


def _train(
    args: argparse.Namespace, levels: list[float], rank: int, world: int, distributed: bool
) -> int:
    """Train (one process of a data-parallel run when ``distributed``); rank 0 reports."""
    import torch

    from allinone import zoo
    from allinone.train import (
        CLASS_NAMES,
        NestedModel,
        NestedTrainer,
        batches,
        export_nested,
        fit,
        load_fashion_mnist,
    )

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    x_train, y_train = load_fashion_mnist("train", args.data_dir, args.limit_train)
    model = zoo.get(args.model, in_channels=1, num_classes=len(CLASS_NAMES))
    example = torch.from_numpy(x_train[:2])
    designed: list[float] | list[list[int]] = levels
    if args.budget != "keep":
        from allinone.exporter import budget_levels
        from allinone.exporter.latency import measure_layer_latency

        latency = (
            measure_layer_latency(model, example, threads=args.threads)
            if args.budget == "latency"
            else None
        )
        designed = budget_levels(
            model, example, ratios=levels, round_to=args.round_to, latency=latency
        )
    nested = NestedModel(model, designed, example, round_to=args.round_to)
    t0 = time.perf_counter()
    if distributed:
        from allinone.train.distributed import fit_distributed, steps_per_epoch, wrap_ddp

        steps = args.epochs * steps_per_epoch(len(x_train), args.batch_size, world)
        trainer = NestedTrainer(
            nested,
            total_steps=steps,
            lr=args.lr,
            n_middle=args.middle_levels,
            seed=args.seed,
            module=wrap_ddp(nested),
        )
        fit_distributed(trainer, x_train, y_train, args.epochs, args.batch_size, seed=args.seed)
    else:
        steps = args.epochs * ((len(x_train) + args.batch_size - 1) // args.batch_size)
        trainer = NestedTrainer(
            nested, total_steps=steps, lr=args.lr, n_middle=args.middle_levels, seed=args.seed
        )
        fit(trainer, x_train, y_train, args.epochs, args.batch_size, seed=args.seed)
    seconds = time.perf_counter() - t0
    if rank != 0:
        return 0
    x_test, y_test = load_fashion_mnist("test", args.data_dir, args.limit_test)
    acc = trainer.evaluate(batches(x_test, y_test, 256))
    export_nested(
        nested,
        args.output,
        name=args.model,
        labels=list(CLASS_NAMES),
        accuracy=[acc[k] for k in range(nested.n_levels)],
    )
    how = f"{world} processes (DDP, gloo), " if distributed else ""
    print(
        f"trained {args.model} on {len(x_train)} images, {args.epochs} epoch(s), "
        f"{how}{seconds:.0f} s"
    )
    print(f"wrote {args.output}; test accuracy on {len(x_test)} images:")
    print(format_table(nested, acc))
    return 0


def format_table(nested: object, acc: dict[int, float]) -> str:
    """The closing per-level table: keep ratio, accuracy, MFLOPs (2 per MAC), parameters."""
    rows = [f"{'level':>5} {'keep':>6} {'acc %':>7} {'MFLOPs':>9} {'params':>9}"]
    for k in range(nested.n_levels):  # type: ignore[attr-defined]
        macs, params = nested.cost(k)  # type: ignore[attr-defined]
        keep = nested.keep_ratios[k]  # type: ignore[attr-defined]
        rows.append(f"{k:>5} {keep:>6.3f} {100 * acc[k]:>7.2f} {2 * macs / 1e6:>9.2f} {params:>9,}")
    return "\n".join(rows)
