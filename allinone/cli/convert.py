"""``allinone convert model.onnx -o model.aio``: post-training levels for an ONNX CNN.

The ONNX graph is rebuilt as a PyTorch module (:mod:`allinone.exporter.onnx_import`) and
exported with the one exporter (trace → groups → L1 ranking → levels → per-level BatchNorm
folding). Level 0 is the ONNX model itself. With ``--calib`` every level's BatchNorm statistics
are re-estimated on the calibration inputs; for convolutions whose BatchNorm ONNX had folded away,
an identity BatchNorm with the full model's measured output statistics is inserted first (see
allinone/exporter/onnx_import.py), so a pruned level's channels are recentred and rescaled to the
full model's distribution. Without ``--calib`` lower levels are the plainly pruned network (no
statistics change).

PyTorch and onnx are imported only when the command runs.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any


def register(subparsers: argparse._SubParsersAction) -> None:
    """Adds the ``convert`` sub-command."""
    p = subparsers.add_parser(
        "convert",
        help="convert an ONNX CNN to .aio with post-training pruning levels (needs PyTorch, onnx)",
        description="Rebuild an ONNX CNN (Conv, BatchNormalization, Relu, Clip(0,6), HardSwish, "
        "x*Sigmoid(x), Add, MaxPool, AveragePool, GlobalAveragePool, Flatten, Gemm, MatMul+Add) "
        "as a PyTorch module, rank its channels by L1 norm and export nested levels. Level 0 "
        "reproduces the ONNX model; --calib re-estimates per-level BatchNorm statistics.",
    )
    p.add_argument("onnx", help="the ONNX model (one NCHW input with fixed C, H, W)")
    p.add_argument("-o", "--output", required=True, help="the .aio file to write")
    p.add_argument(
        "--levels", default="1,0.75,0.5,0.25", help="keep ratios, strictly decreasing (1,0.5,...)"
    )
    p.add_argument(
        "--calib",
        help="calibration inputs: .npy of shape (N, C, H, W) (or (C, H, W)), float; "
        "used to re-estimate per-level statistics",
    )
    p.add_argument("--calib-batch", type=int, default=32, help="calibration batch size")
    p.add_argument("--round-to", type=int, default=1, help="round level widths to this multiple")
    p.add_argument("--name", help="model name stored in the file (default: the ONNX file's stem)")
    p.add_argument("--labels", help="text file with one class label per line")
    p.add_argument("--json", action="store_true", help="print a machine-readable summary")
    p.set_defaults(func=run)


def load_calib(path: str, input_shape: tuple[int, int, int], batch: int) -> list[Any]:
    """The calibration array of ``path`` split into float32 torch batches of ``batch``."""
    import numpy as np
    import torch

    arr = np.load(path, allow_pickle=False)
    if arr.ndim == 3:
        arr = arr[None]
    if arr.ndim != 4 or tuple(arr.shape[1:]) != tuple(input_shape):
        raise ValueError(
            f"{path}: calibration inputs must be (N, {', '.join(map(str, input_shape))}), "
            f"got {arr.shape}"
        )
    if batch < 1:
        raise ValueError("--calib-batch must be >= 1")
    arr = np.ascontiguousarray(arr, dtype=np.float32)
    return [torch.from_numpy(arr[i : i + batch]) for i in range(0, arr.shape[0], batch)]


def convert(
    onnx_path: str,
    output: str,
    levels: list[float],
    calib_path: str | None = None,
    calib_batch: int = 32,
    round_to: int = 1,
    name: str | None = None,
    labels: list[str] | None = None,
    log: Any = None,
) -> dict[str, Any]:
    """Convert ``onnx_path`` to ``output``; returns a summary (levels, inserted BatchNorms)."""
    import torch

    from allinone.exporter import prepare, to_aio
    from allinone.exporter.fold import original_stats
    from allinone.exporter.onnx_import import from_onnx, measure_inserted_bn
    from allinone.format import save

    def say(msg: str) -> None:
        if log is not None:
            print(msg, file=log, flush=True)

    say(f"reading {onnx_path} ...")
    calib_given = calib_path is not None
    imported = from_onnx(onnx_path, insert_bn=calib_given)
    c, h, w = imported.input_shape
    example = torch.zeros(1, c, h, w)
    batches = load_calib(calib_path, imported.input_shape, calib_batch) if calib_path else None
    if batches is not None:
        say(
            f"measuring the full model's statistics after {len(imported.inserted_bn)} folded "
            f"conv(s) on {sum(len(b) for b in batches)} calibration inputs ..."
        )
        measure_inserted_bn(imported, batches)
        say(f"re-estimating statistics for {len(levels)} levels ...")
    state = prepare(imported.module, example, levels, batches, "l1", round_to)
    # Level 0 is the ONNX model: keep the given (or measured) statistics there exactly.
    state.bn_stats[0] = original_stats(state.graph)
    model_name = name or Path(onnx_path).stem
    aio = to_aio(state, model_name, labels)
    save(aio, output)
    say(f"wrote {output}")
    return {
        "onnx": onnx_path,
        "output": output,
        "name": model_name,
        "input_shape": [c, h, w],
        "levels": [float(r) for r in state.keep_ratios],
        "widths": [[int(x) for x in row] for row in state.widths],
        "groups": int(state.widths.shape[1]),
        "calibrated": calib_given,
        "inserted_bn": list(imported.inserted_bn),
    }


def run(args: argparse.Namespace) -> int:
    """Runs ``allinone convert``."""
    from allinone.train.levels import parse_levels

    levels = parse_levels(args.levels)
    for module, extra in (("torch", "train"), ("onnx", "onnx")):
        try:
            __import__(module)
        except ImportError:
            raise RuntimeError(
                f"convert needs {module}: pip install 'allinone[train,onnx]' (missing extra "
                f"'{extra}')"
            ) from None
    if not Path(args.onnx).is_file():
        raise FileNotFoundError(f"no such ONNX file: {args.onnx}")
    labels = None
    if args.labels:
        labels = [s.strip() for s in Path(args.labels).read_text().splitlines() if s.strip()]
    if args.calib is None:
        print(
            "note: no --calib: lower levels are plainly pruned (statistics not re-estimated)",
            file=sys.stderr,
        )
    summary = convert(
        args.onnx,
        args.output,
        levels,
        args.calib,
        args.calib_batch,
        args.round_to,
        args.name,
        labels,
        log=sys.stderr,
    )
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(
            f"{args.output}: {len(levels)} levels over {summary['groups']} channel groups"
            f"{' (per-level statistics re-estimated)' if summary['calibrated'] else ''}"
        )
    return 0
