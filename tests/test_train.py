"""allinone.train: nested-mask training, per-level BN, export fidelity, data loader, CLI errors.

Synthetic data made here; runs in seconds on one core.
"""

from __future__ import annotations

import argparse
import gzip
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
F = torch.nn.functional

from allinone import zoo  # noqa: E402
from allinone.format import AioModel, load  # noqa: E402
from allinone.train import (  # noqa: E402
    NestedModel,
    NestedTrainer,
    export_nested,
    load_fashion_mnist,
    reference_output,
)
from allinone.train.levels import parse_levels  # noqa: E402

LEVELS = [1.0, 0.75, 0.5, 0.25]


@pytest.fixture(autouse=True)
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def tiny_vgg():
    return zoo.VGGSmall(in_channels=1, num_classes=4, cfg=(8, "M", 16, "M"), hidden=16)


def tiny_resnet():
    return zoo.ResNet([1, 1], [8, 16], "cifar", in_channels=1, num_classes=4)


def synthetic(n: int = 64, size: int = 12, seed: int = 0):
    """Class = the quadrant holding a bright blob, plus noise."""
    g = torch.Generator().manual_seed(seed)
    x = 0.3 * torch.randn(n, 1, size, size, generator=g)
    y = torch.randint(0, 4, (n,), generator=g)
    h = size // 2
    for i in range(n):
        r, c = divmod(int(y[i]), 2)
        x[i, 0, r * h : r * h + h, c * h : c * h + h] += 1.0
    return x, y


def trained(make, steps: int = 12, seed: int = 0):
    torch.manual_seed(seed)
    x, y = synthetic()
    nested = NestedModel(make(), LEVELS, x[:2])
    trainer = NestedTrainer(nested, total_steps=steps, lr=0.05, hard_from=0.5)
    for _ in range(steps):
        trainer.step((x, y))
    trainer.finish(calib=[(x, y)])
    return nested, x, y


def level_losses(nested: NestedModel, x, y) -> list[float]:
    """Cross-entropy of every level with hard masks (batch statistics, as in training)."""
    nested.train()
    nested.temperature = 0.0
    out = []
    with torch.no_grad():
        for k in range(nested.n_levels):
            nested.set_level(k)
            out.append(float(F.cross_entropy(nested(x), y)))
    nested.set_level(0)
    return out


@pytest.mark.parametrize("make", [tiny_vgg, tiny_resnet])
def test_training_lowers_the_loss_of_every_level(make):
    torch.manual_seed(0)
    x, y = synthetic()
    nested = NestedModel(make(), LEVELS, x[:2])
    before = level_losses(nested, x, y)
    trainer = NestedTrainer(nested, total_steps=20, lr=0.1, n_middle=2, hard_from=0.6)
    for _ in range(20):
        losses = trainer.step((x, y))
        assert set(losses) == {0, 1, 2, 3}  # 4 levels: sandwich + 2 middle = all of them
    after = level_losses(nested, x, y)
    for k, (b, a) in enumerate(zip(before, after, strict=True)):
        assert a < 0.8 * b, f"level {k}: loss {b:.3f} -> {a:.3f}"


def test_levels_nest_and_have_the_declared_widths():
    nested, _, _ = trained(tiny_resnet)
    for g in range(len(nested.full_widths)):
        prev: set[int] | None = None
        for k in range(nested.n_levels):
            kept = set(nested.kept_channels(k, g))
            assert len(kept) == nested.level_widths[k][g]
            if prev is not None:
                assert kept <= prev, f"group {g}: level {k} keeps channels level {k - 1} drops"
            prev = kept


def test_trainer_state_dict_round_trip():
    nested, x, y = trained(tiny_vgg, steps=3)
    torch.manual_seed(1)
    other = NestedModel(tiny_vgg(), LEVELS, x[:2])
    src = NestedTrainer(nested, total_steps=3)
    dst = NestedTrainer(other, total_steps=3)
    dst.load_state_dict(src.state_dict())
    for k in range(nested.n_levels):
        assert torch.equal(reference_output(nested, k, x), reference_output(other, k, x))
        assert nested.kept_channels(k, 0) == other.kept_channels(k, 0)


def test_hard_mask_is_the_zero_temperature_limit():
    nested, _, _ = trained(tiny_vgg, steps=2)
    masks = nested.masks
    for g in range(len(nested.full_widths)):
        for k in range(nested.n_levels):
            masks.temperature = 1e-4
            soft = masks.mask(k, g).detach()
            masks.temperature = 0.0
            hard = masks.mask(k, g)
            assert torch.allclose(soft, hard, atol=1e-3)
            assert int(hard.sum()) == nested.level_widths[k][g]


def run_file_level(m: AioModel, level: int, x):
    """The file's level computed with torch ops from the file alone (prefix slices, per-level
    scale/bias): an independent check of the exported data when the C++ engine is not built."""
    acts = {"none": lambda t: t, "relu": F.relu, "relu6": F.relu6}

    def width(v: int) -> int:
        g = m.values[v].group
        return m.values[v].shape[0] if g is None else int(m.widths[level][g])

    def t(name):
        return torch.from_numpy(np.asarray(m.tensors[name], dtype=np.float32))

    vals = {0: x}
    for n in m.nodes:
        a = vals[n.inputs[0]]
        if n.op in ("conv2d", "linear"):
            wo, wi = width(n.output), width(n.inputs[0])
            w, s, b = t(n.weight), t(n.scale)[level, :wo], t(n.bias)[level, :wo]
            if n.op == "conv2d":
                assert n.groups == 1
                y = F.conv2d(a, w[:wo, :wi], None, n.stride, n.padding, n.dilation)
                y = y * s.view(1, -1, 1, 1) + b.view(1, -1, 1, 1)
                if len(n.inputs) > 1:
                    y = y + vals[n.inputs[1]]
            else:
                c, h, ww = m.values[n.inputs[0]].shape
                w = w.reshape(w.shape[0], c, h * ww)[:wo, :wi].reshape(wo, -1)
                y = (a.flatten(1) @ w.T * s + b).view(a.shape[0], wo, 1, 1)
        elif n.op == "add":
            y = a + vals[n.inputs[1]]
        elif n.op == "act":
            y = a
        elif n.op == "maxpool":
            y = F.max_pool2d(a, n.kernel, n.stride, n.padding, ceil_mode=n.ceil_mode)
        elif n.op == "global_avgpool":
            y = a.mean((2, 3), keepdim=True)
        else:
            raise AssertionError(f"op {n.op} not covered by this test")
        vals[n.output] = acts[n.act](y)
    return vals[m.output].flatten(1)


@pytest.mark.parametrize("make", [tiny_vgg, tiny_resnet])
def test_exported_levels_match_the_trained_model(make, tmp_path):
    nested, x, _ = trained(make)
    path = tmp_path / "m.aio"
    export_nested(nested, path, labels=["a", "b", "c", "d"])
    aio = load(path)
    assert aio.labels == ["a", "b", "c", "d"]
    assert aio.widths.tolist() == nested.level_widths
    xs = x[:8]
    try:
        from allinone import Engine
    except ImportError:
        Engine = None
    engine = Engine(str(path)) if Engine is not None else None
    for k in range(nested.n_levels):
        ref = reference_output(nested, k, xs)
        tol = 1e-4 * float(ref.abs().max())
        got = run_file_level(aio, k, xs)
        assert float((got - ref).abs().max()) <= tol, f"file level {k}"
        if engine is not None:
            out = np.asarray(engine.run_at(k, xs.numpy())).reshape(ref.shape)
            assert float(np.abs(out - ref.numpy()).max()) <= tol, f"engine level {k}"


def test_levels_must_decrease():
    with pytest.raises(ValueError, match="strictly decreasing"):
        parse_levels("1,0.5,0.75")
    with pytest.raises(ValueError, match="outside"):
        parse_levels("1.5,0.5")
    with pytest.raises(ValueError, match="comma-separated"):
        parse_levels("1,half")
    x, _ = synthetic(2)
    with pytest.raises(ValueError, match="strictly decreasing"):
        NestedModel(tiny_vgg(), [0.5, 0.75], x)


# -- data -------------------------------------------------------------------------------------
def write_idx(path: Path, arr: np.ndarray) -> None:
    code = {np.dtype(np.uint8): 0x08}[arr.dtype]
    head = bytes([0, 0, code, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape)
    with gzip.open(path, "wb") as f:
        f.write(head + arr.tobytes())


def fake_fashion_mnist(d: Path, n_train: int = 64, n_test: int = 32) -> Path:
    rng = np.random.default_rng(0)
    for split, n in (("train", n_train), ("t10k", n_test)):
        write_idx(d / f"{split}-images-idx3-ubyte.gz", rng.integers(0, 256, (n, 28, 28), np.uint8))
        write_idx(d / f"{split}-labels-idx1-ubyte.gz", rng.integers(0, 10, n).astype(np.uint8))
    return d


def test_idx_loader(tmp_path):
    fake_fashion_mnist(tmp_path)
    x, y = load_fashion_mnist("train", tmp_path, limit=10)
    assert x.shape == (10, 1, 28, 28) and x.dtype == np.float32
    assert 0.0 <= x.min() and x.max() <= 1.0
    assert y.shape == (10,) and y.dtype == np.int64
    x, _ = load_fashion_mnist("test", tmp_path)
    assert len(x) == 32


def test_missing_data_says_how_to_install(tmp_path):
    with pytest.raises(FileNotFoundError, match="apt-get install dataset-fashion-mnist"):
        load_fashion_mnist("train", tmp_path / "nope")
    with pytest.raises(FileNotFoundError, match="apt-get install dataset-fashion-mnist"):
        load_fashion_mnist("train", tmp_path)  # exists, but holds no IDX files


# -- CLI ---------------------------------------------------------------------------------------
def cli(*argv: str):
    from allinone.cli import train

    parser = argparse.ArgumentParser(prog="allinone")
    train.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["train", *argv])
    return args.func(args)


def test_cli_errors(tmp_path):
    out = str(tmp_path / "m.aio")
    with pytest.raises(ValueError, match="strictly decreasing"):
        cli("--levels", "1,0.5,0.75", "--data-dir", str(tmp_path), "-o", out)
    with pytest.raises(ValueError, match="unknown model 'nope'"):
        cli("--model", "nope", "--data-dir", str(tmp_path), "-o", out)
    with pytest.raises(FileNotFoundError, match="apt-get install dataset-fashion-mnist"):
        cli("--data-dir", str(tmp_path / "missing"), "-o", out)
    with pytest.raises(ValueError, match="unknown dataset"):
        cli("--data", "imagenet", "--data-dir", str(tmp_path), "-o", out)


def test_cli_trains_and_prints_the_level_table(tmp_path, capsys):
    data = fake_fashion_mnist(tmp_path)
    out = tmp_path / "m.aio"
    rc = cli(
        "--model", "vgg_small", "--data-dir", str(data), "--levels", "1,0.5",
        "--epochs", "1", "--batch-size", "32", "--limit-train", "64", "-o", str(out),
    )  # fmt: skip
    assert rc == 0 and out.is_file()
    text = capsys.readouterr().out
    assert "MFLOPs" in text and "acc %" in text
    m = load(out)
    assert m.labels[9] == "Ankle boot"
    # Every level's test accuracy is stored in the file, the printed table's, and `info` shows it.
    from allinone.format import level_accuracy

    acc = level_accuracy(m)
    assert acc is not None and len(acc) == 2 and all(0.0 <= a <= 1.0 for a in acc)
    for a in acc:
        assert f"{100 * a:>7.2f}" in text
    from allinone.cli import info

    assert [lv["accuracy"] for lv in info.describe(str(out))["levels"]] == pytest.approx(acc)
    ap = argparse.ArgumentParser()
    info.register(ap.add_subparsers())
    args = ap.parse_args(["info", str(out)])
    assert args.func(args) == 0
    shown = capsys.readouterr().out
    assert "acc %" in shown and f"{100 * acc[1]:.2f}" in shown


def test_cli_latency_budget_levels(tmp_path, capsys):
    # --budget latency: --levels are fractions of level 0's latency, measured per layer by the
    # engine; widths then differ between groups, unlike uniform keep ratios.
    data = fake_fashion_mnist(tmp_path)
    out = tmp_path / "m.aio"
    rc = cli(
        "--model", "vgg_small", "--data-dir", str(data), "--levels", "1,0.6,0.35",
        "--budget", "latency", "--epochs", "1", "--batch-size", "32", "--limit-train", "64",
        "-o", str(out),
    )  # fmt: skip
    assert rc == 0
    m = load(out)
    widths = np.asarray(m.widths, dtype=float)
    assert widths.shape[0] == 3 and (np.diff(widths, axis=0) <= 0).all()
    keep = widths[1:] / widths[0]
    assert (keep.max(axis=1) - keep.min(axis=1) > 0.05).all()  # not one ratio everywhere
    with pytest.raises(ValueError, match="ratios must start at 1.0"):
        cli(
            "--model", "vgg_small", "--data-dir", str(data), "--levels", "0.9,0.5",
            "--budget", "flops", "--limit-train", "64", "-o", str(out),
        )  # fmt: skip


def test_cli_middle_levels(tmp_path, capsys, monkeypatch):
    # --middle-levels sets how many random middle levels each step trains (the sandwich rule).
    from allinone.train import trainer as trainer_mod

    seen: list[list[int]] = []
    sample = trainer_mod.NestedTrainer.sample_levels

    def spy(self):  # noqa: ANN001, ANN202
        picked = sample(self)
        seen.append(picked)
        return picked

    monkeypatch.setattr(trainer_mod.NestedTrainer, "sample_levels", spy)
    data = fake_fashion_mnist(tmp_path)
    args = ["--model", "vgg_small", "--data-dir", str(data), "--levels", "1,0.8,0.6,0.4"]
    args += ["--limit-train", "64", "--batch-size", "32", "-o", str(tmp_path / "m.aio")]
    assert cli(*args, "--middle-levels", "1") == 0
    assert seen and all(len(p) == 3 and p[0] == 0 and p[-1] == 3 for p in seen)
    with pytest.raises(ValueError, match="--middle-levels"):
        cli(*args, "--middle-levels", "-1")


def test_cli_module_does_not_import_torch(tmp_path):
    code = (
        "import sys, argparse; import allinone.cli.train as t; "
        "t.register(argparse.ArgumentParser().add_subparsers()); "
        "t._check_args(argparse.Namespace(levels='1,0.5', data='fashion-mnist', data_dir='/', "
        "epochs=1, batch_size=1, threads=1, round_to=1, middle_levels=2)); "
        "import allinone.train.data; "
        "assert 'torch' not in sys.modules, 'torch imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=tmp_path)


def tiny_mobilenet_v3():
    return zoo.get("mobilenet_v3_small", in_channels=1, num_classes=4)


def test_mobilenet_v3_small_trains_and_exports_exactly(tmp_path):
    """Squeeze-excite gates, hardswish and 5x5 depthwise through nested training and export:
    the engine matches the trained model at every level."""
    pytest.importorskip("allinone._core")
    from allinone import Engine

    nested, x, _ = trained(tiny_mobilenet_v3, steps=3)
    path = tmp_path / "m.aio"
    export_nested(nested, path)
    engine = Engine(str(path))
    xs = x[:4]
    for k in range(nested.n_levels):
        ref = reference_output(nested, k, xs)
        out = np.asarray(engine.run_at(k, xs.numpy())).reshape(ref.shape)
        assert float(np.abs(out - ref.numpy()).max()) <= 1e-4 * float(ref.abs().max()), k


def test_cli_trains_mobilenet_v3_small(tmp_path, capsys):
    pytest.importorskip("allinone._core")
    from allinone import Engine

    data = fake_fashion_mnist(tmp_path)
    out = tmp_path / "m.aio"
    rc = cli(
        "--model", "mobilenet_v3_small", "--data-dir", str(data), "--epochs", "1",
        "--batch-size", "32", "--limit-train", "64", "--round-to", "8", "-o", str(out),
    )  # fmt: skip
    assert rc == 0
    rows = capsys.readouterr().out.split("params")[-1].strip().splitlines()
    assert len(rows) == 4  # one accuracy row per level
    engine = Engine(str(out))
    assert engine.num_levels == 4
    y = [engine.run_at(k, np.ones((1, 1, 28, 28), np.float32)) for k in (0, 3)]
    assert all(np.isfinite(v).all() for v in y) and not np.allclose(y[0], y[1])
