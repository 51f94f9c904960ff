"""Load-time fusions (csrc/ops/fusion.h): the fused path equals the unfused one and PyTorch.

- The squeeze-excite gate fused into its projection conv (the gate scales B's rows while the
  GEMM packs them; the MUL runs as nothing). ``AIO_FUSE=0`` at load keeps the MUL as its own pass,
  so every level of the SE zoo models runs both ways, at 1 and 2 threads.
- The 1x1 consumers of a levelled concatenation sum their parts inside one GEMM (YOLO's C3 and
  SPPF layers), and the output concatenation of YOLO's heads copies nothing (the head conv and
  the upsamplings write into the output at their offsets): every level against the sliced
  PyTorch model, at 1 and 2 threads, fused and with ``AIO_FUSE=0``.

Tolerance: max abs err <= 1e-4 * max |reference| (the zoo tests' own).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from allinone import Engine, zoo  # noqa: E402
from allinone.exporter import export, slice_model  # noqa: E402

LEVELS = (1.0, 0.75, 0.5, 0.25)


def _export(name: str, randomize_bn: Any, tmp_path: Path) -> tuple[Any, Path, Any]:
    torch.manual_seed(0)
    model = randomize_bn(zoo.get(name, in_channels=3, num_classes=10), seed=1)
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(2))
    path = tmp_path / f"{name}.aio"
    aio = export(model, path, x, levels=LEVELS, round_to=8, name=name)
    return aio, path, x


def _kinds(engine: Any, x: np.ndarray, level: int) -> list[str]:
    return [kind for _, kind, _, _ in engine.profile(x[:1], level, 1)]


def _engines(path: Path, threads: int, monkeypatch: pytest.MonkeyPatch) -> tuple[Any, Any]:
    """The model loaded with ``AIO_FUSE=0`` (no fusions) and as by default (fused)."""
    monkeypatch.setenv("AIO_FUSE", "0")
    plain = Engine(str(path), threads=threads)
    monkeypatch.delenv("AIO_FUSE")
    return plain, Engine(str(path), threads=threads)


@pytest.mark.parametrize("name", ["mobilenet_v3_large", "efficientnet_b0"])
def test_se_gate_fused_into_projection(
    name: str, randomize_bn: Any, close: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    aio, path, x = _export(name, randomize_bn, tmp_path)
    xs = x.numpy()
    for threads in (1, 2):
        plain, fused = _engines(path, threads, monkeypatch)
        for k in range(len(LEVELS)):
            kinds = _kinds(fused, xs, k)
            # Every gate of the model is fused (none left as a pass), and only with AIO_FUSE unset.
            assert "mul" not in kinds and kinds.count("mul/fused") > 0, kinds
            assert kinds.count("conv1x1/s1/gated") == kinds.count("mul/fused"), kinds
            assert "mul/fused" not in _kinds(plain, xs, k)
            with torch.no_grad():
                ref = slice_model(aio, k)(x).numpy()
            got, unfused = fused.run_at(k, xs), plain.run_at(k, xs)
            close(got, ref, what=f"{name} L{k} T{threads} fused vs torch")
            close(unfused, ref, what=f"{name} L{k} T{threads} unfused vs torch")
            # Same products, summed in the same order: the gate is only applied earlier.
            close(got, unfused, what=f"{name} L{k} T{threads} fused vs unfused")


def test_concat_consumers_and_output_concat(
    randomize_bn: Any, close: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    aio, path, x = _export("yolo_small", randomize_bn, tmp_path)
    xs = x.numpy()
    for threads in (1, 2):
        plain, engine = _engines(path, threads, monkeypatch)
        for k in range(len(LEVELS)):
            kinds = _kinds(engine, xs, k)
            # C3's cv1/cv2/cv3 and SPPF's cv2 (four parts) all read concatenations in place.
            assert kinds.count("conv1x1/s1/concat_k_ranges") >= 10, kinds
            # The heads' concatenations (two nested) copy nothing; unfused they copy.
            assert "concat" not in kinds, kinds
            assert _kinds(plain, xs, k).count("concat") == 2
            with torch.no_grad():
                ref = slice_model(aio, k)(x).numpy()
            got = engine.run_at(k, xs)
            close(got, ref, what=f"yolo_small L{k} T{threads}")
            close(plain.run_at(k, xs), ref, what=f"yolo_small L{k} T{threads} unfused")
            # Two images in one call: each image's views point into its own output.
            both = engine.run_at(k, np.concatenate([xs, xs[::-1]]))
            close(both[:2], got, what=f"yolo_small L{k} T{threads} batch of 4, first half")
            close(both[2:], got[::-1], what=f"yolo_small L{k} T{threads} batch of 4, second half")
