"""Write one level of an :class:`~allinone.format.AioModel` as a standard ONNX model.

numpy + onnx only (no torch). The level is physically cut out: every conv and linear keeps its
first ``widths[level][group]`` output and input channels, with that level's BatchNorm ``scale``
folded into the weights and its ``bias`` as the Conv/Gemm bias. ONNX Runtime users and the
baselines run this file; the tests compare it with the engine and with PyTorch.
"""

from __future__ import annotations

import os

import numpy as np

from allinone.format import AioModel, Node

__all__ = ["OPSET", "export_level", "level_graph"]

OPSET = 17


def _parts(model: AioModel, value: int) -> list[tuple[int, int]]:
    """``[(value, full channel offset)]``: a concatenation's inputs, nested ones flattened."""
    cats = {n.output: n.inputs for n in model.nodes if n.op == "concat"}
    out: list[tuple[int, int]] = []
    stack, offset = [value], 0
    while stack:
        v = stack.pop()
        if v in cats:
            stack += [cats[v][1], cats[v][0]]
            continue
        out.append((v, offset))
        offset += model.values[v].shape[0]
    return out


def _width(model: AioModel, level: int, value: int) -> int:
    total = 0
    for u, _ in _parts(model, value):
        v = model.values[u]
        total += v.shape[0] if v.group is None else int(model.widths[level][v.group])
    return total


def _kept_columns(model: AioModel, level: int, value: int) -> np.ndarray:
    """Input channels of ``value`` a level keeps, as indices into the full width."""
    return np.concatenate(
        [off + np.arange(_width(model, level, u)) for u, off in _parts(model, value)]
    )


class _Builder:
    """Accumulates ONNX nodes and initializers for one level."""

    def __init__(self, model: AioModel, level: int) -> None:
        import onnx.helper as oh  # deferred: onnx is an optional dependency

        self.oh = oh
        self.model = model
        self.level = level
        self.nodes: list[object] = []
        self.inits: list[object] = []
        self.names: dict[int, str] = {0: "input"}
        self.count = 0

    def fresh(self, hint: str) -> str:
        self.count += 1
        return f"{hint}_{self.count}"

    def const(self, hint: str, arr: np.ndarray) -> str:
        from onnx import numpy_helper

        name = self.fresh(hint)
        self.inits.append(numpy_helper.from_array(np.ascontiguousarray(arr), name))
        return name

    def op(self, op_type: str, inputs: list[str], hint: str, **attrs: object) -> str:
        out = self.fresh(hint)
        self.nodes.append(self.oh.make_node(op_type, inputs, [out], name=out, **attrs))
        return out

    def act(self, x: str, act: str, hint: str) -> str:
        if act == "none":
            return x
        if act == "relu":
            return self.op("Relu", [x], hint + "_relu")
        if act == "relu6":
            lo = self.const(hint + "_min", np.array(0.0, np.float32))
            hi = self.const(hint + "_max", np.array(6.0, np.float32))
            return self.op("Clip", [x, lo, hi], hint + "_relu6")
        if act == "silu":
            sig = self.op("Sigmoid", [x], hint + "_sigmoid")
            return self.op("Mul", [x, sig], hint + "_silu")
        if act == "hardswish":
            return self.op("HardSwish", [x], hint + "_hardswish")
        if act == "sigmoid":
            return self.op("Sigmoid", [x], hint + "_sigmoid")
        if act == "hardsigmoid":  # PyTorch's: relu6(x + 3) / 6
            return self.op("HardSigmoid", [x], hint + "_hardsigmoid", alpha=1.0 / 6.0, beta=0.5)
        raise ValueError(f"unknown activation {act!r}")

    def epilogue_weights(self, node: Node, w_out: int) -> tuple[np.ndarray, np.ndarray]:
        t = self.model.tensors
        scale = (
            t[node.scale][self.level][:w_out].astype(np.float64) if node.scale else np.ones(w_out)
        )
        bias = t[node.bias][self.level][:w_out].astype(np.float64) if node.bias else np.zeros(w_out)
        return scale, bias

    def conv(self, node: Node) -> str:
        m = self.model
        x = self.names[node.inputs[0]]
        w_out = _width(m, self.level, node.output)
        weight = m.tensors[node.weight or ""].astype(np.float64)
        c_in_full = m.values[node.inputs[0]].shape[0]
        groups = node.groups
        if groups == 1:
            weight = weight[:w_out][:, _kept_columns(m, self.level, node.inputs[0])]
        elif groups == c_in_full == weight.shape[0] and m.values[node.inputs[0]].group is not None:
            weight, groups = weight[:w_out], w_out  # depthwise: in == out group
        scale, bias = self.epilogue_weights(node, w_out)
        weight = weight * scale[:, None, None, None]
        pads = [node.padding[0], node.padding[1], node.padding[0], node.padding[1]]
        y = self.op(
            "Conv",
            [x, self.const(node.name + "_W", weight.astype(np.float32)),
             self.const(node.name + "_B", bias.astype(np.float32))],
            node.name,
            kernel_shape=list(node.kernel), strides=list(node.stride), pads=pads,
            dilations=list(node.dilation), group=groups,
        )  # fmt: skip
        if len(node.inputs) > 1:
            y = self.op("Add", [y, self.names[node.inputs[1]]], node.name + "_add")
        return self.act(y, node.act, node.name)

    def linear(self, node: Node) -> str:
        m = self.model
        c, h, w = m.values[node.inputs[0]].shape
        w_in = _width(m, self.level, node.inputs[0])
        w_out = _width(m, self.level, node.output)
        weight = m.tensors[node.weight or ""].astype(np.float64)
        weight = weight.reshape(weight.shape[0], c, h * w)[:w_out, :w_in].reshape(
            w_out, w_in * h * w
        )
        scale, bias = self.epilogue_weights(node, w_out)
        weight = weight * scale[:, None]
        flat = self.op("Flatten", [self.names[node.inputs[0]]], node.name + "_flatten", axis=1)
        y = self.op(
            "Gemm",
            [flat, self.const(node.name + "_W", weight.astype(np.float32)),
             self.const(node.name + "_B", bias.astype(np.float32))],
            node.name, transB=1,
        )  # fmt: skip
        y = self.act(y, node.act, node.name)
        axes = self.const(node.name + "_axes", np.array([2, 3], np.int64))
        return self.op("Unsqueeze", [y, axes], node.name + "_4d")

    def pool(self, node: Node) -> str:
        x = self.names[node.inputs[0]]
        pads = [node.padding[0], node.padding[1], node.padding[0], node.padding[1]]
        attrs: dict[str, object] = dict(
            kernel_shape=list(node.kernel), strides=list(node.stride), pads=pads,
            ceil_mode=int(node.ceil_mode),
        )  # fmt: skip
        if node.op == "maxpool":
            return self.op("MaxPool", [x], node.name, **attrs)
        return self.op(
            "AveragePool", [x], node.name, count_include_pad=int(node.count_include_pad), **attrs
        )

    def resize(self, node: Node) -> str:
        sh, sw = node.stride
        scales = self.const(node.name + "_scales", np.array([1, 1, sh, sw], np.float32))
        if node.bilinear:  # align_corners=False
            attrs: dict[str, object] = dict(
                mode="linear", coordinate_transformation_mode="half_pixel"
            )
        else:  # PyTorch's "nearest": source index floor(dst / scale)
            attrs = dict(mode="nearest", coordinate_transformation_mode="asymmetric",
                         nearest_mode="floor")  # fmt: skip
        y = self.op("Resize", [self.names[node.inputs[0]], "", scales], node.name, **attrs)
        return self.act(y, node.act, node.name)

    def node(self, node: Node) -> str:
        if node.op == "conv2d":
            return self.conv(node)
        if node.op == "linear":
            return self.linear(node)
        if node.op == "add":
            y = self.op("Add", [self.names[i] for i in node.inputs], node.name)
            return self.act(y, node.act, node.name)
        if node.op == "act":
            return self.act(self.names[node.inputs[0]], node.act, node.name)
        if node.op in ("maxpool", "avgpool"):
            return self.pool(node)
        if node.op == "global_avgpool":
            return self.op("GlobalAveragePool", [self.names[node.inputs[0]]], node.name)
        if node.op == "mul":  # (N, C, H, W) * (N, C, 1, 1): ONNX broadcasting
            y = self.op("Mul", [self.names[i] for i in node.inputs], node.name)
            return self.act(y, node.act, node.name)
        if node.op == "softmax":
            return self.op("Softmax", [self.names[node.inputs[0]]], node.name, axis=1)
        if node.op == "resize":
            return self.resize(node)
        if node.op == "concat":
            return self.op("Concat", [self.names[i] for i in node.inputs], node.name, axis=1)
        raise ValueError(f"unsupported op {node.op!r} at node {node.name!r}")


def level_graph(model: AioModel, level: int) -> object:
    """The ONNX ``ModelProto`` of ``model`` at ``level`` (checked with ``onnx.checker``).

    Input ``"input"`` is (N, C, H, W) with a dynamic batch. Output ``"output"`` is (N, C) when the
    final value is (C, 1, 1), else (N, C, H, W).
    """
    import onnx
    import onnx.helper as oh

    n_levels = int(np.asarray(model.widths).shape[0])
    if not 0 <= level < n_levels:
        raise ValueError(f"level {level} out of range: the model has {n_levels} levels")
    b = _Builder(model, level)
    for node in model.nodes:
        b.names[node.output] = b.node(node)
    c, h, w = model.values[model.output].shape
    c = _width(model, level, model.output)
    last = b.names[model.output]
    if h == 1 and w == 1:
        b.nodes.append(oh.make_node("Flatten", [last], ["output"], name="output", axis=1))
        out_shape: list[object] = ["N", c]
    else:
        b.nodes.append(oh.make_node("Identity", [last], ["output"], name="output"))
        out_shape = ["N", c, h, w]
    ic, ih, iw = model.input_shape
    graph = oh.make_graph(
        b.nodes,
        f"{model.name}_level{level}",
        [oh.make_tensor_value_info("input", onnx.TensorProto.FLOAT, ["N", ic, ih, iw])],
        [oh.make_tensor_value_info("output", onnx.TensorProto.FLOAT, out_shape)],
        initializer=b.inits,
    )
    proto = oh.make_model(
        graph, opset_imports=[oh.make_opsetid("", OPSET)], producer_name="allinone"
    )
    proto.ir_version = 8
    onnx.checker.check_model(proto)
    return proto


def export_level(model: AioModel, level: int, path: str | os.PathLike[str]) -> None:
    """Write ``model`` at ``level`` as a standard ONNX file (opset 17) at ``path``."""
    import onnx

    onnx.save(level_graph(model, level), os.fspath(path))
