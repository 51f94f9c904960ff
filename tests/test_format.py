"""The .aio format: Python round trip, and malformed files rejected with a message naming the
problem, by allinone.format.from_bytes (container checks) and by the C++ reader behind
allinone.Engine (container + graph/shape checks)."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from allinone import Engine
from allinone import format as F


def small_model() -> F.AioModel:
    """conv 3x3 s2 (group 0) -> relu -> linear, 2 levels."""
    rng = np.random.default_rng(0)

    def t(*shape: int) -> np.ndarray:
        return rng.standard_normal(shape).astype(np.float32)

    return F.AioModel(
        name="small",
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
            ),  # fmt: skip
            F.Node("linear", "fc", [1], 2, "none", "fc.w", "fc.s", "fc.b"),
        ],
        output=2,
        tensors={
            "c1.w": t(8, 3, 3, 3),
            "c1.s": t(2, 8),
            "c1.b": t(2, 8),
            "fc.w": t(10, 128),
            "fc.s": t(2, 10),
            "fc.b": t(2, 10),
        },
        labels=["a", "b"],
    )


# ------------------------------------------------------------------------------- round trip
def test_round_trip(tmp_path: Path) -> None:
    m = small_model()
    b = F.to_bytes(m)
    assert b[:8] == b"AIOMODEL"
    m2 = F.from_bytes(b)
    assert F.to_bytes(m2) == b
    assert (m2.name, m2.input_shape, m2.groups, m2.output, m2.labels) == (
        m.name,
        m.input_shape,
        m.groups,
        m.output,
        m.labels,
    )
    np.testing.assert_array_equal(m2.widths, m.widths)
    assert m2.values == m.values and m2.nodes == m.nodes
    for k, v in m.tensors.items():
        np.testing.assert_array_equal(m2.tensors[k], v)
    F.save(m, tmp_path / "m.aio")
    assert F.to_bytes(F.load(tmp_path / "m.aio")) == b
    engine = Engine(tmp_path / "m.aio")
    assert engine.name == "small" and engine.num_levels == 2


def test_layout_rules() -> None:
    b = F.to_bytes(small_model())
    lay = layout(b)
    assert lay["data_offset"] % 64 == 0
    assert lay["data_offset"] + lay["data_size"] == len(b)
    for i in range(lay["n_tensors"]):
        off, nbytes = struct.unpack_from("<QQ", b, lay["tensors"] + 64 * i + 48)
        assert off % 64 == 0 and off + nbytes <= lay["data_size"]


# ----------------------------------------------------------------------------- byte patching
def layout(b: bytes) -> dict[str, int]:
    """Offsets of the metadata tables of a well-formed file (docs/format.md)."""
    meta_size, data_offset, data_size = struct.unpack_from("<QQQ", b, 32)
    counts = struct.unpack_from("<16I", b, 128)
    n_str, n_groups, n_levels, n_tensors, n_values, n_nodes, n_labels = counts[:7]
    groups = 128 + 64
    tensors = groups + 4 * (n_groups + n_levels + n_levels * n_groups + n_labels)
    values = tensors + 64 * n_tensors
    nodes = values + 16 * n_values
    return {
        "meta_size": meta_size,
        "data_offset": data_offset,
        "data_size": data_size,
        "n_tensors": n_tensors,
        "groups": groups,
        "tensors": tensors,
        "values": values,
        "nodes": nodes,
        "strings": nodes + 80 * n_nodes,
    }


def refix(b: bytearray) -> bytes:
    """Recompute the three checksums so only the intended defect remains."""
    meta_size, data_offset, data_size = struct.unpack_from("<QQQ", b, 32)
    struct.pack_into("<I", b, 56, zlib.crc32(b[128 : 128 + meta_size]))
    struct.pack_into("<I", b, 60, zlib.crc32(b[data_offset : data_offset + data_size]))
    struct.pack_into("<I", b, 124, zlib.crc32(b[:124]))
    return bytes(b)


def patch(fmt: str, where: Callable[[dict[str, int]], int], *vals: int, fix: bool = True):
    def apply(b: bytes) -> bytes:
        out = bytearray(b)
        struct.pack_into(fmt, out, where(layout(b)), *vals)
        return refix(out) if fix else bytes(out)

    return apply


def model_bytes(mutate: Callable[[F.AioModel], None]) -> Callable[[bytes], bytes]:
    """A defect written through the Python writer (which checks little on purpose)."""

    def apply(_: bytes) -> bytes:
        m = small_model()
        mutate(m)
        return F.to_bytes(m)

    return apply


def _setter(
    target: Callable[[F.AioModel], object], attr: str, value: object
) -> Callable[[F.AioModel], None]:
    return lambda m: setattr(target(m), attr, value)


def _corrupt_data(b: bytes) -> bytes:
    out = bytearray(b)
    out[-1] ^= 0xFF
    return bytes(out)


def _corrupt_meta(b: bytes) -> bytes:
    out = bytearray(b)
    out[200] ^= 0x01
    struct.pack_into("<I", out, 124, zlib.crc32(out[:124]))
    return bytes(out)


# name -> (mutation, message regex from the Python reader or None when only the C++ reader
# checks it, message regex from the C++ reader)
CASES: dict[str, tuple[Callable[[bytes], bytes], str | None, str]] = {
    "bad magic": (lambda b: b"AIOMODEX" + b[8:], "bad magic", "bad magic"),
    "version": (patch("<I", lambda lay: 8, 7), "unsupported version 7", "unsupported version 7"),
    "truncated": (lambda b: b[:-100], "file truncated", "file truncated: header says"),
    "tiny": (lambda b: b[:50], "file truncated", "file truncated"),
    "empty": (lambda b: b"", "file truncated", "file truncated"),
    "header checksum": (
        patch("<B", lambda lay: 70, 1, fix=False),
        "header checksum mismatch",
        "header checksum mismatch",
    ),
    "metadata checksum": (_corrupt_meta, "metadata checksum mismatch", "metadata checksum"),
    "data checksum": (_corrupt_data, "data checksum mismatch", "data checksum mismatch"),
    "tensor outside data": (
        patch("<Q", lambda lay: lay["tensors"] + 64 * 3 + 48, 1 << 20),
        r'tensor 3 \("fc.w"\) lies outside the data section',
        r'tensor 3 \("fc.w"\) lies outside the data section',
    ),
    "tensor offset unaligned": (
        patch("<Q", lambda lay: lay["tensors"] + 48, 4),
        "outside the data section",
        "offset is not a multiple of 64",
    ),
    "tensor size overflow": (
        patch("<4Q", lambda lay: lay["tensors"] + 16, 1 << 40, 1 << 40, 1 << 40, 1),
        "bad dimension",
        "overflows",
    ),
    "tensor nbytes": (
        patch("<Q", lambda lay: lay["tensors"] + 56, 12),
        "nbytes",
        "nbytes 12 does not match",
    ),
    "too many nodes": (
        patch("<I", lambda lay: 128 + 20, 2_000_000),
        "too many nodes",
        "too many nodes",
    ),
    "huge tensor count": (patch("<I", lambda lay: 128 + 12, 999_999), "truncated", "truncated"),
    "string index": (
        patch("<I", lambda lay: lay["nodes"] + 4, 999),
        "string index 999 out of range",
        "string index 999 out of range",
    ),
    "string not utf-8": (
        patch("<B", lambda lay: lay["strings"] + 4, 0xFF),
        "string 0 is not valid UTF-8",
        "string 0 is not valid UTF-8",
    ),
    "node input index": (
        patch("<I", lambda lay: lay["nodes"] + 80 + 8, 99),
        "out of range",
        r'node 1 \(LINEAR "fc"\): input value 99 out of range',
    ),
    "tensor index": (
        patch("<I", lambda lay: lay["nodes"] + 24, 42),
        "out of range",
        r'node 0 \(CONV2D "c1"\): tensor index 42 out of range',
    ),
    "unknown op": (patch("<I", lambda lay: lay["nodes"], 12), "unknown op 12", "unknown op 12"),
    "non-nested widths": (
        model_bytes(_setter(lambda m: m, "widths", np.array([[4], [6]], np.uint32))),
        "not nested",
        "levels must be nested",
    ),
    "zero width": (
        model_bytes(_setter(lambda m: m, "widths", np.array([[8], [0]], np.uint32))),
        r"\[1, 8\]",
        r"width 0 not in \[1, 8\]",
    ),
    "value shape": (
        model_bytes(_setter(lambda m: m.values[1], "shape", (8, 5, 5))),
        None,
        r"output value 1 has shape \(8, 5, 5\), expected \(8, 4, 4\)",
    ),
    "weight shape": (
        model_bytes(lambda m: m.tensors.__setitem__("fc.w", np.zeros((10, 144), np.float32))),
        None,
        r'node 1 \(LINEAR "fc"\): weight "fc.w" has 144 columns, expected 128',
    ),
    "conv weight shape": (
        model_bytes(lambda m: m.tensors.__setitem__("c1.w", np.zeros((8, 3, 5, 5), np.float32))),
        None,
        r'node 0 \(CONV2D "c1"\): weight "c1.w" has shape \[8\]\[3\]\[5\]\[5\]',
    ),
    "scale shape": (
        model_bytes(lambda m: m.tensors.__setitem__("c1.s", np.zeros((3, 8), np.float32))),
        None,
        r'scale "c1.s" must have shape \[2\]\[8\]',
    ),
    "not topological": (
        model_bytes(lambda m: m.nodes.reverse()),
        "is not produced by an earlier node",
        "is not produced by an earlier node",
    ),
    "produced twice": (
        model_bytes(lambda m: setattr(m.nodes[1], "output", 1)),
        "already produced",
        "already produced",
    ),
    "padding too large": (
        model_bytes(_setter(lambda m: m.nodes[0], "padding", (3, 3))),
        None,
        "padding must be smaller than the kernel",
    ),
    "zero stride": (
        model_bytes(_setter(lambda m: m.nodes[0], "stride", (0, 2))),
        None,
        "stride",
    ),
    "output is input": (model_bytes(_setter(lambda m: m, "output", 0)), None, "output value"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_malformed_python_reader(case: str) -> None:
    mutate, py_msg, _ = CASES[case]
    bad = mutate(F.to_bytes(small_model()))
    if py_msg is None:
        F.from_bytes(bad)  # container is fine; only the C++ reader checks the graph
        return
    with pytest.raises(F.FormatError, match=py_msg):
        F.from_bytes(bad)


@pytest.mark.parametrize("case", list(CASES))
def test_malformed_engine(case: str, tmp_path: Path) -> None:
    mutate, _, cpp_msg = CASES[case]
    path = tmp_path / "bad.aio"
    path.write_bytes(mutate(F.to_bytes(small_model())))
    with pytest.raises(ValueError, match=cpp_msg) as info:
        Engine(path)
    assert str(path) in str(info.value)


def test_random_corruption_never_crashes(tmp_path: Path) -> None:
    """Random byte flips with checksums recomputed: the reader must raise or load, never crash."""
    good = F.to_bytes(small_model())
    rng = np.random.default_rng(1)
    path = tmp_path / "fuzz.aio"
    limit = layout(good)["data_offset"]
    for _ in range(300):
        b = bytearray(good)
        for _ in range(int(rng.integers(1, 4))):
            b[int(rng.integers(0, limit))] = int(rng.integers(0, 256))
        path.write_bytes(refix(b))
        try:
            Engine(path, threads=1)
        except ValueError:
            pass
