"""The package layout: the top level holds exactly what a device imports (no PyTorch), and the
PyTorch side lives in subpackages (exporter with the ONNX importer, train, zoo)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from support import PACKAGE_PARENT

PKG = Path(__file__).resolve().parents[1] / "allinone"
# Modules a device imports: the runtime, the governor's Python side, the file format, the ONNX
# writer of Engine.export_onnx, the progress line of the benchmarks.
DEVICE_MODULES = {
    "__init__",
    "__main__",
    "adaptive",
    "format",
    "onnx_export",
    "progress",
    "runtime",
}
TORCH_PACKAGES = {"exporter", "train", "zoo"}


def test_top_level_modules_are_the_device_ones() -> None:
    top = {p.stem for p in PKG.glob("*.py")}
    assert top == DEVICE_MODULES
    packages = {p.parent.name for p in PKG.glob("*/__init__.py")}
    assert TORCH_PACKAGES <= packages
    assert (PKG / "exporter" / "onnx_import.py").is_file()
    # The zoo: one module per family.
    families = {p.stem for p in (PKG / "zoo").glob("*.py")} - {"__init__", "_common"}
    assert {"resnet", "mobilenet", "vgg", "efficientnet"} <= families


@pytest.mark.parametrize("module", sorted(DEVICE_MODULES - {"__init__", "__main__"}))
def test_device_modules_import_without_torch(module: str, tmp_path: Path) -> None:
    code = (
        f"import sys, allinone, allinone.{module}, allinone.dvfs; "
        "assert 'torch' not in sys.modules, 'torch imported'"
    )
    # The allinone this run imports (site-packages after pip install, the tree in a dev build),
    # from a folder where the source tree (no compiled _core) cannot shadow it.
    subprocess.run(
        [sys.executable, "-c", code], check=True, cwd=tmp_path, env={"PYTHONPATH": PACKAGE_PARENT}
    )


def test_zoo_lists_every_model() -> None:
    pytest.importorskip("torch")
    from allinone import zoo

    for name in ("mobilenet_v3_small", "mobilenet_v3_large", "efficientnet_b0"):
        assert name in zoo.NAMES and name in zoo.INPUT_SIZE
