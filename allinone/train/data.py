"""Fashion-MNIST from the IDX files of the Debian package ``dataset-fashion-mnist`` (numpy only)."""

from __future__ import annotations

import gzip
import os
import struct
from pathlib import Path

import numpy as np

__all__ = ["CLASS_NAMES", "DEFAULT_DIR", "load_fashion_mnist", "read_idx"]

DEFAULT_DIR = Path("/usr/share/datasets/fashion-mnist")

CLASS_NAMES: tuple[str, ...] = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip

_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Read one IDX file (optionally gzipped) into an array of its declared type and shape."""
    p = Path(path)
    with gzip.open(p, "rb") if p.suffix == ".gz" else open(p, "rb") as f:
        raw = f.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _DTYPES:
        raise ValueError(f"{p}: not an IDX file (bad magic)")
    ndim = raw[3]
    if len(raw) < 4 + 4 * ndim:
        raise ValueError(f"{p}: truncated IDX header")
    dims = struct.unpack(f">{ndim}I", raw[4 : 4 + 4 * ndim])
    dtype = np.dtype(_DTYPES[raw[2]])
    count = int(np.prod(dims)) if dims else 1
    body = raw[4 + 4 * ndim :]
    if len(body) != count * dtype.itemsize:
        raise ValueError(f"{p}: expected {count * dtype.itemsize} data bytes, found {len(body)}")
    return np.frombuffer(body, dtype=dtype).reshape(dims).astype(dtype.newbyteorder("="))


def _find(directory: Path, stem: str) -> Path:
    for name in (stem, stem + ".gz"):
        if (directory / name).is_file():
            return directory / name
    raise FileNotFoundError(
        f"Fashion-MNIST file {stem}[.gz] not found in {directory}; "
        "install the data with `apt-get install dataset-fashion-mnist` "
        "or pass the directory that holds the IDX files"
    )


def load_fashion_mnist(
    split: str = "train",
    directory: str | os.PathLike[str] | None = None,
    limit: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(images, labels)``: float32 ``[N, 1, 28, 28]`` scaled to [0, 1] and int64 ``[N]``.

    ``split`` is ``"train"`` (60,000) or ``"test"`` (10,000); ``limit`` keeps the first N.
    """
    if split not in _FILES:
        raise ValueError(f"unknown split {split!r}; use 'train' or 'test'")
    d = Path(directory) if directory is not None else DEFAULT_DIR
    if not d.is_dir():
        raise FileNotFoundError(
            f"Fashion-MNIST directory {d} does not exist; "
            "install the data with `apt-get install dataset-fashion-mnist`"
        )
    img_stem, lbl_stem = _FILES[split]
    images = read_idx(_find(d, img_stem))
    labels = read_idx(_find(d, lbl_stem))
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise ValueError(f"{d}: images {images.shape} and labels {labels.shape} do not match")
    if limit is not None:
        images, labels = images[:limit], labels[:limit]
    x = (images.astype(np.float32) / 255.0)[:, None, :, :]
    return x, labels.astype(np.int64)
