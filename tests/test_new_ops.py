"""Format version 2's operators without PyTorch: MUL (squeeze-excite gate), SOFTMAX, RESIZE and
the SIGMOID / HARDSIGMOID activations, on a hand-built file checked against numpy at every level
and against ONNX Runtime on the per-level ONNX export; version-1 files still load; malformed
new-op fields are refused at load with messages naming the problem."""

from __future__ import annotations

import struct
import zlib
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from allinone import Engine
from allinone import format as F

WIDTHS = np.array([[8, 4], [6, 3], [3, 1]], np.uint32)  # levels x groups (g0: block, g1: squeeze)


def _rng_tensors() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(7)

    def t(*shape: int, scale: float = 0.5) -> np.ndarray:
        return (rng.standard_normal(shape) * scale).astype(np.float32)

    out: dict[str, np.ndarray] = {}
    for name, (o, i) in {"c1": (8, 8), "sq": (4, 8), "ex": (8, 4), "head": (5, 8)}.items():
        out[f"{name}.w"] = t(o, i, 1, 1)
        out[f"{name}.s"] = (1.0 + t(3, o, scale=0.2)).astype(np.float32)
        out[f"{name}.b"] = t(3, o, scale=0.3)
    return out


def se_model(gate: str = "hardsigmoid") -> F.AioModel:
    """conv1x1 (hardswish) -> squeeze-excite (global pool, squeeze conv + relu, excite conv +
    ``gate``, mul) -> nearest x(2, 3) -> bilinear x2 -> conv1x1 head (not pruned) -> softmax."""

    def conv(name: str, src: int, dst: int, act: str) -> F.Node:
        return F.Node("conv2d", name, [src], dst, act, f"{name}.w", f"{name}.s", f"{name}.b",
                      (1, 1), (1, 1), (0, 0), (1, 1), 1)  # fmt: skip

    return F.AioModel(
        name="se_resize_softmax",
        input_shape=(8, 6, 6),
        groups=[8, 4],
        keep_ratios=[1.0, 0.75, 0.4],
        widths=WIDTHS,
        values=[
            F.Value(None, (8, 6, 6)),
            F.Value(0, (8, 6, 6)),  # 1 conv
            F.Value(0, (8, 1, 1)),  # 2 pooled
            F.Value(1, (4, 1, 1)),  # 3 squeezed
            F.Value(0, (8, 1, 1)),  # 4 gate
            F.Value(0, (8, 6, 6)),  # 5 gated
            F.Value(0, (8, 12, 18)),  # 6 nearest
            F.Value(0, (8, 24, 36)),  # 7 bilinear
            F.Value(None, (5, 24, 36)),  # 8 head
            F.Value(None, (5, 24, 36)),  # 9 softmax
        ],
        nodes=[
            conv("c1", 0, 1, "hardswish"),
            F.Node("global_avgpool", "gap", [1], 2),
            conv("sq", 2, 3, "relu"),
            conv("ex", 3, 4, gate),
            F.Node("mul", "gate", [1, 4], 5),
            F.Node("resize", "up_nearest", [5], 6, stride=(2, 3)),
            F.Node("resize", "up_bilinear", [6], 7, stride=(2, 2), bilinear=True),
            conv("head", 7, 8, "none"),
            F.Node("softmax", "softmax", [8], 9),
        ],
        output=9,
        tensors=_rng_tensors(),
    )


def _act(v: np.ndarray, act: str) -> np.ndarray:
    if act == "relu":
        return np.maximum(v, 0)
    if act == "hardswish":
        return v * np.clip(v + 3, 0, 6) / 6
    if act == "sigmoid":
        return 1 / (1 + np.exp(-v))
    if act == "hardsigmoid":
        return np.clip(v + 3, 0, 6) / 6
    assert act == "none"
    return v


def _bilinear_axis(n_in: int, scale: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    dst = np.arange(n_in * scale, dtype=np.float64)
    src = np.maximum((dst + 0.5) / scale - 0.5, 0)
    i0 = np.minimum(np.floor(src).astype(int), n_in - 1)
    i1 = np.minimum(i0 + 1, n_in - 1)
    return i0, i1, src - i0


def reference(m: F.AioModel, level: int, x: np.ndarray, gate: str) -> np.ndarray:
    """numpy float64 forward pass of :func:`se_model` sliced to ``level``."""
    w0, w1 = (int(v) for v in WIDTHS[level])
    t = {k: v.astype(np.float64) for k, v in m.tensors.items()}

    def conv(name: str, v: np.ndarray, o: int, i: int, act: str) -> np.ndarray:
        w = t[f"{name}.w"][:o, :i, 0, 0]
        y = np.einsum("oi,nihw->nohw", w, v[:, :i])
        y = y * t[f"{name}.s"][level][:o, None, None] + t[f"{name}.b"][level][:o, None, None]
        return _act(y, act)

    a = conv("c1", x.astype(np.float64), w0, 8, "hardswish")
    g = conv("ex", conv("sq", a.mean(axis=(2, 3), keepdims=True), w1, w0, "relu"), w0, w1, gate)
    a = a * g
    a = np.repeat(np.repeat(a, 2, axis=2), 3, axis=3)
    r0, r1, rw = _bilinear_axis(a.shape[2], 2)
    c0, c1, cw = _bilinear_axis(a.shape[3], 2)
    rows = a[:, :, r0] * (1 - rw)[:, None] + a[:, :, r1] * rw[:, None]
    a = rows[:, :, :, c0] * (1 - cw) + rows[:, :, :, c1] * cw
    h = conv("head", a, 5, w0, "none")
    e = np.exp(h - h.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("gate", ["hardsigmoid", "sigmoid"])
def test_se_resize_softmax_every_level(gate: str, tmp_path: Path, close: object) -> None:
    m = se_model(gate)
    path = tmp_path / "m.aio"
    F.save(m, path)
    x = np.random.default_rng(3).standard_normal((2, 8, 6, 6)).astype(np.float32)
    for threads in (1, 2):
        engine = Engine(path, threads=threads)
        for k in range(len(WIDTHS)):
            ref = reference(m, k, x, gate)
            close(engine.run_at(k, x), ref, what=f"level {k}, {threads} threads")  # type: ignore[operator]
    kinds = [kind for _, kind, _, _ in engine.profile(x[:1], 0, 1)]
    assert {"mul", "softmax", "nearestx2", "bilinearx2"} <= set(kinds), kinds


@pytest.mark.parametrize("gate", ["hardsigmoid", "sigmoid"])
def test_se_resize_softmax_onnx_export(gate: str, tmp_path: Path, close: object) -> None:
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    from allinone.onnx_export import export_level

    m = se_model(gate)
    F.save(m, tmp_path / "m.aio")
    back = F.load(tmp_path / "m.aio")
    x = np.random.default_rng(4).standard_normal((2, 8, 6, 6)).astype(np.float32)
    for k in range(len(WIDTHS)):
        export_level(back, k, tmp_path / f"m{k}.onnx")
        sess = ort.InferenceSession(
            str(tmp_path / f"m{k}.onnx"), providers=["CPUExecutionProvider"]
        )
        close(sess.run(None, {"input": x})[0], reference(m, k, x, gate), what=f"ORT level {k}")  # type: ignore[operator]


def test_python_reader_roundtrip_of_new_fields(tmp_path: Path) -> None:
    m = se_model()
    F.save(m, tmp_path / "m.aio")
    back = F.load(tmp_path / "m.aio")
    by_name = {n.name: n for n in back.nodes}
    assert by_name["up_nearest"].stride == (2, 3) and not by_name["up_nearest"].bilinear
    assert by_name["up_bilinear"].bilinear and not by_name["up_bilinear"].ceil_mode
    assert by_name["gate"].op == "mul" and by_name["gate"].inputs == [1, 4]
    assert by_name["ex"].act == "hardsigmoid"


# ------------------------------------------------------------------------- version 1 files
def _with_version(data: bytes, version: int) -> bytes:
    head = bytearray(data[:128])
    head[8:12] = struct.pack("<I", version)
    head[124:128] = struct.pack("<I", zlib.crc32(bytes(head[:124])))
    return bytes(head) + data[128:]


def test_version1_files_still_load(tmp_path: Path) -> None:
    # The shipped demo model uses only version-1 operators (convs, adds, pools, a linear):
    # relabelled version 1, as a file written before version 2 is, it loads and runs the same.
    demo = Path(__file__).resolve().parents[1] / "allinone" / "data" / "demo.aio"
    old = tmp_path / "demo_v1.aio"
    old.write_bytes(_with_version(demo.read_bytes(), 1))
    engine = Engine(old, threads=1)
    assert engine.num_levels >= 2
    assert F.load(old).num_levels == engine.num_levels
    xd = np.random.default_rng(0).random((1, *engine.input_shape), dtype=np.float32)
    ref = Engine(demo, threads=1)
    for k in (0, engine.num_levels - 1):
        np.testing.assert_array_equal(engine.run_at(k, xd), ref.run_at(k, xd))
    # A version-2 file with only version-1 content, relabelled 1, reads the same.
    m = se_model()
    m.nodes = m.nodes[:1]
    m.values = m.values[:2]
    m.nodes[0] = replace(m.nodes[0], act="relu")
    m.output = 1
    m.groups, m.widths = [8], WIDTHS[:, :1].copy()
    m.tensors = {k: v for k, v in m.tensors.items() if k.startswith("c1.")}
    (tmp_path / "v1.aio").write_bytes(_with_version(F.to_bytes(m), 1))
    x = np.ones((1, 8, 6, 6), np.float32)
    out = Engine(tmp_path / "v1.aio", threads=1).run(x)
    F.save(m, tmp_path / "v2.aio")
    np.testing.assert_array_equal(out, Engine(tmp_path / "v2.aio", threads=1).run(x))


def _relu_gate(m: F.AioModel) -> None:
    m.nodes[3] = replace(m.nodes[3], act="relu")


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (lambda m: None, r'node 3 \(CONV2D "ex"\): activation 6 needs format version 2'),
        (_relu_gate, r'node 4 \(MUL "gate"\): op 8 needs format version 2'),
    ],
)
def test_version1_refuses_version2_content(edit: object, match: str, tmp_path: Path) -> None:
    """Ops 8-10 and activations 5-6 in a file that says version 1 are refused."""
    m = se_model()
    edit(m)  # type: ignore[operator]
    path = tmp_path / "m.aio"
    path.write_bytes(_with_version(F.to_bytes(m), 1))
    with pytest.raises(ValueError, match=match):
        Engine(path)
    with pytest.raises(F.FormatError, match="needs format version 2"):
        F.load(path)


# ------------------------------------------------------------------------------ bad fields
def _bad(m: F.AioModel, tmp_path: Path, match: str) -> None:
    path = tmp_path / "bad.aio"
    F.save(m, path)
    with pytest.raises(ValueError, match=match):
        Engine(path)


def _narrow_gate(m: F.AioModel) -> None:  # gate (6, 1, 1) on an 8-channel tensor, no group
    m.values[4] = F.Value(None, (6, 1, 1))
    for k in ("ex.w", "ex.s", "ex.b"):
        m.tensors[k] = m.tensors[k][:6] if k == "ex.w" else m.tensors[k][:, :6]


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (_narrow_gate, r'MUL "gate"\): gate has 6 channels, input has 8'),
        (lambda m: m.values.__setitem__(4, F.Value(1, (8, 1, 1))), "full width"),
        (
            lambda m: m.nodes.__setitem__(4, replace(m.nodes[4], inputs=[1, 1])),
            r"gate must have shape \(C, 1, 1\), has \(8, 6, 6\)",
        ),
        (lambda m: m.nodes.__setitem__(4, replace(m.nodes[4], inputs=[1])), "needs two inputs"),
        (
            lambda m: m.nodes.__setitem__(4, replace(m.nodes[4], kernel=(1, 1))),
            "kernel, padding, dilation and groups must be 0",
        ),
        (
            lambda m: m.nodes.__setitem__(5, replace(m.nodes[5], stride=(0, 3))),
            r'RESIZE "up_nearest"\): scale 0 x 3 must be an integer in \[1, 64\]',
        ),
        (
            lambda m: m.nodes.__setitem__(5, replace(m.nodes[5], stride=(65, 3))),
            r"scale 65 x 3 must be an integer in \[1, 64\]",
        ),
        (
            lambda m: m.nodes.__setitem__(5, replace(m.nodes[5], stride=(3, 3))),
            r"output value 6 has shape \(8, 12, 18\), expected \(8, 18, 18\)",
        ),
        (
            lambda m: m.nodes.__setitem__(5, replace(m.nodes[5], ceil_mode=True, bilinear=True)),
            None,
        ),  # flag 1 is bilinear for RESIZE: a valid file (control, see below)
        (
            lambda m: m.nodes.__setitem__(5, replace(m.nodes[5], count_include_pad=True)),
            "unknown flags 2",
        ),
        (
            lambda m: m.nodes.__setitem__(8, replace(m.nodes[8], act="relu")),
            r'SOFTMAX "softmax"\): takes no activation',
        ),
        (
            lambda m: m.values.__setitem__(9, F.Value(None, (4, 24, 36))),
            r'SOFTMAX "softmax"\): input has shape \(5, 24, 36\), output has \(4, 24, 36\)',
        ),
    ],
)
def test_bad_new_op_fields_rejected(edit: object, match: str | None, tmp_path: Path) -> None:
    m = se_model()
    edit(m)  # type: ignore[operator]
    if match is None:
        F.save(m, tmp_path / "ok.aio")
        Engine(tmp_path / "ok.aio")  # loads
        return
    _bad(m, tmp_path, match)


# ------------------------------------------------------------------------------ concatenation
CAT_WIDTHS = np.array([[6, 5, 7], [4, 3, 5], [1, 2, 2]], np.uint32)  # groups a, b, c


def cat_model() -> F.AioModel:
    """Two 1x1 branches (groups 0, 1) concatenated (levelled), a 3x3 conv (group 2) over it, a
    nested concatenation of both, a 1x1 head (unpruned), and a concatenation of unpruned values
    (copied) as the output."""
    rng = np.random.default_rng(11)

    def t(*shape: int, scale: float = 0.5) -> np.ndarray:
        return (rng.standard_normal(shape) * scale).astype(np.float32)

    tensors: dict[str, np.ndarray] = {}
    nodes: list[F.Node] = []
    for name, (o, i, k), src, dst, act in (
        ("a", (6, 4, 1), 0, 1, "relu"),
        ("b", (5, 4, 1), 0, 2, "sigmoid"),
        ("c", (7, 11, 3), 3, 4, "relu"),
        ("h", (3, 18, 1), 5, 6, "none"),
        ("h2", (2, 4, 1), 0, 7, "none"),
    ):
        tensors[f"{name}.w"] = t(o, i, k, k)
        tensors[f"{name}.s"] = (1.0 + t(3, o, scale=0.2)).astype(np.float32)
        tensors[f"{name}.b"] = t(3, o, scale=0.3)
        p = k // 2
        nodes.append(F.Node("conv2d", name, [src], dst, act, f"{name}.w", f"{name}.s",
                            f"{name}.b", (k, k), (1, 1), (p, p), (1, 1), 1))  # fmt: skip
    nodes.insert(2, F.Node("concat", "cat_ab", [1, 2], 3))
    nodes.insert(4, F.Node("concat", "cat_abc", [3, 4], 5))
    nodes.append(F.Node("concat", "cat_out", [6, 7], 8))
    return F.AioModel(
        name="concat",
        input_shape=(4, 6, 6),
        groups=[6, 5, 7],
        keep_ratios=[1.0, 0.6, 0.2],
        widths=CAT_WIDTHS,
        values=[
            F.Value(None, (4, 6, 6)),
            F.Value(0, (6, 6, 6)),
            F.Value(1, (5, 6, 6)),
            F.Value(None, (11, 6, 6)),  # levelled
            F.Value(2, (7, 6, 6)),
            F.Value(None, (18, 6, 6)),  # levelled, nested
            F.Value(None, (3, 6, 6)),
            F.Value(None, (2, 6, 6)),
            F.Value(None, (5, 6, 6)),  # plain (copied)
        ],
        nodes=nodes,
        output=8,
        tensors=tensors,
    )


def _conv_ref(x: np.ndarray, w: np.ndarray, s: np.ndarray, b: np.ndarray, act: str) -> np.ndarray:
    k = w.shape[2]
    p = k // 2
    n, _, h, ww = x.shape
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    y = np.zeros((n, w.shape[0], h, ww))
    for i in range(k):
        for j in range(k):
            y += np.einsum("oc,nchw->nohw", w[:, :, i, j], xp[:, :, i : i + h, j : j + ww])
    return _act(y * s[:, None, None] + b[:, None, None], act)


def cat_reference(m: F.AioModel, level: int, x: np.ndarray) -> np.ndarray:
    wa, wb, wc = (int(v) for v in CAT_WIDTHS[level])
    T = {k: v.astype(np.float64) for k, v in m.tensors.items()}

    def conv(name: str, v: np.ndarray, rows: int, cols: np.ndarray, act: str) -> np.ndarray:
        w = T[f"{name}.w"][:rows][:, cols]
        return _conv_ref(v, w, T[f"{name}.s"][level][:rows], T[f"{name}.b"][level][:rows], act)

    x = x.astype(np.float64)
    a = conv("a", x, wa, np.arange(4), "relu")
    b = conv("b", x, wb, np.arange(4), "sigmoid")
    ab_cols = np.r_[np.arange(wa), 6 + np.arange(wb)]
    c = conv("c", np.concatenate([a, b], 1), wc, ab_cols, "relu")
    h = conv("h", np.concatenate([a, b, c], 1), 3, np.r_[ab_cols, 11 + np.arange(wc)], "none")
    return np.concatenate([h, conv("h2", x, 2, np.arange(4), "none")], 1)


def test_concat_every_level_in_place(
    tmp_path: Path, close: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Levelled concatenations read in place (two K ranges), nested; a plain one copied, or
    (the output's, fusion.h) written in place by its inputs' producers."""
    m = cat_model()
    F.save(m, tmp_path / "cat.aio")
    x = np.random.default_rng(12).standard_normal((2, 4, 6, 6)).astype(np.float32)
    for fuse in ("0", "1"):
        monkeypatch.setenv("AIO_FUSE", fuse)
        for threads in (1, 2):
            engine = Engine(tmp_path / "cat.aio", threads=threads)
            for k in range(len(CAT_WIDTHS)):
                ref = cat_reference(m, k, x)
                what = f"L{k}, T{threads}, fuse {fuse}"
                close(engine.run_at(k, x), ref, what=what)  # type: ignore[operator]
        prof = {name: (kind, fl) for name, kind, _, fl in engine.profile(x[:1], 1, 1)}
        out_kind = "concat/in_place" if fuse == "1" else "concat"
        assert prof["cat_ab"][0] == "concat/in_place" and prof["cat_out"][0] == out_kind
    assert prof["c"][0].endswith("/concat_k_ranges") and prof["h"][0].endswith("/concat_k_ranges")
    wa, wb, wc = (int(v) for v in CAT_WIDTHS[1])
    assert prof["h"][1] == 2 * 3 * (wa + wb + wc) * 36  # FLOPs of the level's K ranges


def test_concat_onnx_export(tmp_path: Path, close: object) -> None:
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    from allinone.onnx_export import export_level

    m = cat_model()
    F.save(m, tmp_path / "cat.aio")
    back = F.load(tmp_path / "cat.aio")
    x = np.random.default_rng(13).standard_normal((2, 4, 6, 6)).astype(np.float32)
    for k in range(len(CAT_WIDTHS)):
        export_level(back, k, tmp_path / f"c{k}.onnx")
        sess = ort.InferenceSession(
            str(tmp_path / f"c{k}.onnx"), providers=["CPUExecutionProvider"]
        )
        close(sess.run(None, {"input": x})[0], cat_reference(m, k, x), what=f"ORT level {k}")  # type: ignore[operator]


def _act_reads_cat(m: F.AioModel) -> None:  # an ACT reading the levelled concatenation
    m.values.append(F.Value(None, (11, 6, 6)))
    m.nodes.insert(3, F.Node("act", "relu_cat", [3], len(m.values) - 1, "relu"))


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (
            lambda m: m.values.__setitem__(3, F.Value(None, (12, 6, 6))),
            r'CONCAT "cat_ab"\): output value 3 has shape \(12, 6, 6\), expected \(11, 6, 6\)',
        ),
        (lambda m: m.values.__setitem__(3, F.Value(0, (6, 6, 6))), "must have group NONE"),
        (_act_reads_cat, r'ACT "relu_cat"\): value 3 is a levelled concatenation; only CONV2D'),
        (lambda m: setattr(m, "output", 5), "output value 5 is a levelled concatenation"),
        (
            lambda m: m.nodes.__setitem__(2, replace(m.nodes[2], act="relu")),
            r'CONCAT "cat_ab"\): takes no activation',
        ),
        (lambda m: m.nodes.__setitem__(2, replace(m.nodes[2], inputs=[1])), "needs two inputs"),
    ],
)
def test_bad_concat_rejected(edit: object, match: str, tmp_path: Path) -> None:
    m = cat_model()
    edit(m)  # type: ignore[operator]
    _bad(m, tmp_path, match)


def test_concat_of_different_sizes_rejected(tmp_path: Path) -> None:
    m = cat_model()
    m.input_shape = (4, 6, 6)
    m.values[2] = F.Value(1, (5, 3, 3))
    m.nodes[1] = replace(m.nodes[1], stride=(2, 2))
    _bad(m, tmp_path, r"input 0 has shape \(6, 6, 6\), input 1 has \(5, 3, 3\)")
