"""``allinone run MODEL INPUT [--level K] [--topk N] [--json]``: one inference, numpy only.

INPUT is a ``.npy`` array — (C, H, W) or (N, C, H, W), used as is after a cast to float32 — or
an image. Images are preprocessed as follows (see docs/quickstart.md):

1. decode: PGM/PPM (binary P5/P6 or ASCII P2/P3, any maxval) with numpy; PNG, JPEG and the rest
   with Pillow when it is installed (a clear error says so otherwise);
2. channels: to grayscale (ITU-R 601 luma) for 1-channel models, gray replicated to RGB for
   3-channel models;
3. resize to the model's H × W (bilinear, align-corners off, as Pillow's and OpenCV's defaults);
4. scale pixels to [0, 1] (divide by maxval), then ``(x − mean) / std`` per channel with
   ``--mean`` / ``--std`` (defaults 0 and 1: no normalisation).

For a classifier the output is listed as the top-k classes with the labels stored in the model.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

IMAGE_SUFFIXES_NUMPY = (".pgm", ".ppm", ".pnm")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Adds the ``run`` sub-command."""
    p = subparsers.add_parser(
        "run",
        help="run one input (.npy or an image) through a model at a level",
        description="Run a .npy array or an image (PGM/PPM built in; PNG/JPEG with Pillow) "
        "through a .aio model at one level and print the output (top-k classes with labels "
        "for a classifier). Images are resized bilinearly to the model's input, scaled to "
        "[0, 1] and normalised with --mean/--std.",
    )
    p.add_argument("model", help="the .aio model")
    p.add_argument("input", help=".npy array ((C,H,W) or (N,C,H,W)) or an image file")
    p.add_argument("--level", type=int, default=0, help="pruning level (default 0: full model)")
    p.add_argument("--topk", type=int, default=5, help="classes to list for a classifier")
    p.add_argument(
        "--mean", default="0", help="per-channel mean subtracted from image pixels in [0,1]"
    )
    p.add_argument("--std", default="1", help="per-channel std dividing image pixels")
    p.add_argument("--threads", type=int, default=None, help="engine threads (default: all)")
    p.add_argument("--json", action="store_true", help="print machine-readable JSON")
    p.set_defaults(func=run)


# ------------------------------------------------------------------------------------- images
def _read_pnm(data: bytes, path: str) -> np.ndarray:
    """Decode a PGM/PPM (P2, P3, P5, P6) into (H, W, C) float32 in [0, 1]."""
    magic = data[:2]
    if magic not in (b"P2", b"P3", b"P5", b"P6"):
        raise ValueError(f"{path}: not a PGM/PPM file (magic {magic!r})")
    channels = 3 if magic in (b"P3", b"P6") else 1
    tokens: list[bytes] = []
    pos = 2
    while len(tokens) < 3:
        while pos < len(data) and data[pos : pos + 1].isspace():
            pos += 1
        if data[pos : pos + 1] == b"#":
            while pos < len(data) and data[pos : pos + 1] not in (b"\n", b"\r"):
                pos += 1
            continue
        start = pos
        while pos < len(data) and not data[pos : pos + 1].isspace():
            pos += 1
        if start == pos:
            raise ValueError(f"{path}: truncated PGM/PPM header")
        tokens.append(data[start:pos])
    width, height, maxval = (int(t) for t in tokens)
    if width <= 0 or height <= 0 or not 0 < maxval < 65536:
        raise ValueError(f"{path}: bad PGM/PPM header {width}x{height} maxval {maxval}")
    count = width * height * channels
    if magic in (b"P5", b"P6"):
        body = data[pos + 1 :]
        dtype = np.dtype(">u2") if maxval > 255 else np.dtype(np.uint8)
        if len(body) < count * dtype.itemsize:
            raise ValueError(f"{path}: truncated pixel data")
        pix = np.frombuffer(body, dtype=dtype, count=count)
    else:
        pix = np.array(data[pos:].split()[:count], dtype=np.int64)
        if pix.size < count:
            raise ValueError(f"{path}: truncated pixel data")
    img = pix.astype(np.float32).reshape(height, width, channels) / float(maxval)
    return img


def _read_pillow(path: str) -> np.ndarray:
    try:
        from PIL import Image
    except ImportError:
        raise RuntimeError(
            f"{path}: reading {Path(path).suffix or 'this'} images needs Pillow "
            "(pip install pillow); PGM/PPM and .npy inputs work without it"
        ) from None
    with Image.open(path) as im:
        im = im.convert("RGB") if im.mode not in ("L", "RGB") else im
        arr = np.asarray(im, dtype=np.float32) / 255.0
    return arr[:, :, None] if arr.ndim == 2 else arr


def resize_bilinear(img: np.ndarray, h: int, w: int) -> np.ndarray:
    """(H, W, C) → (h, w, C), bilinear with half-pixel centres (align_corners=False)."""
    src_h, src_w = img.shape[:2]
    if (src_h, src_w) == (h, w):
        return img

    def axis(n_out: int, n_in: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        pos = (np.arange(n_out) + 0.5) * (n_in / n_out) - 0.5
        pos = np.clip(pos, 0, n_in - 1)
        lo = np.floor(pos).astype(np.int64)
        hi = np.minimum(lo + 1, n_in - 1)
        return lo, hi, (pos - lo).astype(np.float32)

    y0, y1, fy = axis(h, src_h)
    x0, x1, fx = axis(w, src_w)
    top = img[y0][:, x0] * (1 - fx)[None, :, None] + img[y0][:, x1] * fx[None, :, None]
    bot = img[y1][:, x0] * (1 - fx)[None, :, None] + img[y1][:, x1] * fx[None, :, None]
    return (top * (1 - fy)[:, None, None] + bot * fy[:, None, None]).astype(np.float32)


def _floats(text: str, n: int, what: str) -> np.ndarray:
    vals = [float(t) for t in text.split(",") if t.strip()]
    if len(vals) == 1:
        vals *= n
    if len(vals) != n:
        raise ValueError(f"--{what} needs 1 or {n} comma-separated values, got {text!r}")
    return np.asarray(vals, dtype=np.float32)


def load_image(
    path: str, shape: tuple[int, int, int], mean: str = "0", std: str = "1"
) -> np.ndarray:
    """An image file preprocessed to a (1, C, H, W) float32 input for a model of ``shape``."""
    c, h, w = shape
    if Path(path).suffix.lower() in IMAGE_SUFFIXES_NUMPY:
        img = _read_pnm(Path(path).read_bytes(), path)
    else:
        img = _read_pillow(path)
    if c == 1 and img.shape[2] == 3:
        img = (img @ np.array([0.299, 0.587, 0.114], dtype=np.float32))[:, :, None]
    elif c == 3 and img.shape[2] == 1:
        img = np.repeat(img, 3, axis=2)
    elif img.shape[2] != c:
        raise ValueError(f"{path}: {img.shape[2]}-channel image for a {c}-channel model")
    img = resize_bilinear(img, h, w)
    std_v = _floats(std, c, "std")
    if np.any(std_v == 0):
        raise ValueError("--std must not contain 0")
    img = (img - _floats(mean, c, "mean")) / std_v
    return np.ascontiguousarray(img.transpose(2, 0, 1)[None], dtype=np.float32)


def load_input(path: str, shape: tuple[int, int, int], mean: str, std: str) -> np.ndarray:
    """``.npy`` (cast to float32, a batch axis added to (C, H, W)) or an image (see above)."""
    if not Path(path).is_file():
        raise FileNotFoundError(f"no such input file: {path}")
    if path.lower().endswith(".npy"):
        x = np.load(path, allow_pickle=False)
        if x.ndim == 3:
            x = x[None]
        if x.ndim != 4 or tuple(x.shape[1:]) != tuple(shape):
            raise ValueError(
                f"{path}: array of shape {x.shape} does not fit the model's input "
                f"(N, {', '.join(map(str, shape))})"
            )
        return np.ascontiguousarray(x, dtype=np.float32)
    return load_image(path, shape, mean, std)


# ---------------------------------------------------------------------------------------- run
def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def infer(args: argparse.Namespace) -> dict[str, Any]:
    """Everything ``run`` prints, as plain data."""
    from allinone.runtime import Engine

    engine = Engine(args.model, threads=args.threads)
    x = load_input(args.input, engine.input_shape, args.mean, args.std)
    t0 = time.perf_counter()
    y = engine.run_at(args.level, x)
    ms = (time.perf_counter() - t0) * 1e3
    lv = engine.levels[args.level]
    out: dict[str, Any] = {
        "model": args.model,
        "input": args.input,
        "level": args.level,
        "keep_ratio": lv.keep_ratio,
        "mflops": lv.flops / 1e6,
        "latency_ms": ms,
        "output_shape": list(y.shape),
    }
    if y.ndim == 2:  # a classifier: (N, classes)
        labels = engine.labels
        k = max(1, min(args.topk, y.shape[1]))
        probs = _softmax(y.astype(np.float64))
        results = []
        for i in range(y.shape[0]):
            top = np.argsort(-y[i], kind="stable")[:k]
            results.append(
                [
                    {
                        "class": int(c),
                        "label": labels[c] if c < len(labels) else str(int(c)),
                        "logit": float(y[i, c]),
                        "prob": float(probs[i, c]),
                    }
                    for c in top
                ]
            )
        out["topk"] = results
        out["output"] = y.tolist()
    else:
        out["output_stats"] = {
            "min": float(y.min()),
            "max": float(y.max()),
            "mean": float(y.mean()),
        }
    return out


def run(args: argparse.Namespace) -> int:
    """Runs ``allinone run``."""
    res = infer(args)
    if args.json:
        print(json.dumps(res, indent=2))
        return 0
    print(
        f"{res['model']} level {res['level']} (keep {res['keep_ratio']:.3f}, "
        f"{res['mflops']:.2f} MFLOPs): {res['latency_ms']:.2f} ms, output {res['output_shape']}"
    )
    if "topk" in res:
        for i, top in enumerate(res["topk"]):
            if len(res["topk"]) > 1:
                print(f"input {i}:")
            for t in top:
                print(f"  {t['prob']:7.2%}  {t['label']}  (class {t['class']}, {t['logit']:.3f})")
    else:
        s = res["output_stats"]
        print(f"  min {s['min']:.4g}  max {s['max']:.4g}  mean {s['mean']:.4g}")
    return 0
