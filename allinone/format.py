"""Writer and reader of the ``.aio`` model file (docs/format.md), numpy only.

This module is the single Python source of the file layout. The C++ reader
(csrc/format/reader.cpp) checks every shape rule; ``from_bytes`` here checks the container
(magic, version, sizes, checksums, bounds of every index and offset) so that a damaged file fails
with a message naming the problem rather than an IndexError deep inside.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = [
    "MAGIC",
    "VERSION",
    "NONE",
    "OPS",
    "ACTS",
    "AioModel",
    "FormatError",
    "ACCURACY_TENSOR",
    "level_accuracy",
    "Node",
    "Value",
    "from_bytes",
    "load",
    "save",
    "to_bytes",
]

MAGIC = b"AIOMODEL"
VERSION = 2
# Versions this module reads: version 2 added ops 8-11 and activations 5-6 (docs/format.md).
READ_VERSIONS = (1, 2)
NONE = 0xFFFFFFFF
HEADER_SIZE = 128
ALIGN = 64
MAX_COUNT = 1_000_000

OPS: dict[str, int] = {
    "conv2d": 1,
    "linear": 2,
    "add": 3,
    "act": 4,
    "maxpool": 5,
    "avgpool": 6,
    "global_avgpool": 7,
    "mul": 8,
    "softmax": 9,
    "resize": 10,
    "concat": 11,
}
ACTS: dict[str, int] = {
    "none": 0,
    "relu": 1,
    "relu6": 2,
    "silu": 3,
    "hardswish": 4,
    "sigmoid": 5,
    "hardsigmoid": 6,
}
_OP_NAMES = {v: k for k, v in OPS.items()}
_ACT_NAMES = {v: k for k, v in ACTS.items()}

# Optional float32 tensor [n_levels] that no node references: each level's test accuracy
# (fraction), written by `allinone train` and shown by `allinone info`. The runtime ignores it.
ACCURACY_TENSOR = "meta.level_accuracy"

FLAG_CEIL_MODE = 1
FLAG_COUNT_INCLUDE_PAD = 2
FLAG_BILINEAR = 1  # RESIZE

# Fixed-size records (little-endian, see docs/format.md).
_HEADER = struct.Struct("<8sIIQQQQQII60sI")
_COUNTS = struct.Struct("<16I")
_TENSOR = struct.Struct("<IIII4QQQ")
_VALUE = struct.Struct("<4I")
_NODE = struct.Struct("<20I")
assert _HEADER.size == HEADER_SIZE and _TENSOR.size == 64 and _NODE.size == 80


class FormatError(ValueError):
    """A ``.aio`` file (or an in-memory model) that breaks docs/format.md."""


@dataclass
class Value:
    """An activation tensor: its channel group (None = not pruned) and full-width (c, h, w)."""

    group: int | None
    shape: tuple[int, int, int]


@dataclass
class Node:
    """One operator. ``inputs`` is [x] or [x, residual/second operand]; tensors are by name.

    RESIZE keeps its integer scale factors in ``stride`` and its mode in ``bilinear``.
    """

    op: str
    name: str
    inputs: list[int]
    output: int
    act: str = "none"
    weight: str | None = None
    scale: str | None = None
    bias: str | None = None
    kernel: tuple[int, int] = (0, 0)
    stride: tuple[int, int] = (0, 0)
    padding: tuple[int, int] = (0, 0)
    dilation: tuple[int, int] = (0, 0)
    groups: int = 0
    ceil_mode: bool = False
    count_include_pad: bool = False
    bilinear: bool = False


@dataclass
class AioModel:
    """A whole model: graph, per-level widths, float32 tensors (weights, per-level scale/bias)."""

    name: str
    input_shape: tuple[int, int, int]
    groups: list[int]
    keep_ratios: list[float]
    widths: np.ndarray  # [n_levels, n_groups] uint32
    values: list[Value]
    nodes: list[Node]
    output: int
    tensors: dict[str, np.ndarray]
    labels: list[str] = field(default_factory=list)

    @property
    def num_levels(self) -> int:
        return len(self.keep_ratios)


def _align(n: int, a: int = ALIGN) -> int:
    return (n + a - 1) // a * a


def _u32(x: int | None) -> int:
    return NONE if x is None else int(x)


class _Strings:
    """String table with de-duplication; index order is insertion order."""

    def __init__(self) -> None:
        self.index: dict[str, int] = {}

    def add(self, s: str) -> int:
        if s not in self.index:
            self.index[s] = len(self.index)
        return self.index[s]

    def opt(self, s: str | None) -> int:
        return NONE if s is None else self.add(s)

    def pack(self) -> bytes:
        out = bytearray()
        for s in self.index:
            b = s.encode("utf-8")
            out += struct.pack("<I", len(b)) + b
        return bytes(out)


def _check_model(m: AioModel) -> np.ndarray:
    """Cheap structural checks before writing; returns widths as a C-contiguous uint32 array."""
    n_levels, n_groups = len(m.keep_ratios), len(m.groups)
    widths = np.ascontiguousarray(np.asarray(m.widths, dtype=np.uint32))
    if widths.shape != (n_levels, n_groups):
        raise FormatError(f"widths has shape {widths.shape}, expected ({n_levels}, {n_groups})")
    if n_levels < 1:
        raise FormatError("a model needs at least one level")
    if (
        not m.values
        or m.values[0].group is not None
        or tuple(m.values[0].shape) != tuple(m.input_shape)
    ):
        raise FormatError("value 0 must be the model input: group None, shape input_shape")
    for node in m.nodes:
        if node.op not in OPS:
            raise FormatError(f"node {node.name!r}: unknown op {node.op!r}")
        if node.act not in ACTS:
            raise FormatError(f"node {node.name!r}: unknown activation {node.act!r}")
        if not 1 <= len(node.inputs) <= 2:
            raise FormatError(f"node {node.name!r}: needs 1 or 2 inputs, has {len(node.inputs)}")
        for t in (node.weight, node.scale, node.bias):
            if t is not None and t not in m.tensors:
                raise FormatError(f"node {node.name!r}: unknown tensor {t!r}")
    for tname, arr in m.tensors.items():
        if arr.dtype != np.float32:
            raise FormatError(f"tensor {tname!r} has dtype {arr.dtype}, expected float32")
        if not 1 <= arr.ndim <= 4:
            raise FormatError(f"tensor {tname!r} has {arr.ndim} dims, expected 1..4")
    return widths


def to_bytes(m: AioModel) -> bytes:
    """Serialise ``m`` as a ``.aio`` file of version :data:`VERSION`."""
    widths = _check_model(m)
    strings = _Strings()
    name_idx = strings.add(m.name)
    label_idx = [strings.add(s) for s in m.labels]

    # Tensor data: each tensor 64-byte aligned from the start of the data section.
    tensor_names = list(m.tensors)
    tensor_pos = {n: i for i, n in enumerate(tensor_names)}
    tensor_recs = bytearray()
    data = bytearray()
    for tname in tensor_names:
        arr = np.ascontiguousarray(m.tensors[tname], dtype="<f4")
        off = _align(len(data))
        data += b"\0" * (off - len(data))
        raw = arr.tobytes()
        data += raw
        dims = list(arr.shape) + [0] * (4 - arr.ndim)
        tensor_recs += _TENSOR.pack(strings.add(tname), 1, arr.ndim, 0, *dims, off, len(raw))
    data += b"\0" * (_align(len(data)) - len(data))

    def tensor_ref(t: str | None) -> int:
        return NONE if t is None else tensor_pos[t]

    node_recs = bytearray()
    for node in m.nodes:
        flags = (
            (FLAG_CEIL_MODE if node.ceil_mode else 0)
            | (FLAG_COUNT_INCLUDE_PAD if node.count_include_pad else 0)
            | (FLAG_BILINEAR if node.bilinear else 0)
        )
        in1 = node.inputs[1] if len(node.inputs) > 1 else None
        node_recs += _NODE.pack(
            OPS[node.op],
            strings.add(node.name),
            _u32(node.inputs[0]),
            _u32(in1),
            _u32(node.output),
            ACTS[node.act],
            tensor_ref(node.weight),
            tensor_ref(node.scale),
            tensor_ref(node.bias),
            *(int(v) for v in node.kernel),
            *(int(v) for v in node.stride),
            *(int(v) for v in node.padding),
            *(int(v) for v in node.dilation),
            int(node.groups),
            flags,
            0,
        )

    value_recs = b"".join(_VALUE.pack(_u32(v.group), *(int(d) for d in v.shape)) for v in m.values)
    c, h, w = (int(d) for d in m.input_shape)
    counts = _COUNTS.pack(
        len(strings.index),
        len(m.groups),
        len(m.keep_ratios),
        len(tensor_names),
        len(m.values),
        len(m.nodes),
        len(m.labels),
        name_idx,
        c,
        h,
        w,
        0,
        int(m.output),
        0,
        0,
        0,
    )
    meta = b"".join(
        [
            counts,
            np.asarray(m.groups, dtype="<u4").tobytes(),
            np.asarray(m.keep_ratios, dtype="<f4").tobytes(),
            widths.astype("<u4").tobytes(),
            np.asarray(label_idx, dtype="<u4").tobytes(),
            bytes(tensor_recs),
            value_recs,
            bytes(node_recs),
            strings.pack(),
        ]
    )
    data_offset = _align(HEADER_SIZE + len(meta))
    file_size = data_offset + len(data)
    head = _HEADER.pack(
        MAGIC,
        VERSION,
        HEADER_SIZE,
        file_size,
        HEADER_SIZE,
        len(meta),
        data_offset,
        len(data),
        zlib.crc32(meta),
        zlib.crc32(data),
        b"\0" * 60,
        0,
    )
    head = head[:124] + struct.pack("<I", zlib.crc32(head[:124]))
    pad = b"\0" * (data_offset - HEADER_SIZE - len(meta))
    return head + meta + pad + bytes(data)


class _Cursor:
    """Bounds-checked little-endian reads inside the metadata section."""

    def __init__(self, buf: bytes) -> None:
        self.buf, self.pos = buf, 0

    def take(self, n: int, what: str) -> bytes:
        if n < 0 or self.pos + n > len(self.buf):
            raise FormatError(f"metadata truncated while reading {what}")
        b = self.buf[self.pos : self.pos + n]
        self.pos += n
        return b

    def array(self, n: int, dtype: str, what: str) -> np.ndarray:
        return np.frombuffer(self.take(4 * n, what), dtype=dtype).copy()


def _opt(idx: int, n: int, what: str) -> int | None:
    if idx == NONE:
        return None
    if idx >= n:
        raise FormatError(f"{what} index {idx} out of range (count {n})")
    return idx


def from_bytes(b: bytes) -> AioModel:
    """Parse a ``.aio`` file; raises FormatError naming the problem."""
    b = bytes(b)
    if len(b) < HEADER_SIZE:
        raise FormatError(f"file truncated: {len(b)} bytes, smaller than the 128-byte header")
    (magic, version, hsize, file_size, meta_off, meta_size, data_off, data_size, meta_crc,
     data_crc, _res, head_crc) = _HEADER.unpack_from(b)  # fmt: skip
    if magic != MAGIC:
        raise FormatError("bad magic")
    if version not in READ_VERSIONS:
        raise FormatError(f"unsupported version {version}")
    if zlib.crc32(b[:124]) != head_crc:
        raise FormatError("header checksum mismatch")
    if hsize != HEADER_SIZE or meta_off != HEADER_SIZE:
        raise FormatError("bad header_size or meta_offset")
    if file_size != len(b):
        raise FormatError(f"file truncated: header says {file_size} bytes, file has {len(b)}")
    if meta_size == 0 or data_off % ALIGN or data_off < meta_off + meta_size:
        raise FormatError("bad metadata/data section layout")
    if data_off + data_size != file_size:
        raise FormatError("data section does not end at the end of the file")
    meta = b[meta_off : meta_off + meta_size]
    data = b[data_off : data_off + data_size]
    if zlib.crc32(meta) != meta_crc:
        raise FormatError("metadata checksum mismatch")
    if zlib.crc32(data) != data_crc:
        raise FormatError("data checksum mismatch")

    cur = _Cursor(meta)
    counts = _COUNTS.unpack(cur.take(64, "counts"))
    n_str, n_groups, n_levels, n_tensors, n_values, n_nodes, n_labels = counts[:7]
    name_i, ic, ih, iw, input_value, output_value = counts[7:13]
    for label, n in zip(
        ("strings", "groups", "levels", "tensors", "values", "nodes", "labels"),
        counts[:7],
        strict=True,
    ):
        if n > MAX_COUNT:
            raise FormatError(f"too many {label}: {n}")
    if input_value != 0:
        raise FormatError(f"input_value must be 0, is {input_value}")
    groups = cur.array(n_groups, "<u4", "groups")
    keep = cur.array(n_levels, "<f4", "keep ratios")
    widths = cur.array(n_levels * n_groups, "<u4", "widths").reshape(n_levels, n_groups)
    labels_i = cur.array(n_labels, "<u4", "labels")
    tensor_recs = [_TENSOR.unpack(cur.take(64, "tensors")) for _ in range(n_tensors)]
    value_recs = [_VALUE.unpack(cur.take(16, "values")) for _ in range(n_values)]
    node_recs = [_NODE.unpack(cur.take(80, "nodes")) for _ in range(n_nodes)]
    strings: list[str] = []
    for i in range(n_str):
        (ln,) = struct.unpack("<I", cur.take(4, f"string {i}"))
        try:
            strings.append(cur.take(ln, f"string {i}").decode("utf-8"))
        except UnicodeDecodeError as exc:
            raise FormatError(f"string {i} is not valid UTF-8") from exc
    if cur.pos != len(meta):
        raise FormatError(f"{len(meta) - cur.pos} unexpected bytes after the strings")

    def string(i: int, what: str) -> str:
        if i >= n_str:
            raise FormatError(f"{what}: string index {i} out of range (count {n_str})")
        return strings[i]

    if n_levels < 1:
        raise FormatError("no levels")
    for g, fw in enumerate(groups):
        if fw < 1:
            raise FormatError(f"group {g} has full width 0")
        col = widths[:, g]
        if (col < 1).any() or (col > fw).any():
            raise FormatError(f"group {g}: widths must lie in [1, {fw}]")
        if (np.diff(col.astype(np.int64)) > 0).any():
            raise FormatError(f"group {g}: widths increase from one level to the next (not nested)")

    tensors: dict[str, np.ndarray] = {}
    tnames: list[str] = []
    for i, (tn, dtype, ndim, _r, d0, d1, d2, d3, off, nbytes) in enumerate(tensor_recs):
        tname = string(tn, f"tensor {i}")
        if dtype != 1:
            raise FormatError(f'tensor {i} ("{tname}") has unsupported dtype {dtype}')
        if not 1 <= ndim <= 4:
            raise FormatError(f'tensor {i} ("{tname}") has {ndim} dims')
        dims = (d0, d1, d2, d3)[:ndim]
        if any(d < 1 or d > 1 << 32 for d in dims):
            raise FormatError(f'tensor {i} ("{tname}") has a bad dimension {dims}')
        if 4 * int(np.prod(dims, dtype=object)) != nbytes:
            raise FormatError(f'tensor {i} ("{tname}"): nbytes {nbytes} does not match {dims}')
        if off % ALIGN or off + nbytes > data_size:
            raise FormatError(f'tensor {i} ("{tname}") lies outside the data section')
        if tname in tensors:
            raise FormatError(f'tensor {i} ("{tname}"): duplicate name')
        tensors[tname] = np.frombuffer(data, "<f4", nbytes // 4, off).reshape(dims).copy()
        tnames.append(tname)

    values = []
    for i, (g, c, h, w) in enumerate(value_recs):
        values.append(Value(_opt(g, n_groups, f"value {i} group"), (c, h, w)))
    if n_values < 1 or values[0].group is not None or values[0].shape != (ic, ih, iw):
        raise FormatError(
            "value 0 must be the input: group NONE, shape (input_c, input_h, input_w)"
        )
    if output_value >= n_values:
        raise FormatError(f"output value {output_value} out of range (count {n_values})")

    nodes = []
    for i, r in enumerate(node_recs):
        (op, nm, in0, in1, out, act, wt, sc, bi, kh, kw, sh, sw, ph, pw, dh, dw, grp, flags,
         _r) = r  # fmt: skip
        nname = string(nm, f"node {i}")
        if op not in _OP_NAMES:
            raise FormatError(f'node {i} ("{nname}"): unknown op {op}')
        if act not in _ACT_NAMES:
            raise FormatError(f'node {i} ("{nname}"): unknown activation {act}')
        where = f'node {i} ({_OP_NAMES[op].upper()} "{nname}")'
        if version < 2 and (op > OPS["global_avgpool"] or act > ACTS["hardswish"]):
            raise FormatError(f"{where}: op {op} / activation {act} needs format version 2")
        inputs = [_opt(in0, n_values, f"{where} input")]
        if inputs[0] is None:
            raise FormatError(f"{where}: missing input")
        if in1 != NONE:
            inputs.append(_opt(in1, n_values, f"{where} input"))
        if _opt(out, n_values, f"{where} output") is None:
            raise FormatError(f"{where}: missing output")

        def tref(t: int, where: str = where) -> str | None:
            j = _opt(t, n_tensors, f"{where} tensor")
            return None if j is None else tnames[j]

        nodes.append(
            Node(
                op=_OP_NAMES[op],
                name=nname,
                inputs=[int(x) for x in inputs if x is not None],
                output=out,
                act=_ACT_NAMES[act],
                weight=tref(wt),
                scale=tref(sc),
                bias=tref(bi),
                kernel=(kh, kw),
                stride=(sh, sw),
                padding=(ph, pw),
                dilation=(dh, dw),
                groups=grp,
                ceil_mode=bool(flags & FLAG_CEIL_MODE) and op != OPS["resize"],
                count_include_pad=bool(flags & FLAG_COUNT_INCLUDE_PAD),
                bilinear=bool(flags & FLAG_BILINEAR) and op == OPS["resize"],
            )
        )

    _check_graph(nodes, n_values)
    return AioModel(
        name=string(name_i, "model name"),
        input_shape=(ic, ih, iw),
        groups=[int(g) for g in groups],
        keep_ratios=[float(k) for k in keep],
        widths=widths.astype(np.uint32),
        values=values,
        nodes=nodes,
        output=output_value,
        tensors=tensors,
        labels=[string(int(i), f"label {j}") for j, i in enumerate(labels_i)],
    )


def _check_graph(nodes: list[Node], n_values: int) -> None:
    """Execution order: inputs are value 0 or earlier outputs; every value but 0 produced once."""
    produced = [False] * n_values
    produced[0] = True
    for i, node in enumerate(nodes):
        where = f'node {i} ({node.op.upper()} "{node.name}")'
        for v in node.inputs:
            if not produced[v]:
                raise FormatError(f"{where}: input value {v} is not produced by an earlier node")
        if produced[node.output]:
            raise FormatError(f"{where}: output value {node.output} is already produced")
        produced[node.output] = True
    missing = [v for v, p in enumerate(produced) if not p]
    if missing:
        raise FormatError(f"value {missing[0]} is not produced by any node")


PathLike = str | Path


def save(m: AioModel, path: PathLike) -> None:
    """Write ``m`` to ``path``."""
    Path(path).write_bytes(to_bytes(m))


def load(path: PathLike) -> AioModel:
    """Read and check a ``.aio`` file."""
    return from_bytes(Path(path).read_bytes())


def level_accuracy(m: AioModel) -> list[float] | None:
    """Each level's stored test accuracy (fraction), or None when the file has none."""
    acc = m.tensors.get(ACCURACY_TENSOR)
    if acc is None or acc.ndim != 1 or len(acc) != m.num_levels:
        return None
    return [float(a) for a in acc]
