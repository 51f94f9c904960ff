"""Writes the seed corpus of the .aio fuzz targets: small valid models covering every operator and
option (written with allinone/format.py), plus named adversarial seeds (valid checksums, one field
made hostile), in the spirit of tflite-micro's `int32_max_dim` / `multidim_overflow` seeds.

    python tests/fuzz/make_corpus.py OUT_DIR      # ~40 files, < 100 KB in all; deterministic

tests/cpp/test_fuzz_regressions.cpp feeds the same kinds of files to the reader directly.
"""

from __future__ import annotations

import importlib.util
import struct
import sys
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np


def _load_format():  # the writer is pure numpy: load it by path, so no built extension is needed
    path = Path(__file__).resolve().parents[2] / "allinone" / "format.py"
    spec = importlib.util.spec_from_file_location("aio_format", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve annotations through sys.modules
    spec.loader.exec_module(module)
    return module


F = _load_format()

Mutate = Callable[[bytearray, dict[str, int]], None]


def _t(rng: np.random.Generator, *shape: int) -> np.ndarray:
    return (rng.standard_normal(shape) * 0.5).astype(np.float32)


def _sb(rng: np.random.Generator, levels: int, c: int, pfx: str, d: dict[str, np.ndarray]) -> None:
    d[pfx + ".s"] = _t(rng, levels, c)
    d[pfx + ".b"] = _t(rng, levels, c)


def conv_linear() -> F.AioModel:
    """conv 3x3 s2 p1 (group 0) -> relu -> linear, 2 levels."""
    rng = np.random.default_rng(0)
    t = {"c1.w": _t(rng, 8, 3, 3, 3), "fc.w": _t(rng, 10, 8 * 4 * 4)}
    _sb(rng, 2, 8, "c1", t)
    _sb(rng, 2, 10, "fc", t)
    return F.AioModel(
        name="conv_linear",
        input_shape=(3, 8, 8),
        groups=[8],
        keep_ratios=[1.0, 0.5],
        widths=np.array([[8], [4]], np.uint32),
        values=[F.Value(None, (3, 8, 8)), F.Value(0, (8, 4, 4)), F.Value(None, (10, 1, 1))],
        nodes=[
            F.Node(
                "conv2d",
                "c1",
                [0],
                1,
                "relu",
                "c1.w",
                "c1.s",
                "c1.b",
                (3, 3),
                (2, 2),
                (1, 1),
                (1, 1),
                1,
            ),
            F.Node("linear", "fc", [1], 2, "none", "fc.w", "fc.s", "fc.b"),
        ],
        output=2,
        tensors=t,
        labels=[f"class{i}" for i in range(10)],
    )


def residual_block() -> F.AioModel:
    """stem conv -> depthwise (hardswish) -> 1x1 conv + residual -> add -> silu -> gap; 3 levels."""
    rng = np.random.default_rng(1)
    t = {
        "stem.w": _t(rng, 8, 2, 3, 3),
        "dw.w": _t(rng, 8, 1, 3, 3),
        "pw.w": _t(rng, 8, 8, 1, 1),
    }
    for p in ("stem", "dw", "pw"):
        _sb(rng, 3, 8, p, t)
    return F.AioModel(
        name="residual",
        input_shape=(2, 6, 6),
        groups=[8],
        keep_ratios=[1.0, 0.75, 0.25],
        widths=np.array([[8], [6], [2]], np.uint32),
        values=[F.Value(None, (2, 6, 6))] + [F.Value(0, (8, 6, 6))] * 5 + [F.Value(0, (8, 1, 1))],
        nodes=[
            F.Node(
                "conv2d",
                "stem",
                [0],
                1,
                "relu6",
                "stem.w",
                "stem.s",
                "stem.b",
                (3, 3),
                (1, 1),
                (1, 1),
                (1, 1),
                1,
            ),
            F.Node(
                "conv2d",
                "dw",
                [1],
                2,
                "hardswish",
                "dw.w",
                "dw.s",
                "dw.b",
                (3, 3),
                (1, 1),
                (1, 1),
                (1, 1),
                8,
            ),
            F.Node(
                "conv2d",
                "pw",
                [2, 1],
                3,
                "relu",
                "pw.w",
                "pw.s",
                "pw.b",
                (1, 1),
                (1, 1),
                (0, 0),
                (1, 1),
                1,
            ),
            F.Node("add", "add", [3, 2], 4, "silu"),
            F.Node("act", "act", [4], 5, "relu"),
            F.Node("global_avgpool", "gap", [5], 6),
        ],
        output=6,
        tensors=t,
    )


def pools() -> F.AioModel:
    """maxpool (ceil_mode) -> avgpool (count_include_pad, ceil) -> conv (no scale/bias) -> fc."""
    rng = np.random.default_rng(2)
    t = {"c.w": _t(rng, 4, 3, 2, 2), "fc.w": _t(rng, 5, 4 * 1 * 1)}
    _sb(rng, 2, 5, "fc", t)
    return F.AioModel(
        name="pools",
        input_shape=(3, 7, 7),
        groups=[4],
        keep_ratios=[1.0, 0.5],
        widths=np.array([[4], [1]], np.uint32),
        values=[
            F.Value(None, (3, 7, 7)),
            F.Value(None, (3, 4, 4)),
            F.Value(None, (3, 3, 3)),
            F.Value(0, (4, 1, 1)),
            F.Value(None, (5, 1, 1)),
        ],
        nodes=[
            F.Node(
                "maxpool",
                "mp",
                [0],
                1,
                kernel=(3, 3),
                stride=(2, 2),
                padding=(1, 1),
                dilation=(1, 1),
                ceil_mode=True,
            ),
            F.Node(
                "avgpool",
                "ap",
                [1],
                2,
                kernel=(2, 2),
                stride=(2, 2),
                padding=(1, 1),
                dilation=(1, 1),
                ceil_mode=True,
                count_include_pad=True,
            ),
            F.Node(
                "conv2d", "c", [2], 3, "none", "c.w", None, None, (2, 2), (2, 2), (0, 0), (1, 1), 1
            ),
            F.Node("linear", "fc", [3], 4, "relu", "fc.w", "fc.s", "fc.b"),
        ],
        output=4,
        tensors=t,
    )


def grouped_dilated() -> F.AioModel:
    """grouped conv (groups 2, unpruned) -> dilated conv -> strided 1x1 conv; a dead value."""
    rng = np.random.default_rng(3)
    t = {"g.w": _t(rng, 4, 2, 3, 3), "d.w": _t(rng, 6, 4, 3, 3), "s.w": _t(rng, 3, 6, 1, 1)}
    _sb(rng, 1, 6, "d", t)
    return F.AioModel(
        name="grouped",
        input_shape=(4, 9, 9),
        groups=[6],
        keep_ratios=[1.0],
        widths=np.array([[6]], np.uint32),
        values=[
            F.Value(None, (4, 9, 9)),
            F.Value(None, (4, 9, 9)),
            F.Value(0, (6, 5, 5)),
            F.Value(None, (3, 2, 2)),
            F.Value(None, (4, 9, 9)),
        ],
        nodes=[
            F.Node(
                "conv2d", "g", [0], 1, "none", "g.w", None, None, (3, 3), (1, 1), (1, 1), (1, 1), 2
            ),
            F.Node(
                "conv2d",
                "d",
                [1],
                2,
                "relu",
                "d.w",
                "d.s",
                "d.b",
                (3, 3),
                (1, 1),
                (0, 0),
                (2, 2),
                1,
            ),
            F.Node(
                "conv2d", "s", [2], 3, "none", "s.w", None, None, (1, 1), (3, 3), (0, 0), (1, 1), 1
            ),
            F.Node("act", "dead", [0], 4, "relu"),
        ],
        output=3,
        tensors=t,
    )


def minimal() -> F.AioModel:
    """One ACT node on a 1x1x1 input: the smallest valid file."""
    return F.AioModel(
        name="",
        input_shape=(1, 1, 1),
        groups=[],
        keep_ratios=[1.0],
        widths=np.zeros((1, 0), np.uint32),
        values=[F.Value(None, (1, 1, 1)), F.Value(None, (1, 1, 1))],
        nodes=[F.Node("act", "a", [0], 1, "relu")],
        output=1,
        tensors={},
    )


def output_mid() -> F.AioModel:
    """The output value is produced by the first node and read by a later one (not the last)."""
    rng = np.random.default_rng(4)
    t = {"c.w": _t(rng, 4, 1, 1, 1)}
    return F.AioModel(
        name="output_mid",
        input_shape=(1, 3, 3),
        groups=[4],
        keep_ratios=[1.0, 0.5],
        widths=np.array([[4], [2]], np.uint32),
        values=[F.Value(None, (1, 3, 3)), F.Value(0, (4, 3, 3)), F.Value(0, (4, 3, 3))],
        nodes=[
            F.Node(
                "conv2d", "c", [0], 1, "none", "c.w", None, None, (1, 1), (1, 1), (0, 0), (1, 1), 1
            ),
            F.Node("act", "a", [1], 2, "relu"),
        ],
        output=1,
        tensors=t,
    )


def se_resize_softmax() -> F.AioModel:
    """Version 2's ops: conv -> squeeze-excite (pool, squeeze conv, excite conv + hard-sigmoid,
    MUL) -> nearest x2 -> bilinear x(1, 2) -> 1x1 head -> SOFTMAX, 2 levels (node 4 is the MUL,
    5 and 6 the RESIZEs, 8 the SOFTMAX)."""
    rng = np.random.default_rng(5)
    t: dict[str, np.ndarray] = {}
    for name, o, i in (("c", 4, 2), ("sq", 2, 4), ("ex", 4, 2), ("h", 3, 4)):
        t[name + ".w"] = _t(rng, o, i, 1, 1)
        _sb(rng, 2, o, name, t)

    def conv(name: str, src: int, dst: int, act: str) -> F.Node:
        return F.Node("conv2d", name, [src], dst, act, f"{name}.w", f"{name}.s", f"{name}.b",
                      (1, 1), (1, 1), (0, 0), (1, 1), 1)  # fmt: skip

    return F.AioModel(
        name="se",
        input_shape=(2, 3, 3),
        groups=[4, 2],
        keep_ratios=[1.0, 0.5],
        widths=np.array([[4, 2], [2, 1]], np.uint32),
        values=[
            F.Value(None, (2, 3, 3)),
            F.Value(0, (4, 3, 3)),
            F.Value(0, (4, 1, 1)),
            F.Value(1, (2, 1, 1)),
            F.Value(0, (4, 1, 1)),
            F.Value(0, (4, 3, 3)),
            F.Value(0, (4, 6, 6)),
            F.Value(0, (4, 6, 12)),
            F.Value(None, (3, 6, 12)),
            F.Value(None, (3, 6, 12)),
        ],  # fmt: skip
        nodes=[
            conv("c", 0, 1, "sigmoid"),
            F.Node("global_avgpool", "gap", [1], 2),
            conv("sq", 2, 3, "relu"),
            conv("ex", 3, 4, "hardsigmoid"),
            F.Node("mul", "mul", [1, 4], 5, "hardswish"),
            F.Node("resize", "up", [5], 6, stride=(2, 2)),
            F.Node("resize", "up2", [6], 7, stride=(1, 2), bilinear=True),
            conv("h", 7, 8, "none"),
            F.Node("softmax", "sm", [8], 9),
        ],
        output=9,
        tensors=t,
    )


def concat() -> F.AioModel:
    """Two 1x1 branches (groups 0, 1) concatenated (levelled: read in place) -> 3x3 conv ->
    concatenated with an unpruned 1x1 branch (copied) as the output. Node 2 is the levelled
    CONCAT (value 3), node 5 the plain one."""
    rng = np.random.default_rng(6)
    t: dict[str, np.ndarray] = {}
    for name, o, i, k in (("a", 3, 2, 1), ("b", 2, 2, 1), ("c", 2, 5, 3), ("d", 1, 2, 1)):
        t[name + ".w"] = _t(rng, o, i, k, k)
        _sb(rng, 2, o, name, t)

    def conv(name: str, src: int, dst: int, k: int) -> F.Node:
        return F.Node("conv2d", name, [src], dst, "relu", f"{name}.w", f"{name}.s", f"{name}.b",
                      (k, k), (1, 1), (k // 2, k // 2), (1, 1), 1)  # fmt: skip

    return F.AioModel(
        name="concat",
        input_shape=(2, 3, 3),
        groups=[3, 2],
        keep_ratios=[1.0, 0.5],
        widths=np.array([[3, 2], [1, 1]], np.uint32),
        values=[
            F.Value(None, (2, 3, 3)),
            F.Value(0, (3, 3, 3)),
            F.Value(1, (2, 3, 3)),
            F.Value(None, (5, 3, 3)),
            F.Value(None, (2, 3, 3)),
            F.Value(None, (1, 3, 3)),
            F.Value(None, (3, 3, 3)),
        ],  # fmt: skip
        nodes=[
            conv("a", 0, 1, 1),
            conv("b", 0, 2, 1),
            F.Node("concat", "cat", [1, 2], 3),
            conv("c", 3, 4, 3),
            conv("d", 0, 5, 1),
            F.Node("concat", "out", [4, 5], 6),
        ],  # fmt: skip
        output=6,
        tensors=t,
    )


VALID: dict[str, Callable[[], F.AioModel]] = {
    "valid_conv_linear": conv_linear,
    "valid_residual": residual_block,
    "valid_pools": pools,
    "valid_grouped_dilated": grouped_dilated,
    "valid_minimal": minimal,
    "valid_output_mid": output_mid,
    "valid_se_resize_softmax": se_resize_softmax,
    "valid_concat": concat,
}


# --------------------------------------------------------------------------- adversarial seeds
def layout(b: bytes | bytearray) -> dict[str, int]:
    """Byte offsets of each metadata table (absolute, from the start of the file)."""
    c = struct.unpack_from("<16I", b, 128)
    n_str, n_g, n_l, n_t, n_v, n_n, n_lab = c[:7]
    o = {"counts": 128}
    o["groups"] = 128 + 64
    o["ratios"] = o["groups"] + 4 * n_g
    o["widths"] = o["ratios"] + 4 * n_l
    o["labels"] = o["widths"] + 4 * n_l * n_g
    o["tensors"] = o["labels"] + 4 * n_lab
    o["values"] = o["tensors"] + 64 * n_t
    o["nodes"] = o["values"] + 16 * n_v
    o["strings"] = o["nodes"] + 80 * n_n
    o["data"] = struct.unpack_from("<Q", b, 40)[0]
    return o


def refix(b: bytearray) -> bytes:
    """Recompute sizes and checksums so a patched file reaches the metadata checks."""
    meta_size, data_off = struct.unpack_from("<QQ", b, 32)
    struct.pack_into("<Q", b, 16, len(b))
    if data_off <= len(b):
        struct.pack_into("<Q", b, 48, len(b) - data_off)
        struct.pack_into("<I", b, 60, zlib.crc32(b[data_off:]))
    struct.pack_into("<I", b, 56, zlib.crc32(b[128 : 128 + meta_size]))
    struct.pack_into("<I", b, 124, zlib.crc32(b[:124]))
    return bytes(b)


def put(fmt: str, table: str, rel: int, *vals: int) -> Mutate:
    return lambda b, o: struct.pack_into(fmt, b, o[table] + rel, *vals)


def _tensor_dims(*dims: int) -> Mutate:
    return lambda b, o: struct.pack_into("<II4Q", b, o["tensors"] + 8, 4, 0, *dims)


def _value(i: int, *v: int) -> Mutate:
    return lambda b, o: struct.pack_into("<4I", b, o["values"] + 16 * i, *v)


def _node(i: int, field: int, v: int) -> Mutate:
    return lambda b, o: struct.pack_into("<I", b, o["nodes"] + 80 * i + 4 * field, v)


U32 = 0xFFFFFFFF
# name -> (base seed, mutation). Node fields: 0 op, 1 name, 2 in0, 3 in1, 4 out, 5 act,
# 6 weight, 7 scale, 8 bias, 9 kh, 10 kw, 11 sh, 12 sw, 13 ph, 14 pw, 15 dh, 16 dw, 17 groups,
# 18 flags
ADVERSARIAL: dict[str, tuple[str, Mutate]] = {
    "adv_int32_max_dim": ("valid_conv_linear", _tensor_dims(U32, U32, U32, U32)),
    "adv_multidim_overflow": ("valid_conv_linear", _tensor_dims(1 << 32, 1 << 32, 1 << 32, 1)),
    "adv_nbytes_wraps": (
        "valid_conv_linear",
        lambda b, o: struct.pack_into("<Q", b, o["tensors"] + 56, 1 << 62),
    ),
    "adv_tensor_offset_wraps": (
        "valid_conv_linear",
        lambda b, o: struct.pack_into("<Q", b, o["tensors"] + 48, 2**64 - 64),
    ),
    "adv_count_max": ("valid_conv_linear", put("<I", "counts", 4 * 5, U32)),
    "adv_count_1e6_nodes": ("valid_conv_linear", put("<I", "counts", 4 * 5, 1_000_000)),
    "adv_levels_x_groups": (
        "valid_conv_linear",
        lambda b, o: struct.pack_into("<II", b, 128 + 4, 1_000_000, 1_000_000),
    ),
    "adv_string_len_max": ("valid_conv_linear", put("<I", "strings", 0, U32)),
    "adv_bad_utf8": ("valid_conv_linear", put("<B", "strings", 4, 0xC0)),
    "adv_levels_not_nested": ("valid_conv_linear", put("<II", "widths", 0, 2, 4)),
    "adv_width_zero": ("valid_conv_linear", put("<I", "widths", 4, 0)),
    "adv_value_huge": ("valid_conv_linear", _value(1, 0, 1 << 20, 1 << 20, 1 << 20)),
    "adv_value_2p31": ("valid_residual", _value(6, 0, 8, 1 << 14, 1 << 14)),
    "adv_group_out_of_range": ("valid_conv_linear", _value(1, 7, 8, 4, 4)),
    "adv_self_input": ("valid_conv_linear", _node(1, 2, 2)),
    "adv_cycle_forward_ref": ("valid_conv_linear", _node(0, 2, 2)),
    "adv_in1_near_none": ("valid_residual", _node(2, 3, U32 - 1)),
    "adv_weight_index_max": ("valid_conv_linear", _node(0, 6, U32 - 1)),
    "adv_output_is_input": ("valid_conv_linear", put("<I", "counts", 4 * 12, 0)),
    "adv_unknown_op": ("valid_conv_linear", _node(0, 0, 99)),
    "adv_unknown_act": ("valid_conv_linear", _node(0, 5, 77)),
    "adv_kernel_max": ("valid_conv_linear", _node(0, 9, U32)),
    "adv_stride_zero": ("valid_conv_linear", _node(0, 11, 0)),
    "adv_dilation_huge": ("valid_conv_linear", _node(0, 15, 1 << 20)),
    "adv_groups_zero": ("valid_conv_linear", _node(0, 17, 0)),
    "adv_depthwise_group_split": ("valid_residual", _node(1, 17, 4)),
    "adv_pool_pad_large": ("valid_pools", _node(0, 13, 2)),
    "adv_ceil_flags_on_conv": ("valid_conv_linear", _node(0, 18, 1)),
    "adv_meta_size_huge": (
        "valid_conv_linear",
        lambda b, o: struct.pack_into("<Q", b, 32, 2**64 - 1),
    ),
    "adv_data_offset_unaligned": (
        "valid_conv_linear",
        lambda b, o: struct.pack_into("<Q", b, 40, o["data"] + 1),
    ),
    "adv_data_offset_past_end": (
        "valid_conv_linear",
        lambda b, o: struct.pack_into("<Q", b, 40, 2**63),
    ),
    "adv_nan_weights": (
        "valid_conv_linear",
        lambda b, o: b.__setitem__(slice(o["data"], o["data"] + 4), b"\x00\x00\xc0\x7f"),
    ),
    # Version 2's fields (base: valid_se_resize_softmax; node 4 MUL, 5-6 RESIZE, 8 SOFTMAX).
    "adv_gate_wrong_width": ("valid_se_resize_softmax", _node(4, 3, 3)),
    "adv_gate_not_per_channel": ("valid_se_resize_softmax", _node(4, 3, 1)),
    "adv_gate_missing": ("valid_se_resize_softmax", _node(4, 3, U32)),
    "adv_gate_other_group": ("valid_se_resize_softmax", _value(4, U32, 4, 1, 1)),
    "adv_resize_scale_zero": ("valid_se_resize_softmax", _node(5, 11, 0)),
    "adv_resize_scale_max": ("valid_se_resize_softmax", _node(5, 12, U32)),
    "adv_resize_scale_2p16": ("valid_se_resize_softmax", _node(6, 11, 1 << 16)),
    "adv_resize_shape_mismatch": ("valid_se_resize_softmax", _value(6, 0, 4, 6, 7)),
    "adv_resize_unknown_flags": ("valid_se_resize_softmax", _node(5, 18, 2)),
    "adv_resize_kernel_set": ("valid_se_resize_softmax", _node(6, 9, 3)),
    "adv_softmax_act": ("valid_se_resize_softmax", _node(8, 5, 1)),
    "adv_mul_act_unknown": ("valid_se_resize_softmax", _node(4, 5, 7)),
    "adv_v2_op_in_v1_file": (
        "valid_se_resize_softmax",
        lambda b, o: struct.pack_into("<I", b, 8, 1),
    ),
    "adv_concat_grouped_output": ("valid_concat", _value(3, 0, 3, 3, 3)),
    "adv_concat_levelled_output": ("valid_concat", put("<I", "counts", 4 * 12, 3)),
    "adv_concat_in_v1_file": ("valid_concat", lambda b, o: struct.pack_into("<I", b, 8, 1)),
    "adv_inf_scale": (
        "valid_pools",
        lambda b, o: b.__setitem__(slice(o["data"] + 256, o["data"] + 260), b"\x00\x00\x80\x7f"),
    ),
}


def corpus() -> dict[str, bytes]:
    out = {name: F.to_bytes(make()) for name, make in VALID.items()}
    for name, (base, mutate) in ADVERSARIAL.items():
        b = bytearray(out[base])
        mutate(b, layout(b))
        out[name] = refix(b)
    # Container-level seeds that need no valid CRC.
    good = out["valid_conv_linear"]
    out["adv_truncated_header"] = good[:100]
    out["adv_truncated_body"] = good[: len(good) // 2]
    out["adv_bad_crc"] = good[:200] + bytes([good[200] ^ 1]) + good[201:]
    return out


# Small (640-byte) versions of the reader-level adversarial seeds, checked in as
# tests/fuzz/regressions/ (see test_fuzz_regressions.cpp): `make_corpus.py --regressions DIR`.
REGRESSION_SEEDS = [
    "adv_int32_max_dim",
    "adv_multidim_overflow",
    "adv_nbytes_wraps",
    "adv_tensor_offset_wraps",
    "adv_count_max",
    "adv_count_1e6_nodes",
    "adv_levels_x_groups",
    "adv_string_len_max",
    "adv_bad_utf8",
    "adv_levels_not_nested",
    "adv_value_huge",
    "adv_self_input",
    "adv_output_is_input",
    "adv_kernel_max",
    "adv_dilation_huge",
    "adv_meta_size_huge",
    "adv_data_offset_past_end",
]


# Version 2's seeds, on their own (larger) base.
REGRESSION_SEEDS_V2 = [name for name, (base, _) in ADVERSARIAL.items()
                       if base == "valid_se_resize_softmax"]  # fmt: skip
REGRESSION_SEEDS_CONCAT = [name for name, (base, _) in ADVERSARIAL.items()
                           if base == "valid_concat"]  # fmt: skip


def regressions() -> dict[str, bytes]:
    out = {}
    for base_name, make, names in (
        ("valid_output_mid", output_mid, REGRESSION_SEEDS),
        ("valid_se_resize_softmax", se_resize_softmax, REGRESSION_SEEDS_V2),
        ("valid_concat", concat, REGRESSION_SEEDS_CONCAT),
    ):
        base = F.to_bytes(make())
        out[base_name] = base
        for name in names:
            b = bytearray(base)
            ADVERSARIAL[name][1](b, layout(b))
            out[name] = refix(b)
    return out


def main(argv: list[str]) -> int:
    if len(argv) == 3 and argv[1] == "--regressions":
        d = Path(argv[2])
        d.mkdir(parents=True, exist_ok=True)
        for name, b in regressions().items():
            (d / name).write_bytes(b)
        return 0
    if len(argv) != 2:
        print(__doc__)
        return 2
    d = Path(argv[1])
    d.mkdir(parents=True, exist_ok=True)
    for name, b in corpus().items():
        (d / name).write_bytes(b)
    print(f"wrote {len(corpus())} seeds to {d}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
