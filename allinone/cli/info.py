"""``allinone info MODEL [--json]``: a model's levels table (FLOPs, parameters, widths)."""

from __future__ import annotations

import argparse
import json
import os
from typing import Any


def register(subparsers: Any) -> None:
    """Add the ``info`` sub-command."""
    p = subparsers.add_parser(
        "info",
        help="show a model's pruning levels",
        description="Print a .aio model's name, input shape, kernel ISA and its levels table.",
    )
    p.add_argument("model", help="path of a .aio file")
    p.add_argument("--json", action="store_true", help="print machine-readable JSON")
    p.set_defaults(func=run)


def _widths_summary(widths: tuple[int, ...], full: tuple[int, ...]) -> str:
    """Total channels kept over all groups, e.g. ``352/704 (50%) in 12 groups``."""
    kept, total = sum(widths), sum(full)
    pct = 100.0 * kept / total if total else 0.0
    return f"{kept}/{total} ({pct:.0f}%) in {len(widths)} groups"


def describe(path: str) -> dict[str, Any]:
    """Everything ``info`` shows, as plain data."""
    from allinone import _core
    from allinone.format import level_accuracy, load
    from allinone.runtime import Engine

    engine = Engine(path, threads=1)
    levels = engine.levels
    accuracy = level_accuracy(load(path))
    base = levels[0].flops or 1
    full = levels[0].widths
    return {
        "path": path,
        "name": engine.name,
        "input_shape": list(engine.input_shape),
        "output_shape": list(engine.output_shape_at(0)),
        "isa": _core.isa(),
        "isa_features": _core.isa_features(),
        "file_bytes": os.path.getsize(path),
        "weight_bytes": engine.weight_bytes,
        "labels": engine.labels,
        "levels": [
            {
                "level": k,
                "keep_ratio": lv.keep_ratio,
                "widths": list(lv.widths),
                "widths_summary": _widths_summary(lv.widths, full),
                "flops": lv.flops,
                "mflops": lv.flops / 1e6,
                "params": lv.params,
                "relative_flops": lv.flops / base,
                "accuracy": None if accuracy is None else accuracy[k],
            }
            for k, lv in enumerate(levels)
        ],
    }


def run(args: argparse.Namespace) -> int:
    """Print the description of ``args.model``."""
    info = describe(args.model)
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    c, h, w = info["input_shape"]
    print(f"model   {info['name']}  ({info['path']}, {info['file_bytes']:,} bytes)")
    print(f"input   {c}x{h}x{w}   output {'x'.join(map(str, info['output_shape']))}")
    features = f" ({info['isa_features']})" if info["isa_features"] else ""
    print(f"isa     {info['isa']}{features}   weights in memory {info['weight_bytes']:,} bytes")
    if info["labels"]:
        print(f"labels  {len(info['labels'])}")
    print()
    # Test accuracy per level, when the file stores it (models made by `allinone train`).
    has_acc = any(lv["accuracy"] is not None for lv in info["levels"])
    acc_head = f" {'acc %':>6}" if has_acc else ""
    print(f"{'level':>5} {'keep':>6} {'MFLOPs':>10} {'params':>12} {'rel':>6}{acc_head}  widths")
    for lv in info["levels"]:
        acc = f" {100 * lv['accuracy']:>6.2f}" if has_acc else ""
        print(
            f"{lv['level']:>5} {lv['keep_ratio']:>6.3f} {lv['mflops']:>10.2f} "
            f"{lv['params']:>12,} {lv['relative_flops']:>6.3f}{acc}  {lv['widths_summary']}"
        )
    return 0
