"""The command line: --help everywhere, info/run without PyTorch, run's image preprocessing,
convert (ONNX → .aio) against ONNX Runtime."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from support import PACKAGE_PARENT

from allinone import Engine
from allinone.cli import COMMANDS, main
from allinone.cli.run import load_image, resize_bilinear

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "allinone" / "data" / "demo.aio"


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# ------------------------------------------------------------------------------ every command
def test_commands_listed() -> None:
    for name in ("info", "run", "bench", "monitor", "demo", "convert", "train"):
        assert name in COMMANDS


@pytest.mark.parametrize("name", COMMANDS)
def test_help_for_every_command(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main([name, "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: allinone {name}")
    assert len(out.splitlines()) > 3


def test_top_level_help_lists_commands(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for name in COMMANDS:
        assert name in out


NO_TORCH = """
import sys
sys.modules["torch"] = None  # any `import torch` now raises ImportError
from allinone.cli import main, build_parser
build_parser()  # every command's module imports without torch
code = main(sys.argv[1:])
assert sys.modules["torch"] is None
sys.exit(code)
"""


def run_without_torch(argv: list[str], cwd: Path, timeout: float) -> subprocess.CompletedProcess:
    """`allinone ARGV` in a fresh interpreter where `import torch` fails, as on a device."""
    return subprocess.run(
        [sys.executable, "-c", NO_TORCH, *argv],
        cwd=cwd,
        env={"PYTHONPATH": PACKAGE_PARENT, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.mark.parametrize(
    "argv",
    [
        ["info", str(DEMO), "--json"],
        ["run", str(DEMO), "INPUT", "--json", "--level", "2"],
        ["--version"],
    ],
)
def test_runtime_commands_do_not_import_torch(argv: list[str], tmp_path: Path) -> None:
    x = tmp_path / "x.npy"
    np.save(x, np.zeros((1, 28, 28), np.float32))
    argv = [str(x) if a == "INPUT" else a for a in argv]
    r = run_without_torch(argv, tmp_path, timeout=60)
    assert r.returncode == 0, r.stderr
    if "--json" in argv:
        json.loads(r.stdout)


def test_demo_runs_without_torch(tmp_path: Path) -> None:
    # README's main command, shortened: the shipped model on the shipped trace, JSON written.
    out = tmp_path / "demo.json"
    argv = ["demo", "--steps", "40", "--runs", "3", "--threads", "1", "--json", str(out)]
    r = run_without_torch([*argv, "--plot", str(tmp_path / "d.png")], tmp_path, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "EMULATED" in r.stdout
    # The one verdict line: adaptive's misses, CV and FLOPs against level 0 and the p99 oracle.
    verdict = [ln for ln in r.stdout.splitlines() if ln.startswith("verdict: adaptive misses")]
    assert len(verdict) == 1
    assert "| level 0 always misses" in verdict[0] and "| p99 oracle misses" in verdict[0]
    assert verdict[0].count("FLOPs") == 3 and verdict[0].endswith(("PASS", "FAIL"))
    # The plot is drawn, or the output says how to get it.
    assert "wrote " + str(tmp_path / "d.png") in r.stdout or "pip install" in r.stdout
    result = json.loads(out.read_text())
    for way in ("fixed_first", "fixed_last", "adaptive", "oracle"):
        assert set(result[way]) >= {"p50_ms", "p99_ms", "mean_ms", "cv", "miss_rate"}
        assert 0.0 <= result[way]["miss_rate"] <= 1.0
    assert result["emulated"] is True and result["levels"] == 12 and result["batch"] == 1
    # fixed_last runs the cheapest level, fixed_first the full model: FLOPs say so.
    assert result["fixed_last"]["mean_flops_ratio"] < result["fixed_first"]["mean_flops_ratio"]
    # What it was measured on (allinone.device, imported here without torch), and the warm-up.
    ctx = result["context"]
    assert ctx["emulated"] is True and len(ctx["model_sha256"]) == 64 and ctx["isa"]
    assert ctx["threads"] == 1 and ctx["cpu_model"]
    assert result["warmup"]["first_ms"] > 0
    assert sum(v["inferences"] for v in result["per_level"].values()) == 5 * 40  # 5 ways


def test_bench_batch_and_table_checks(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    table = tmp_path / "t.json"
    common = ["bench", str(DEMO), "--trace", "rpi4_thermal_throttle", "--steps", "20"]
    code, out, _ = _cli(
        capsys, *common, "--runs", "3", "--threads", "1", "--batch", "2", "--save-table", str(table)
    )
    assert code == 0 and "batch 2" in out
    assert json.loads(table.read_text())["batch"] == 2
    code, _, err = _cli(capsys, *common, "--table", str(table))  # batch 1 against a batch-2 table
    assert code != 0 and "calibrated at batch 2" in err
    code, _, err = _cli(capsys, *common, "--batch", "0")
    assert code != 0 and "--batch must be at least 1" in err


# ----------------------------------------------------------------------------------- info
def test_info_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _cli(capsys, "info", str(DEMO), "--json")
    assert code == 0
    info = json.loads(out)
    eng = Engine(DEMO, threads=1)
    assert info["input_shape"] == list(eng.input_shape)
    assert len(info["levels"]) == eng.num_levels
    assert info["labels"] == eng.labels
    flops = [lv["flops"] for lv in info["levels"]]
    assert flops == sorted(flops, reverse=True)
    # The kernel set and the CPU's ARMv8.2 extensions (comma-separated known names; none on x86).
    assert info["isa"] in ("scalar", "avx2", "avx512", "neon")
    features = info["isa_features"].split(",") if info["isa_features"] else []
    assert all(f in ("fp16", "dotprod", "i8mm") for f in features)
    if info["isa"] in ("avx2", "avx512"):
        assert features == []


# ------------------------------------------------------------------------------------ run
def test_monitor_json_lines(capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(["monitor", "--source", "fixed:1234", "--count", "3", "--interval", "0", "--json"])
        == 0
    )
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert lines[0]["source"] == "fixed" and lines[0]["emulated"] is True
    assert lines[0]["max_mhz"] == 1234
    readings = lines[1:]
    assert [r["cpu_mhz"] for r in readings] == [1234, 1234, 1234]
    assert all(b["t_s"] >= a["t_s"] for a, b in zip(readings, readings[1:], strict=False))


def test_run_npy_json_matches_engine(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    eng = Engine(DEMO, threads=1)
    x = np.random.default_rng(0).standard_normal((2, *eng.input_shape)).astype(np.float64)
    np.save(tmp_path / "x.npy", x)  # float64 on purpose: run casts
    code, out, _ = _cli(
        capsys, "run", str(DEMO), str(tmp_path / "x.npy"), "--level", "3", "--topk", "2", "--json"
    )
    assert code == 0
    res = json.loads(out)
    want = eng.run_at(3, x.astype(np.float32))
    np.testing.assert_allclose(np.asarray(res["output"]), want, rtol=1e-5, atol=1e-6)
    assert res["level"] == 3 and len(res["topk"]) == 2
    for i, top in enumerate(res["topk"]):
        assert len(top) == 2
        assert top[0]["class"] == int(np.argmax(want[i]))
        assert top[0]["label"] == eng.labels[top[0]["class"]]
        assert top[0]["prob"] >= top[1]["prob"]


def test_run_text_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    np.save(tmp_path / "x.npy", np.zeros((1, 28, 28), np.float32))
    code, out, _ = _cli(capsys, "run", str(DEMO), str(tmp_path / "x.npy"), "--topk", "3")
    assert code == 0
    assert "level 0" in out and len([ln for ln in out.splitlines() if "class" in ln]) == 3


def test_run_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    np.save(tmp_path / "bad.npy", np.zeros((3, 28, 28), np.float32))
    code, _, err = _cli(capsys, "run", str(DEMO), str(tmp_path / "bad.npy"))
    assert code == 1 and "does not fit" in err
    np.save(tmp_path / "x.npy", np.zeros((1, 28, 28), np.float32))
    code, _, err = _cli(capsys, "run", str(DEMO), str(tmp_path / "x.npy"), "--level", "99")
    assert code == 1 and "out of range" in err
    code, _, err = _cli(capsys, "run", str(DEMO), str(tmp_path / "missing.png"))
    assert code == 1 and "no such input" in err


def _write_pgm(path: Path, img: np.ndarray, maxval: int = 255, ascii_: bool = False) -> None:
    h, w = img.shape[:2]
    magic = ("P2" if ascii_ else "P5") if img.ndim == 2 else ("P3" if ascii_ else "P6")
    head = f"{magic}\n# a comment\n{w} {h}\n{maxval}\n".encode()
    if ascii_:
        body = " ".join(str(int(v)) for v in img.reshape(-1)).encode()
    else:
        body = img.astype(">u2" if maxval > 255 else np.uint8).tobytes()
    path.write_bytes(head + body)


def test_run_pgm_image(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A 28x28 PGM is the model input scaled to [0, 1], then (x - mean) / std."""
    eng = Engine(DEMO, threads=1)
    img = np.random.default_rng(1).integers(0, 256, (28, 28))
    _write_pgm(tmp_path / "a.pgm", img)
    x = load_image(str(tmp_path / "a.pgm"), eng.input_shape, mean="0.5", std="0.25")
    np.testing.assert_allclose(x[0, 0], (img / 255.0 - 0.5) / 0.25, rtol=1e-6, atol=1e-6)
    code, out, _ = _cli(
        capsys, "run", str(DEMO), str(tmp_path / "a.pgm"), "--mean", "0.5", "--std", "0.25",
        "--json",
    )  # fmt: skip
    assert code == 0
    np.testing.assert_allclose(json.loads(out)["output"], eng.run_at(0, x), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("ascii_", [False, True])
def test_ppm_to_gray_and_16_bit(tmp_path: Path, ascii_: bool) -> None:
    rgb = np.random.default_rng(2).integers(0, 1000, (28, 28, 3))
    _write_pgm(tmp_path / "a.ppm", rgb, maxval=1000, ascii_=ascii_)
    x = load_image(str(tmp_path / "a.ppm"), (1, 28, 28))
    gray = (rgb / 1000.0) @ np.array([0.299, 0.587, 0.114])
    np.testing.assert_allclose(x[0, 0], gray, rtol=1e-5, atol=1e-6)
    x3 = load_image(str(tmp_path / "a.ppm"), (3, 28, 28))
    np.testing.assert_allclose(x3[0], (rgb / 1000.0).transpose(2, 0, 1), rtol=1e-6, atol=1e-6)


def test_bad_image_messages(tmp_path: Path) -> None:
    (tmp_path / "bad.pgm").write_bytes(b"P5\n4 4\n255\n\x00")
    with pytest.raises(ValueError, match="truncated"):
        load_image(str(tmp_path / "bad.pgm"), (1, 4, 4))
    (tmp_path / "x.pgm").write_bytes(b"GIF89a")
    with pytest.raises(ValueError, match="not a PGM"):
        load_image(str(tmp_path / "x.pgm"), (1, 4, 4))


def test_resize_bilinear_matches_torch() -> None:
    torch = pytest.importorskip("torch")
    img = np.random.default_rng(3).random((13, 21, 2)).astype(np.float32)
    for h, w in ((28, 28), (5, 7), (13, 40)):
        ref = torch.nn.functional.interpolate(
            torch.from_numpy(img.transpose(2, 0, 1))[None], size=(h, w), mode="bilinear",
            align_corners=False,
        )[0].numpy().transpose(1, 2, 0)  # fmt: skip
        np.testing.assert_allclose(resize_bilinear(img, h, w), ref, rtol=1e-5, atol=1e-6)


def test_run_png_with_pillow(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    image = pytest.importorskip("PIL.Image")
    img = np.random.default_rng(4).integers(0, 256, (56, 56, 3)).astype(np.uint8)
    image.fromarray(img).save(tmp_path / "a.png")
    code, out, _ = _cli(capsys, "run", str(DEMO), str(tmp_path / "a.png"), "--json")
    assert code == 0
    assert json.loads(out)["output_shape"] == [1, 10]


# -------------------------------------------------------------------------------- convert
class _Zoo:
    """Builds a zoo model with random BatchNorm and its ONNX export (once per module)."""

    @staticmethod
    def onnx_of(model: Any, path: Path, shape: tuple[int, ...]) -> None:
        import warnings

        import torch

        with warnings.catch_warnings():  # the TorchScript exporter is deprecated, on purpose
            warnings.simplefilter("ignore", DeprecationWarning)
            torch.onnx.export(
                model, torch.randn(*shape), str(path), dynamo=False, opset_version=17,
                input_names=["x"], output_names=["y"],
            )  # fmt: skip


@pytest.fixture(scope="module")
def onnx_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """resnet20 (residual adds, Gemm), a small net with SiLU, Hardswish, ReLU6, pools, and the
    squeeze-excite nets of the zoo."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("onnx")
    from torch import nn

    from allinone import zoo

    tmp = tmp_path_factory.mktemp("onnx")
    gen = torch.Generator().manual_seed(0)

    def randomize(m: nn.Module) -> nn.Module:
        for mod in m.modules():
            if isinstance(mod, nn.BatchNorm2d):
                c = mod.num_features
                mod.running_mean.copy_(torch.rand(c, generator=gen) - 0.5)
                mod.running_var.copy_(torch.rand(c, generator=gen) + 0.5)
                mod.weight.data.copy_(torch.rand(c, generator=gen) + 0.5)
                mod.bias.data.copy_(torch.rand(c, generator=gen) * 0.6 - 0.3)
        return m.eval()

    class Small(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.c1 = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), nn.SiLU())
            self.c2 = nn.Sequential(nn.Conv2d(16, 16, 3, padding=1), nn.Hardswish())
            self.c3 = nn.Sequential(nn.Conv2d(16, 24, 3, stride=2, padding=1), nn.ReLU6())
            self.pool = nn.MaxPool2d(2)
            self.avg = nn.AvgPool2d(2)
            self.fc = nn.Linear(24 * 2 * 2, 5)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x = self.c1(x)
            x = x + self.c2(x)
            x = self.avg(self.pool(self.c3(x)))
            return self.fc(torch.flatten(x, 1))

    torch.manual_seed(0)
    out = {}
    for name, model, shape in (
        ("resnet20", zoo.get("resnet20", num_classes=10), (1, 3, 32, 32)),
        ("small", Small(), (1, 3, 16, 16)),
        # Squeeze-excite gates (HardSigmoid / Sigmoid + Mul), 5x5 depthwise, SiLU as Sigmoid+Mul.
        ("mobilenet_v3_small", zoo.get("mobilenet_v3_small", num_classes=10), (1, 3, 64, 64)),
        ("mobilenet_v3_large", zoo.get("mobilenet_v3_large", num_classes=10), (1, 3, 64, 64)),
        ("efficientnet_b0", zoo.get("efficientnet_b0", num_classes=10), (1, 3, 64, 64)),
        # Concat (levelled: two K ranges), Resize nearest / bilinear, Softmax.
        ("yolo_small", zoo.get("yolo_small", num_classes=4), (1, 3, 64, 64)),
        ("unet_small", zoo.get("unet_small", num_classes=3), (1, 3, 32, 32)),
    ):
        out[name] = tmp / f"{name}.onnx"
        _Zoo.onnx_of(randomize(model), out[name], shape)
    return out


def _ort(path: Path, x: np.ndarray) -> np.ndarray:
    ort = pytest.importorskip("onnxruntime")
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return np.concatenate([sess.run(None, {"x": x[i : i + 1]})[0] for i in range(len(x))])


@pytest.mark.parametrize(
    "name",
    [
        "resnet20",
        "small",
        "mobilenet_v3_small",
        "mobilenet_v3_large",
        "efficientnet_b0",
        "yolo_small",
        "unet_small",
    ],
)
def test_convert_level0_matches_onnxruntime(
    name: str, onnx_models: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from allinone import format as aio_format

    src = onnx_models[name]
    shape = tuple(_onnx_input_chw(src))
    rng = np.random.default_rng(5)
    calib = rng.standard_normal((24, *shape)).astype(np.float32)
    np.save(tmp_path / "calib.npy", calib)
    out = tmp_path / "m.aio"
    code, stdout, _ = _cli(
        capsys, "convert", str(src), "-o", str(out), "--levels", "1,0.75,0.5,0.25",
        "--calib", str(tmp_path / "calib.npy"), "--json",
    )  # fmt: skip
    assert code == 0
    summary = json.loads(stdout)
    assert summary["calibrated"] and summary["inserted_bn"]

    eng = Engine(out, threads=1)
    assert eng.num_levels == 4 and eng.input_shape == shape
    x = rng.standard_normal((3, *shape)).astype(np.float32)
    ref = _ort(src, x)
    y0 = eng.run_at(0, x)
    assert np.abs(y0 - ref).max() <= 1e-4 * np.abs(ref).max()

    # Lower levels: nested (per-group widths non-increasing), cheaper, finite and different.
    widths = np.asarray([lv.widths for lv in eng.levels])
    assert (np.diff(widths, axis=0) <= 0).all() and (widths[-1] < widths[0]).any()
    flops = [lv.flops for lv in eng.levels]
    assert all(a > b for a, b in zip(flops, flops[1:], strict=False))
    for k in range(1, 4):
        yk = eng.run_at(k, x)
        assert yk.shape == ref.shape and np.isfinite(yk).all()
        assert not np.allclose(yk, y0)

    # Per-level statistics were re-estimated: lower levels' folded scales differ from a
    # conversion without --calib, level 0's do not.
    plain = tmp_path / "plain.aio"
    assert main(["convert", str(src), "-o", str(plain), "--levels", "1,0.75,0.5,0.25"]) == 0
    capsys.readouterr()
    a, b = aio_format.load(out), aio_format.load(plain)
    conv = next(n for n in a.nodes if n.op == "conv2d" and n.inputs[0] != 0)
    sa, sb = a.tensors[conv.scale], b.tensors[conv.scale]  # (levels, channels)
    np.testing.assert_allclose(sa[0], sb[0], rtol=1e-5, atol=1e-6)
    assert not np.allclose(sa[1:], sb[1:])
    np.testing.assert_allclose(Engine(plain, threads=1).run_at(0, x), y0, rtol=1e-4, atol=1e-5)


def _onnx_input_chw(onnx_path: Path) -> list[int]:
    """(C, H, W) of an ONNX model's input."""
    import onnx

    dims = onnx.load(str(onnx_path)).graph.input[0].type.tensor_type.shape.dim
    return [d.dim_value for d in dims[1:]]


def test_convert_unsupported_op_names_op_and_node(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    onnx = pytest.importorskip("onnx")
    pytest.importorskip("torch")
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.ones((4, 3, 3, 3), np.float32), "w")
    graph = helper.make_graph(
        [
            helper.make_node("Conv", ["x", "w"], ["c"], name="conv0", pads=[1, 1, 1, 1]),
            helper.make_node("Tanh", ["c"], ["y"], name="the_tanh"),
        ],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 8, 8])],
        [w],
    )
    path = tmp_path / "tanh.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    code, _, err = _cli(capsys, "convert", str(path), "-o", str(tmp_path / "t.aio"))
    assert code == 1
    assert "Tanh" in err and "the_tanh" in err
    assert not (tmp_path / "t.aio").exists()


def test_convert_matmul_add_and_asymmetric_pads(tmp_path: Path) -> None:
    """MatMul + Add becomes one Linear; asymmetric padding is refused by name."""
    onnx = pytest.importorskip("onnx")
    pytest.importorskip("torch")
    from onnx import TensorProto, helper, numpy_helper

    from allinone.exporter.onnx_import import UnsupportedOpError, from_onnx

    rng = np.random.default_rng(6)
    inits = [
        numpy_helper.from_array(rng.standard_normal((4, 2, 3, 3)).astype(np.float32), "w"),
        numpy_helper.from_array(rng.standard_normal((4 * 4 * 4, 3)).astype(np.float32), "m"),
        numpy_helper.from_array(rng.standard_normal(3).astype(np.float32), "b"),
    ]

    def model(pads: list[int]) -> Any:
        graph = helper.make_graph(
            [
                helper.make_node("Conv", ["x", "w"], ["c"], name="conv", pads=pads),
                helper.make_node("Relu", ["c"], ["r"], name="relu"),
                helper.make_node("Flatten", ["r"], ["f"], name="flat", axis=1),
                helper.make_node("MatMul", ["f", "m"], ["mm"], name="mm"),
                helper.make_node("Add", ["mm", "b"], ["y"], name="bias"),
            ],
            "g",
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 4, 4])],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])],
            inits,
        )
        return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])

    m = model([1, 1, 1, 1])
    onnx.save(m, tmp_path / "mm.onnx")
    imported = from_onnx(str(tmp_path / "mm.onnx"), insert_bn=False)
    x = rng.standard_normal((1, 2, 4, 4)).astype(np.float32)
    import torch

    with torch.no_grad():
        got = imported.module(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(got, _ort(tmp_path / "mm.onnx", x), rtol=1e-5, atol=1e-5)
    with pytest.raises(UnsupportedOpError, match="asymmetric padding.*'conv'"):
        from_onnx(model([0, 0, 1, 1]))


def test_convert_without_torch_says_what_to_install(tmp_path: Path) -> None:
    (tmp_path / "m.onnx").write_bytes(b"")
    r = subprocess.run(
        [sys.executable, "-c", NO_TORCH, "convert", str(tmp_path / "m.onnx"), "-o", "x.aio"],
        cwd=tmp_path,
        env={"PYTHONPATH": PACKAGE_PARENT, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 1
    assert "convert needs torch" in r.stderr and "allinone[train,onnx]" in r.stderr


def test_convert_keeps_an_unfolded_batchnorm(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A BatchNormalization node after a Conv becomes that conv's BatchNorm2d (no identity BN
    inserted); level 0 matches ONNX Runtime."""
    onnx = pytest.importorskip("onnx")
    pytest.importorskip("torch")
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(7)
    arrays = {
        "w": rng.standard_normal((8, 3, 3, 3)),
        "g": rng.random(8) + 0.5,
        "b": rng.random(8) - 0.5,
        "m": rng.random(8) - 0.5,
        "v": rng.random(8) + 0.5,
        "fw": rng.standard_normal((4, 8)),
        "fb": rng.standard_normal(4),
    }
    inits = [numpy_helper.from_array(a.astype(np.float32), k) for k, a in arrays.items()]
    graph = helper.make_graph(
        [
            helper.make_node("Conv", ["x", "w"], ["c"], name="conv", pads=[1, 1, 1, 1]),
            helper.make_node("BatchNormalization", ["c", "g", "b", "m", "v"], ["n"], name="bn"),
            helper.make_node("Relu", ["n"], ["r"], name="relu"),
            helper.make_node("GlobalAveragePool", ["r"], ["p"], name="gap"),
            helper.make_node("Flatten", ["p"], ["f"], name="flat"),
            helper.make_node("Gemm", ["f", "fw", "fb"], ["y"], name="fc", transB=1),
        ],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])],
        inits,
    )
    path = tmp_path / "bn.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    np.save(tmp_path / "calib.npy", rng.standard_normal((8, 3, 8, 8)).astype(np.float32))
    out = tmp_path / "bn.aio"
    code, stdout, _ = _cli(
        capsys, "convert", str(path), "-o", str(out), "--levels", "1,0.5",
        "--calib", str(tmp_path / "calib.npy"), "--json",
    )  # fmt: skip
    assert code == 0 and json.loads(stdout)["inserted_bn"] == []
    x = rng.standard_normal((2, 3, 8, 8)).astype(np.float32)
    ref = _ort(path, x)
    y0 = Engine(out, threads=1).run_at(0, x)
    assert np.abs(y0 - ref).max() <= 1e-4 * np.abs(ref).max()


def test_convert_refuses_a_spatial_gate_naming_the_node(tmp_path: Path) -> None:
    """A Mul by an (N, 1, H, W) attention map cannot be levelled as a squeeze-excite gate: the
    error names the ONNX node."""
    pytest.importorskip("onnx")
    pytest.importorskip("torch")
    from onnx import TensorProto, helper, numpy_helper

    from allinone.exporter import trace
    from allinone.exporter.onnx_import import UnsupportedOpError, from_onnx

    w = numpy_helper.from_array(np.ones((4, 3, 3, 3), np.float32), "w")
    wa = numpy_helper.from_array(np.ones((1, 4, 1, 1), np.float32), "wa")
    graph = helper.make_graph(
        [
            helper.make_node("Conv", ["x", "w"], ["c"], name="conv0", pads=[1, 1, 1, 1]),
            helper.make_node("Conv", ["c", "wa"], ["a"], name="attention"),
            helper.make_node("Sigmoid", ["a"], ["s"], name="sig"),
            helper.make_node("Mul", ["c", "s"], ["y"], name="spatial_gate"),
        ],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 8, 8])],
        [w, wa],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    imported = from_onnx(model, insert_bn=False)
    with pytest.raises(ValueError, match=r"unsupported op 'mul' of shapes .* 'spatial_gate'"):
        trace(imported.module, __import__("torch").randn(1, 3, 8, 8))
    # A Mul by a constant is refused by the importer itself, by name.
    model.graph.node[3].input[1] = "w"
    with pytest.raises(UnsupportedOpError, match="Mul by a constant at node 'spatial_gate'"):
        from_onnx(model)
