"""Every level of every zoo model: runtime == physically sliced PyTorch == ONNX Runtime.

Random weights with randomised BatchNorm statistics (so folding matters); small inputs where
the topology allows, to keep the suite fast. Tolerance: max abs err ≤ 1e-4 · max |reference|.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from allinone import zoo  # noqa: E402
from allinone.exporter import export, slice_model  # noqa: E402
from allinone.exporter.levels import budget_levels  # noqa: E402
from allinone.format import load  # noqa: E402
from allinone.onnx_export import export_level  # noqa: E402

# name -> (in_channels, input size, levels, round_to)
CASES: dict[str, tuple[int, int, Any, int]] = {
    "resnet20": (3, 32, (1.0, 0.75, 0.5, 0.25), 1),
    "vgg_small": (1, 28, (1.0, 0.75, 0.5, 0.25), 1),
    "mobilenet_v2": (3, 64, (1.0, 0.7, 0.45, 0.2), 8),
    "resnet18": (3, 64, (1.0, 0.75, 0.5, 0.25), 8),
    # Squeeze-excite (hard-sigmoid / sigmoid gates), hardswish / SiLU, 5x5 depthwise.
    "mobilenet_v3_small": (3, 64, (1.0, 0.75, 0.5, 0.25), 8),
    "mobilenet_v3_large": (3, 64, (1.0, 0.75, 0.5, 0.25), 8),
    "efficientnet_b0": (3, 64, (1.0, 0.75, 0.5, 0.25), 8),
    # Concatenations (levelled: two K ranges), nearest / bilinear upsampling, softmax.
    "yolo_small": (3, 64, (1.0, 0.75, 0.5, 0.25), 8),
    "unet_small": (3, 32, (1.0, 0.75, 0.5, 0.25), 8),
}


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Cache of exports, one per case, shared by the tests of this module."""
    return {"dir": tmp_path_factory.mktemp("levels")}


def _export(cache: dict[str, Any], name: str, randomize_bn: Any) -> tuple[Any, Path, Any]:
    if name not in cache:
        cin, hw, levels, round_to = CASES[name]
        torch.manual_seed(0)
        model = randomize_bn(zoo.get(name, in_channels=cin, num_classes=10), seed=1)
        x = torch.randn(2, cin, hw, hw, generator=torch.Generator().manual_seed(2))
        path = cache["dir"] / f"{name}.aio"
        aio = export(model, path, x, levels=levels, round_to=round_to, name=name)
        cache[name] = (aio, path, x)
    return cache[name]


def _ref(aio: Any, level: int, x: Any) -> np.ndarray:
    """Output of the physically sliced PyTorch model of ``level`` (memoised on the export)."""
    memo = aio.__dict__.setdefault("_test_refs", {})
    if level not in memo:
        with torch.no_grad():
            memo[level] = slice_model(aio, level)(x).numpy()
    return memo[level]


@pytest.mark.parametrize("name", list(CASES))
def test_engine_matches_sliced_torch(
    name: str, exported: dict, randomize_bn: Any, close: Any
) -> None:
    from allinone import Engine

    aio, path, x = _export(exported, name, randomize_bn)
    engine = Engine(str(path))
    n = aio.widths.shape[0]
    assert engine.num_levels == n
    for k in range(n):
        ref = _ref(aio, k, x)
        close(engine.run_at(k, x.numpy()), ref, what=f"{name} level {k} engine vs torch")
    engine.set_level(n - 1)
    close(engine.run(x.numpy()), _ref(aio, n - 1, x), what=f"{name} set_level({n - 1}) + run")


@pytest.mark.parametrize("name", list(CASES))
def test_onnx_matches_sliced_torch(
    name: str, exported: dict, randomize_bn: Any, close: Any, tmp_path: Path
) -> None:
    ort = pytest.importorskip("onnxruntime")
    aio, path, x = _export(exported, name, randomize_bn)
    from_file = load(path)  # what Engine.export_onnx passes: the file as read back
    for k in range(aio.widths.shape[0]):
        ref = _ref(aio, k, x)
        onnx_path = tmp_path / f"{name}_{k}.onnx"
        export_level(from_file, k, onnx_path)
        sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
        (out,) = sess.run(["output"], {"input": x.numpy()})
        close(out, ref, what=f"{name} level {k} ORT vs torch")


@pytest.mark.parametrize("name", list(CASES))
def test_levels_really_prune(name: str, exported: dict, randomize_bn: Any) -> None:
    """A sliced level is a smaller network whose output differs from level 0."""
    aio, _, x = _export(exported, name, randomize_bn)
    n = aio.widths.shape[0]
    sizes = [sum(t.size for t in aio.tensors.values())]
    for k in (1, n - 1):
        sizes.append(sum(p.numel() for p in slice_model(aio, k).parameters()))
    assert sizes[0] > sizes[1] > sizes[2], sizes
    assert not np.allclose(_ref(aio, 0, x), _ref(aio, n - 1, x), atol=1e-3)


def test_budget_levels_roundtrip(randomize_bn: Any, close: Any, tmp_path: Path) -> None:
    """Per-group (non-uniform) widths from budget_levels export and match in engine and ORT."""
    ort = pytest.importorskip("onnxruntime")
    from allinone import Engine

    torch.manual_seed(0)
    model = randomize_bn(zoo.get("resnet20", in_channels=1, num_classes=10), seed=3)
    x = torch.randn(2, 1, 28, 28)
    levels = budget_levels(model, x, n_levels=6, step=0.8)
    aio = export(model, tmp_path / "b.aio", x, levels=levels)
    engine = Engine(str(tmp_path / "b.aio"))
    for k in range(len(levels)):
        ref = _ref(aio, k, x)
        close(engine.run_at(k, x.numpy()), ref, what=f"level {k} engine")
        engine.export_onnx(k, tmp_path / f"b{k}.onnx")
        sess = ort.InferenceSession(
            str(tmp_path / f"b{k}.onnx"), providers=["CPUExecutionProvider"]
        )
        close(sess.run(None, {"input": x.numpy()})[0], ref, what=f"level {k} ORT")
