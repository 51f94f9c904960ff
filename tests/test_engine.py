"""allinone.Engine on small hand-built models: every operator and level against a reference of the
physically sliced network (torch.nn.functional), level switching, batching, errors, threads.

Tolerance: max abs err <= 1e-4 * max |reference|.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from support import PACKAGE_PARENT

from allinone import Engine, _core
from allinone import format as F
from allinone.runtime import LevelError

torch = pytest.importorskip("torch")
TF = torch.nn.functional

ACT_FNS = {
    "none": lambda t: t,
    "relu": TF.relu,
    "relu6": TF.relu6,
    "silu": TF.silu,
    "hardswish": TF.hardswish,
}


class Builder:
    """Builds an AioModel node by node with random weights and per-level scale/bias."""

    def __init__(self, name: str, input_shape: tuple[int, int, int], groups: list[int],
                 widths: list[list[int]], seed: int = 0) -> None:  # fmt: skip
        self.rng = np.random.default_rng(seed)
        self.m = F.AioModel(
            name=name,
            input_shape=input_shape,
            groups=groups,
            keep_ratios=[1.0 - 0.25 * k for k in range(len(widths))],
            widths=np.array(widths, dtype=np.uint32),
            values=[F.Value(None, input_shape)],
            nodes=[],
            output=0,
            tensors={},
            labels=[f"class{i}" for i in range(3)],
        )

    def value(self, group: int | None, shape: tuple[int, int, int]) -> int:
        self.m.values.append(F.Value(group, shape))
        return len(self.m.values) - 1

    def _tensor(self, name: str, shape: tuple[int, ...], scale: float = 1.0,
                offset: float = 0.0) -> str:  # fmt: skip
        arr = self.rng.standard_normal(shape).astype(np.float32) * scale + offset
        self.m.tensors[name] = arr.astype(np.float32)
        return name

    def _scale_bias(self, name: str, rows: int) -> tuple[str, str]:
        n = self.m.num_levels
        return (
            self._tensor(f"{name}.scale", (n, rows), 0.2, 1.0),
            self._tensor(f"{name}.bias", (n, rows), 0.1),
        )

    def conv(self, x: int, group: int | None, c_out: int, k: int = 3, s: int = 1, p: int = 1,
             d: int = 1, groups: int = 1, act: str = "relu", residual: int | None = None,
             name: str | None = None) -> int:  # fmt: skip
        name = name or f"conv{len(self.m.nodes)}"
        cin, h, w = self.m.values[x].shape
        ho = (h + 2 * p - d * (k - 1) - 1) // s + 1
        wo = (w + 2 * p - d * (k - 1) - 1) // s + 1
        y = self.value(group, (c_out, ho, wo))
        fan_in = cin // groups * k * k
        wt = self._tensor(f"{name}.weight", (c_out, cin // groups, k, k), fan_in**-0.5)
        sc, bi = self._scale_bias(name, c_out)
        self.m.nodes.append(
            F.Node(
                "conv2d",
                name,
                [x] if residual is None else [x, residual],
                y,
                act,
                wt,
                sc,
                bi,
                (k, k),
                (s, s),
                (p, p),
                (d, d),
                groups,
            )  # fmt: skip
        )
        return y

    def linear(self, x: int, group: int | None, out: int, act: str = "none") -> int:
        name = f"fc{len(self.m.nodes)}"
        c, h, w = self.m.values[x].shape
        y = self.value(group, (out, 1, 1))
        wt = self._tensor(f"{name}.weight", (out, c * h * w), (c * h * w) ** -0.5)
        sc, bi = self._scale_bias(name, out)
        self.m.nodes.append(F.Node("linear", name, [x], y, act, wt, sc, bi))
        return y

    def simple(self, op: str, inputs: list[int], act: str = "none") -> int:
        v = self.m.values[inputs[0]]
        y = self.value(v.group, v.shape)
        self.m.nodes.append(F.Node(op, f"{op}{len(self.m.nodes)}", inputs, y, act))
        return y

    def pool(self, op: str, x: int, k: int, s: int, p: int, ceil_mode: bool = False,
             count_include_pad: bool = False) -> int:  # fmt: skip
        v = self.m.values[x]
        c, h, w = v.shape

        def size(n: int) -> int:
            room = n + 2 * p - k
            out = (-(-room // s) if ceil_mode else room // s) + 1
            if ceil_mode and (out - 1) * s >= n + p:
                out -= 1
            return out

        y = self.value(v.group, (c, size(h), size(w)))
        self.m.nodes.append(
            F.Node(
                op,
                f"{op}{len(self.m.nodes)}",
                [x],
                y,
                kernel=(k, k),
                stride=(s, s),
                padding=(p, p),
                dilation=(1, 1),
                ceil_mode=ceil_mode,
                count_include_pad=count_include_pad,
            )  # fmt: skip
        )
        return y

    def global_pool(self, x: int) -> int:
        v = self.m.values[x]
        y = self.value(v.group, (v.shape[0], 1, 1))
        self.m.nodes.append(F.Node("global_avgpool", f"gap{len(self.m.nodes)}", [x], y))
        return y

    def done(self, out: int) -> F.AioModel:
        self.m.output = out
        return self.m


def model_convs(h: int = 13, w: int = 11, c: int = 16, seed: int = 0) -> F.AioModel:
    """Conv 3x3 s2, 1x1, depthwise, fused residual, ADD, ACT, dilated, grouped, linear (4-D in)."""
    b = Builder("convs", (3, h, w), [c, 24 * c // 16], [[c, 24 * c // 16], [12 * c // 16,
                16 * c // 16], [5 * c // 16, 8 * c // 16]], seed)  # fmt: skip
    v1 = b.conv(0, 0, c, k=3, s=2, p=1, act="relu")
    v2 = b.conv(v1, 1, 24 * c // 16, k=1, p=0, act="silu")
    v3 = b.conv(v2, 1, 24 * c // 16, k=3, p=1, groups=24 * c // 16, act="relu6")
    v4 = b.conv(v3, 0, c, k=1, p=0, act="hardswish", residual=v1)
    v5 = b.simple("add", [v4, v1], act="relu")
    v6 = b.simple("act", [v5], act="silu")
    v7 = b.conv(v6, None, 8, k=3, p=2, d=2, act="none")
    v8 = b.conv(v7, None, 8, k=3, p=1, groups=2, act="relu")
    v9 = b.conv(v8, None, 8, k=5, s=2, p=2, groups=8, act="hardswish")
    return b.done(b.linear(v9, None, 10))


def model_pools() -> F.AioModel:
    """Max/avg pools with ceil_mode and count_include_pad, global pool, linear."""
    b = Builder("pools", (4, 9, 10), [12], [[12], [7], [3]], seed=1)
    v1 = b.conv(0, 0, 12, act="relu")
    v2 = b.pool("maxpool", v1, 3, 2, 1, ceil_mode=True)
    v3 = b.pool("avgpool", v2, 3, 2, 1, ceil_mode=True, count_include_pad=True)
    v4 = b.pool("avgpool", v1, 2, 1, 1)
    v5 = b.pool("maxpool", v4, 2, 2, 0)
    v6 = b.pool("avgpool", v5, 3, 2, 1, count_include_pad=True)
    v7 = b.simple("add", [b.global_pool(v3), b.global_pool(v6)], act="relu")
    return b.done(b.linear(v7, None, 5, act="relu6"))


def model_features() -> F.AioModel:
    """Output is a pruned feature map: (N, C_k, H, W) with C_k depending on the level."""
    b = Builder("features", (3, 8, 8), [8, 6], [[8, 6], [4, 5], [2, 2]], seed=2)
    v1 = b.conv(0, 0, 8, act="relu")
    return b.done(b.conv(v1, 1, 6, k=1, p=0, act="none"))


def model_no_epilogue() -> F.AioModel:
    """Scale and bias are optional (NONE): y = act(conv(x)) and y = W x."""
    b = Builder("plain", (5, 7, 6), [9], [[9], [6], [1]], seed=4)
    v1 = b.conv(0, 0, 9, k=3, s=2, p=1, act="relu")
    v2 = b.conv(v1, 0, 9, k=3, p=1, groups=9, act="none")
    out = b.linear(v2, None, 4)
    for node in b.m.nodes:
        node.scale = node.bias = None
    return b.done(out)


MODELS = {
    "convs": model_convs,
    "pools": model_pools,
    "features": model_features,
    "plain": model_no_epilogue,
}


def reference(m: F.AioModel, level: int, x: np.ndarray) -> np.ndarray:
    """Runs the physically sliced network of ``level`` with torch.nn.functional."""

    def width(v: int) -> int:
        g = m.values[v].group
        return m.values[v].shape[0] if g is None else int(m.widths[level][g])

    t = {k: torch.from_numpy(a) for k, a in m.tensors.items()}
    vals: dict[int, Any] = {0: torch.from_numpy(x)}
    with torch.no_grad():
        for n in m.nodes:
            a = vals[n.inputs[0]]
            co = width(n.output)
            if n.op in ("conv2d", "linear"):
                ci = width(n.inputs[0])
                if n.op == "conv2d":
                    wt = t[n.weight][:co] if n.groups > 1 else t[n.weight][:co, :ci]
                    y = TF.conv2d(a, wt, None, n.stride, n.padding, n.dilation,
                                  ci if n.groups > 1 and n.groups == m.values[n.inputs[0]].shape[0]
                                  else n.groups)  # fmt: skip
                else:
                    c, h, w = m.values[n.inputs[0]].shape
                    wt = t[n.weight].reshape(-1, c, h * w)[:co, :ci].reshape(co, -1)
                    y = (a.reshape(a.shape[0], -1) @ wt.T).reshape(a.shape[0], co, 1, 1)
                if n.scale is not None:
                    y = y * t[n.scale][level, :co].reshape(1, co, 1, 1)
                if n.bias is not None:
                    y = y + t[n.bias][level, :co].reshape(1, co, 1, 1)
                if len(n.inputs) > 1:
                    y = y + vals[n.inputs[1]]
            elif n.op == "add":
                y = a + vals[n.inputs[1]]
            elif n.op == "act":
                y = a
            elif n.op == "maxpool":
                y = TF.max_pool2d(a, n.kernel, n.stride, n.padding, ceil_mode=n.ceil_mode)
            elif n.op == "avgpool":
                y = TF.avg_pool2d(a, n.kernel, n.stride, n.padding, ceil_mode=n.ceil_mode,
                                  count_include_pad=n.count_include_pad)  # fmt: skip
            elif n.op == "global_avgpool":
                y = a.mean(dim=(2, 3), keepdim=True)
            else:
                raise AssertionError(n.op)
            vals[n.output] = ACT_FNS[n.act](y)
    out = vals[m.output].numpy()
    return out.reshape(out.shape[0], -1) if out.shape[2:] == (1, 1) else out


def close(out: np.ndarray, ref: np.ndarray, what: str) -> None:
    assert out.shape == ref.shape, f"{what}: shape {out.shape} != {ref.shape}"
    err = float(np.abs(out.astype(np.float64) - ref).max())
    bound = 1e-4 * float(np.abs(ref).max())
    assert err <= bound, f"{what}: max abs err {err:.3g} > {bound:.3g}"


def save(m: F.AioModel, tmp_path: Path) -> Path:
    path = tmp_path / f"{m.name}.aio"
    F.save(m, path)
    return path


def rand_input(m: F.AioModel, n: int = 2, seed: int = 5) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, *m.input_shape)).astype(np.float32)


@pytest.mark.parametrize("name", list(MODELS))
@pytest.mark.parametrize("threads", [1, 2])
def test_every_level_matches_sliced_reference(name: str, threads: int, tmp_path: Path) -> None:
    m = MODELS[name]()
    engine = Engine(save(m, tmp_path), threads=threads)
    x = rand_input(m)
    assert engine.num_levels == m.num_levels
    for k in range(m.num_levels):
        close(engine.run_at(k, x), reference(m, k, x), f"{name} level {k}")


def test_large_model_multithreaded_matches(tmp_path: Path) -> None:
    """Layers above the single-thread threshold, so work is split into tiles over threads."""
    m = model_convs(h=64, w=56, c=32, seed=3)
    engine = Engine(save(m, tmp_path), threads=2)
    x = rand_input(m, n=3)
    for k in range(m.num_levels):
        close(engine.run_at(k, x), reference(m, k, x), f"large level {k}")


def model_wide_k() -> F.AioModel:
    """K = 512*9 on a 7x7 image. On AVX-512 the channels-in-lanes convolution (tiles of two rows
    of 7 pixels and a last row alone; 16 and 24 channels: partial strips); elsewhere the packed
    GEMM, 18 K blocks, and at 2+ threads a split over rows (49 pixels: strips of 32 and 17)."""
    b = Builder("widek", (512, 7, 7), [16, 24], [[16, 24], [8, 12]], seed=6)
    v1 = b.conv(0, 0, 16, k=3, p=1, act="relu")
    return b.done(b.conv(v1, 1, 24, k=3, p=1, act="none"))


def model_small_maps() -> F.AioModel:
    """3x3 convolutions on 14x14 and 7x7 maps: channels in lanes on AVX-512 (runs of 14 pixels;
    two rows of 7), else split over rows at 2+ threads with B packed once and shared by the row
    tiles (the strips of 196 or 49 pixels split unevenly)."""
    b = Builder("smallmaps", (32, 14, 14), [64, 96], [[64, 96], [48, 72], [20, 40]], seed=8)
    v1 = b.conv(0, 0, 64, k=3, p=1, act="relu")
    return b.done(b.conv(v1, 1, 96, k=3, s=2, p=1, act="none"))


def model_shared_b() -> F.AioModel:
    """A 3x3 stride-2 layer onto a 15x15 map (225 pixels: past channels in lanes, and 7 strips
    and one pixel, which split unevenly) and a 1x1 stride-2 one onto 8x8: the packed GEMM on every
    ISA, split over rows at 2+ threads with B packed once and shared by the row tiles."""
    b = Builder("sharedb", (24, 30, 30), [40, 36], [[40, 36], [24, 20]], seed=10)
    v1 = b.conv(0, 0, 40, k=3, s=2, p=1, act="relu")
    return b.done(b.conv(v1, 1, 36, k=1, s=2, p=0, act="none"))


def model_first_conv() -> F.AioModel:
    """A 7x7 stride-2 first layer on 3 channels over a 40-wide output (the direct convolution on
    AVX-512: rows of 32 + 8 pixels), the stem's 3x3 stride-2 max pool (output rows split over
    workers), then a 3x3 stride-2 convolution on 24 channels onto a 9 x 10 map (channels in
    lanes on AVX-512)."""
    b = Builder("firstconv", (3, 70, 80), [24, 16], [[24, 16], [12, 8]], seed=9)
    v1 = b.conv(0, 0, 24, k=7, s=2, p=3, act="relu")
    v2 = b.pool("maxpool", v1, 3, 2, 1)
    return b.done(b.conv(v2, 1, 16, k=3, s=2, p=1, act="none"))


def model_winograd_strips() -> F.AioModel:
    """A 3x3 layer onto a 28x28 map: Winograd's 196 tiles are 6 GEMM strips of 32 and 4 tiles,
    split over workers in whole strips with the partial one on top of the last worker's share."""
    b = Builder("wgstrips", (16, 28, 28), [24], [[24], [12]], seed=11)
    return b.done(b.conv(0, 0, 24, k=3, p=1, act="relu"))


@pytest.mark.parametrize(
    "make",
    [model_wide_k, model_small_maps, model_shared_b, model_first_conv, model_winograd_strips],
)
@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize("winograd", [True, False])
def test_split_layers_match(
    make: Callable[[], F.AioModel], threads: int, winograd: bool, tmp_path: Path
) -> None:
    """Layers whose work split depends on the thread count, at every level: the 14 x 14 3x3 layer
    by Winograd F(2x2, 3x3) or the packed GEMM, the first layer on 3 channels by the direct
    convolution (output rows split over workers), the small maps' layers by channels in lanes
    (strips of output channels or rows split over workers)."""
    m = make()
    engine = Engine(save(m, tmp_path), threads=threads, winograd=winograd)
    kinds = [kind for _, kind, _, _ in engine.profile(rand_input(m, n=1), 0, 1)]
    wino = make in (model_small_maps, model_winograd_strips)
    assert ("conv3x3/s1/winograd" in kinds) == (winograd and wino), kinds
    direct = make is model_first_conv and _core.isa() == "avx512"
    assert ("conv7x7/s2/direct" in kinds) == direct, kinds
    avx512 = _core.isa() == "avx512"
    s1_lanes = make is model_wide_k or (make is model_small_maps and not winograd)
    assert ("conv3x3/s1/cout_lanes" in kinds) == (avx512 and s1_lanes), kinds
    s2_lanes = make in (model_small_maps, model_first_conv)
    assert ("conv3x3/s2/cout_lanes" in kinds) == (avx512 and s2_lanes), kinds
    x = rand_input(m, n=2)
    for k in range(m.num_levels):
        close(engine.run_at(k, x), reference(m, k, x), f"{m.name} level {k}")


def test_first_layer_algorithm_per_level(tmp_path: Path) -> None:
    """A first layer (7x7 stride 2 on 3 channels, a 35-wide output) whose levels have 64, 48 and
    32 channels: on AVX-512 the levels of whole 32-channel strips run it with channels in lanes,
    the 48-channel one by the direct convolution; every level matches the reference at 1-3
    threads."""
    b = Builder("firstwide", (3, 30, 70), [64, 16], [[64, 16], [48, 8], [32, 8]], seed=11)
    v1 = b.conv(0, 0, 64, k=7, s=2, p=3, act="relu")
    m = b.done(b.conv(v1, 1, 16, k=3, s=2, p=1, act="none"))
    path = save(m, tmp_path)
    x = rand_input(m, n=2)
    for threads in (1, 2, 3):
        engine = Engine(path, threads=threads)
        for k in range(m.num_levels):
            kind = engine.profile(rand_input(m, n=1), k, 1)[0][1]
            if _core.isa() == "avx512":
                assert kind == ("conv7x7/s2/direct" if k == 1 else "conv7x7/s2/cout_lanes"), kind
            close(engine.run_at(k, x), reference(m, k, x), f"{m.name} level {k}")


def check_winograd_narrow_levels(path: Path) -> None:
    """The checks of test_winograd_narrow_levels_take_im2col on the ISA this process runs."""
    m = F.load(path)
    # Only AVX-512's transforms (16 tiles per vector) keep Winograd at the narrow levels.
    narrow = "winograd" if _core.isa() == "avx512" else "im2col"
    x = rand_input(m, n=2)
    for threads in (1, 2, 3):
        engine = Engine(path, threads=threads)
        for k, second in enumerate(["winograd", narrow]):
            kinds = [kind for _, kind, _, _ in engine.profile(rand_input(m, n=1), k, 1)]
            assert kinds == ["conv3x3/s1/winograd", f"conv3x3/s1/{second}"], (k, kinds)
            close(engine.run_at(k, x), reference(m, k, x), f"{m.name} level {k}")
    plain = Engine(path, threads=1, winograd=False)
    for k in range(m.num_levels):
        close(plain.run_at(k, x), reference(m, k, x), f"{m.name} winograd=False level {k}")
    # Both layers keep their 16 transformed values per kernel (F(2x2): 16 channels); the second
    # also its packed 3x3 weights (16 rows x 24 * 9) where it runs its narrow level by im2col.
    wino = 24 * 16 * 16 * 4 + 16 * 24 * 16 * 4
    packed = 16 * 24 * 9 * 4
    if narrow == "im2col":
        assert engine.weight_bytes >= wino + packed, engine.weight_bytes
    else:
        assert engine.weight_bytes < wino + packed, engine.weight_bytes


@pytest.mark.parametrize("isa", ["native", "avx2", "scalar"])
def test_winograd_narrow_levels_take_im2col(isa: str, tmp_path: Path) -> None:
    """A 3x3 layer onto a 16x16 map whose input has 24 channels at level 0 and 8 at level 1
    (under the 16 Winograd needs to share its input transform): Winograd at level 0, and at
    level 1 the implicit GEMM from a second copy of the weights, which the engine reports, except
    on AVX-512 (whose wide transforms keep Winograd there); a layer whose levels all keep 16
    input channels runs Winograd at every level. Every level matches the reference at 1-3
    threads and with winograd=False. Other ISAs run in a child process (AIO_FORCE_ISA is read
    once per process)."""
    b = Builder("wgnarrow", (16, 16, 16), [24, 16], [[24, 16], [8, 16]], seed=12)
    v1 = b.conv(0, 0, 24, k=3, p=1, act="relu")
    path = save(b.done(b.conv(v1, 1, 16, k=3, p=1, act="none")), tmp_path)
    if isa == "native":
        check_winograd_narrow_levels(path)
        return
    if isa == _core.isa() or (isa == "avx2" and _core.isa() != "avx512"):
        pytest.skip(f"{isa}: the native run covers it, or this CPU lacks it")
    # The allinone this run imports, from a folder where the source tree cannot shadow it.
    env = dict(os.environ, AIO_FORCE_ISA=isa, PYTHONPATH=PACKAGE_PARENT)
    code = (
        f"import sys; from pathlib import Path; sys.path.insert(0, {str(Path(__file__).parent)!r});"
        " import test_engine as t;"
        f" from allinone import _core; assert _core.isa() == {isa!r}, _core.isa();"
        f" t.check_winograd_narrow_levels(Path({str(path)!r}))"
    )
    r = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=tmp_path, capture_output=True, text=True
    )
    assert r.returncode == 0, r.stderr[-3000:]


def test_winograd_costs_weights_not_results(tmp_path: Path) -> None:
    """Winograd keeps 16 transformed values per 3x3 kernel (16/9 of those weights): the memory it
    costs is reported, and both engines agree with each other as with the reference."""
    m = model_small_maps()
    path = save(m, tmp_path)
    wino, direct = Engine(path, threads=1), Engine(path, threads=1, winograd=False)
    conv1 = 64 * 32 * 9 * 4  # the 14 x 14 layer's dense weights, in bytes
    assert wino.weight_bytes - direct.weight_bytes >= conv1 * 7 // 9 * 0.9
    x = rand_input(m, n=2)
    for k in range(m.num_levels):
        a, b = wino.run_at(k, x), direct.run_at(k, x)
        close(a, b.astype(np.float64), f"winograd vs direct, level {k}")


@pytest.mark.parametrize("make", [model_small_maps, model_winograd_strips])
@pytest.mark.parametrize("threads", [1, 2, 3])
def test_winograd_tiles_match(
    make: Callable[[], F.AioModel], threads: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Winograd F(4x4, 3x3) and F(2x2, 3x3) forced on every Winograd layer (AIO_WINOGRAD_TILE,
    read when a layer is built): every level matches the reference at the tolerance of every
    engine test, with 1-3 workers splitting the tiles; F(4x4) keeps 36 values per 3x3 kernel
    where F(2x2) keeps 16, and the engine reports it."""
    m = make()
    path = save(m, tmp_path)
    x = rand_input(m, n=2)
    engines = {}
    for tile in ("2", "4"):
        monkeypatch.setenv("AIO_WINOGRAD_TILE", tile)
        engines[tile] = Engine(path, threads=threads)
        monkeypatch.delenv("AIO_WINOGRAD_TILE")
        kinds = [kind for _, kind, _, _ in engines[tile].profile(rand_input(m, n=1), 0, 1)]
        assert "conv3x3/s1/winograd" in kinds, kinds
        for k in range(m.num_levels):
            close(engines[tile].run_at(k, x), reference(m, k, x), f"F({tile}) level {k}")
    # The first layer's dense weights (c_out x c_in x 9 floats) are the Winograd layer of both
    # models: 20/9 of them more in F(4x4).
    conv0 = m.widths[0][0] * m.input_shape[0] * 9 * 4
    extra = engines["4"].weight_bytes - engines["2"].weight_bytes
    assert conv0 * 20 // 9 * 0.95 <= extra <= conv0 * 20 // 9 * 1.2, (extra, conv0)


def test_metadata(tmp_path: Path) -> None:
    m = model_features()
    engine = Engine(save(m, tmp_path), threads=1)
    assert engine.name == "features"
    assert engine.labels == ["class0", "class1", "class2"]
    assert engine.input_shape == (3, 8, 8)
    assert engine.threads == 1
    assert engine.path.endswith("features.aio")
    assert engine.weight_bytes >= sum(a.nbytes for a in m.tensors.values()) // 2
    for k, lv in enumerate(engine.levels):
        wa, wb = (int(w) for w in m.widths[k])
        assert lv.widths == (wa, wb)
        assert lv.keep_ratio == pytest.approx(m.keep_ratios[k])
        # 3x3 conv 3->wa on 8x8, then 1x1 conv wa->wb on 8x8.
        assert lv.flops == 2 * 64 * (wa * 3 * 9 + wb * wa)
        assert lv.params == wa * 27 + wa + wb * wa + wb
        assert engine.output_shape_at(k) == (wb, 8, 8)
    assert [lv.flops for lv in engine.levels] == sorted(
        (lv.flops for lv in engine.levels), reverse=True
    )


def test_output_shapes(tmp_path: Path) -> None:
    m = model_features()
    engine = Engine(save(m, tmp_path))
    x = rand_input(m, n=3)
    assert engine.run(x).shape == (3, 6, 8, 8)
    engine.set_level(1)
    assert engine.run(x).shape == (3, 5, 8, 8)
    assert engine.output_shape == (5, 8, 8)
    assert engine.run(x[0]).shape == (5, 8, 8)  # no batch axis in, none out
    logits = Engine(save(model_pools(), tmp_path))
    xp = rand_input(model_pools(), n=2)
    assert logits.run(xp).shape == (2, 5)
    assert logits.run(xp[1]).shape == (5,)


def test_set_level_and_run_at(tmp_path: Path) -> None:
    m = model_convs()
    engine = Engine(save(m, tmp_path))
    x = rand_input(m)
    outs = [engine.run_at(k, x) for k in range(m.num_levels)]
    assert engine.level == 0
    np.testing.assert_array_equal(engine.run(x), outs[0])
    engine.set_level(2)
    assert engine.level == 2
    np.testing.assert_array_equal(engine.run(x), outs[2])
    np.testing.assert_array_equal(engine.run_at(1, x), outs[1])
    assert engine.level == 2  # run_at leaves the level alone
    engine.level = 1
    np.testing.assert_array_equal(engine.run(x), outs[1])
    assert not np.allclose(outs[0], outs[2])


def test_switching_is_bit_identical_to_fresh(tmp_path: Path) -> None:
    m = model_convs(h=32, w=32, c=32)
    path = save(m, tmp_path)
    x = rand_input(m)
    fresh = Engine(path)
    fresh.set_level(1)
    expect1 = fresh.run(x)
    engine = Engine(path)
    engine.set_level(1)
    first = engine.run(x)
    engine.set_level(2)
    engine.run(x)
    engine.set_level(1)
    np.testing.assert_array_equal(engine.run(x), expect1)
    np.testing.assert_array_equal(first, expect1)


def test_batch_equals_per_image(tmp_path: Path) -> None:
    m = model_convs(h=32, w=24, c=32)
    engine = Engine(save(m, tmp_path))
    x = rand_input(m, n=4)
    for k in range(m.num_levels):
        batch = engine.run_at(k, x)
        for i in range(4):
            np.testing.assert_array_equal(batch[i], engine.run_at(k, x[i]))
            np.testing.assert_array_equal(batch[i : i + 1], engine.run_at(k, x[i : i + 1]))


def test_bad_inputs(tmp_path: Path) -> None:
    m = model_pools()
    engine = Engine(save(m, tmp_path))
    x = rand_input(m)
    with pytest.raises(ValueError, match="float32"):
        engine.run(x.astype(np.float64))
    with pytest.raises(ValueError, match="float32"):
        engine.run(x.astype(np.int32))
    with pytest.raises(ValueError, match="does not match"):
        engine.run(np.zeros((2, 4, 9, 11), np.float32))
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        engine.run(np.zeros((4, 9), np.float32))
    with pytest.raises(ValueError, match="C-contiguous"):
        engine.run(np.asfortranarray(x))
    with pytest.raises(ValueError, match="C-contiguous"):
        engine.run(np.zeros((2, 4, 9, 20), np.float32)[..., ::2])
    raw = np.zeros(x.nbytes + 1, np.uint8)[1:].view(np.float32).reshape(x.shape)
    with pytest.raises(ValueError, match="aligned"):
        engine.run(raw)
    with pytest.raises(ValueError, match="ndarray"):
        engine.run(x.tolist())  # type: ignore[arg-type]
    assert engine.run(np.zeros((0, 4, 9, 10), np.float32)).shape == (0, 5)


def test_bad_levels(tmp_path: Path) -> None:
    engine = Engine(save(model_pools(), tmp_path))
    x = rand_input(model_pools())
    for bad in (-1, 3, 100):
        with pytest.raises(IndexError, match="out of range"):
            engine.set_level(bad)
        with pytest.raises(ValueError, match=f"level {bad} out of range"):
            engine.run_at(bad, x)
    with pytest.raises(LevelError):
        engine.level = 3
    with pytest.raises(TypeError):
        engine.set_level(1.0)  # type: ignore[arg-type]
    assert engine.level == 0


def test_bad_threads_and_missing_file(tmp_path: Path) -> None:
    path = save(model_pools(), tmp_path)
    with pytest.raises(ValueError, match="threads"):
        Engine(path, threads=-1)
    missing = tmp_path / "nope.aio"
    with pytest.raises(OSError, match="nope.aio"):
        Engine(missing)


def test_concurrent_runs_with_level_flips(tmp_path: Path) -> None:
    """4 Python threads run while another flips the level: every result is exactly one level's
    output (runs that find the pool busy go single-threaded, so both variants are accepted)."""
    m = model_convs(h=32, w=32, c=32, seed=7)
    path = save(m, tmp_path)
    x = rand_input(m, n=2)
    engine = Engine(path, threads=2)
    serial = Engine(path, threads=1)
    expected = [engine.run_at(k, x) for k in range(m.num_levels)]
    expected += [serial.run_at(k, x) for k in range(m.num_levels)]
    stop = threading.Event()
    errors: list[str] = []

    def flipper() -> None:
        k = 0
        while not stop.is_set():
            engine.set_level(k % m.num_levels)
            k += 1

    def worker(tid: int) -> None:
        for i in range(25):
            out = engine.run(x)
            if not any(out.shape == e.shape and np.array_equal(out, e) for e in expected):
                errors.append(f"thread {tid} run {i}: output matches no level")

    flip = threading.Thread(target=flipper)
    flip.start()
    workers = [threading.Thread(target=worker, args=(t,)) for t in range(4)]
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    stop.set()
    flip.join()
    assert not errors, errors[:5]


def test_export_onnx_delegates(tmp_path: Path) -> None:
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("allinone.onnx_export")
    m = model_features()
    engine = Engine(save(m, tmp_path))
    x = rand_input(m)
    engine.export_onnx(1, tmp_path / "f1.onnx")
    sess = ort.InferenceSession(str(tmp_path / "f1.onnx"), providers=["CPUExecutionProvider"])
    close(sess.run(None, {sess.get_inputs()[0].name: x})[0], reference(m, 1, x), "onnx level 1")


def test_cli_info(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from allinone.cli import main

    path = save(model_features(), tmp_path)
    assert main(["info", str(path)]) == 0
    text = capsys.readouterr().out
    assert "features" in text and "3x8x8" in text and "MFLOPs" in text
    assert main(["info", str(path), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert [lv["level"] for lv in info["levels"]] == [0, 1, 2]
    assert info["levels"][0]["relative_flops"] == 1.0
    assert info["file_bytes"] == path.stat().st_size
    assert main(["info", str(tmp_path / "missing.aio")]) == 1
    assert "missing.aio" in capsys.readouterr().err
