"""ONNX → PyTorch: rebuild a CNN's ONNX graph as a ``torch.fx.GraphModule`` of ``torch.nn`` modules.

This is the front half of ``allinone convert``: the module it returns goes through the one
exporter (:func:`allinone.exporter.export` pieces), so groups, ranking and levels are found the
same way as for a PyTorch model. Needs ``onnx`` and ``torch`` (imported by whoever imports this).

Supported operators: Conv, BatchNormalization (after a Conv), Relu, Clip(0, 6), HardSwish,
Sigmoid followed by Mul with the Sigmoid's own input (SiLU), Sigmoid and HardSigmoid (1/6, 0.5)
otherwise, Mul by a per-channel gate (squeeze-excite), Concat and Softmax over channels, Resize
by integer scales (nearest or bilinear), Add, MaxPool, AveragePool, GlobalAveragePool, Flatten
(axis 1), Reshape to (N, -1), Gemm and MatMul + Add (a Linear), Identity and Dropout.
Anything else raises :class:`UnsupportedOpError` naming the op type and the node.

**Folded BatchNorm.** ONNX files exported in eval mode usually have BatchNorm folded into the
convolution weights, so there are no per-channel statistics left to re-estimate per level. With
``insert_bn=True`` (what ``convert`` does) every Conv not followed by a BatchNormalization gets a
``BatchNorm2d`` that is the identity at the full model: its running statistics are the measured
mean/variance of the conv's output on calibration inputs and its affine parameters are
``γ = √(σ² + ε)``, ``β = μ``. Level 0 is therefore the ONNX model; at a pruned level the exporter
re-estimates that level's statistics, and the inserted BatchNorm maps each kept channel's
distribution back to the full model's (mean and standard deviation), which is the usual
post-pruning BatchNorm recalibration.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import onnx
import torch
from onnx import numpy_helper
from torch import fx, nn

__all__ = ["ImportedModel", "UnsupportedOpError", "from_onnx", "measure_inserted_bn"]

BN_EPS = 1e-5


class UnsupportedOpError(ValueError):
    """An ONNX node that ``convert`` cannot map (the message names the op and the node)."""


@dataclass
class ImportedModel:
    """The rebuilt module and what ``convert`` needs to know about it."""

    module: fx.GraphModule
    input_shape: tuple[int, int, int]  # (C, H, W)
    input_name: str
    inserted_bn: list[str]  # qualified names of BatchNorm2d inserted after folded convs


def _attrs(node: onnx.NodeProto) -> dict[str, Any]:
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _where(node: onnx.NodeProto, index: int) -> str:
    return f"node {node.name or f'#{index}'!r} ({node.op_type})"


def _sym_pads(pads: list[int] | None, node: onnx.NodeProto, index: int) -> tuple[int, int]:
    """ONNX (top, left, bottom, right) pads → torch's symmetric (h, w) padding."""
    if not pads:
        return (0, 0)
    if len(pads) != 4 or pads[0] != pads[2] or pads[1] != pads[3]:
        raise UnsupportedOpError(f"asymmetric padding {pads} at {_where(node, index)}")
    return (int(pads[0]), int(pads[1]))


def _check_auto_pad(attrs: dict[str, Any], node: onnx.NodeProto, index: int) -> None:
    auto_pad = attrs.get("auto_pad", b"NOTSET")
    if isinstance(auto_pad, bytes):
        auto_pad = auto_pad.decode()
    if auto_pad not in ("NOTSET", "VALID"):
        raise UnsupportedOpError(f"auto_pad={auto_pad} at {_where(node, index)}")


class _Builder:
    """Walks the ONNX nodes in order and emits fx nodes into a fresh graph."""

    def __init__(self, model: onnx.ModelProto, insert_bn: bool) -> None:
        self.model = model
        self.insert_bn = insert_bn
        self.graph = fx.Graph()
        self.root = nn.Module()
        self.consts: dict[str, np.ndarray] = {
            t.name: numpy_helper.to_array(t) for t in model.graph.initializer
        }
        self.env: dict[str, fx.Node] = {}
        self.names: set[str] = set()
        self.inserted: list[str] = []
        self.consumers: dict[str, list[onnx.NodeProto]] = {}
        for n in model.graph.node:
            for i in n.input:
                self.consumers.setdefault(i, []).append(n)
        # Linear produced by a MatMul, waiting for its bias Add: output name -> module
        self.pending_linear: dict[str, nn.Linear] = {}
        self.skip: set[str] = set()  # first outputs of nodes already handled (fused)

    # ------------------------------------------------------------------------------ helpers
    def module_name(self, node: onnx.NodeProto, index: int) -> str:
        base = re.sub(r"[^0-9a-zA-Z_]", "_", node.name or f"{node.op_type}_{index}").strip("_")
        base = base or f"n{index}"
        if base[0].isdigit():
            base = "n" + base
        name, k = base, 1
        while name in self.names:
            k += 1
            name = f"{base}_{k}"
        self.names.add(name)
        return name

    def call(self, fn: Any, args: tuple[Any, ...], node: onnx.NodeProto, index: int) -> fx.Node:
        """``fn(*args)`` as an fx node named after the ONNX node, so that the exporter's errors
        (a graph it cannot level) name the node of the ONNX file."""
        return self.graph.create_node("call_function", fn, args, name=self.module_name(node, index))

    def add_module(self, name: str, mod: nn.Module, x: fx.Node) -> fx.Node:
        self.root.add_module(name, mod)
        return self.graph.call_module(name, (x,))

    def const(self, name: str, node: onnx.NodeProto, index: int) -> np.ndarray:
        if name not in self.consts:
            raise UnsupportedOpError(
                f"input {name!r} of {_where(node, index)} must be a constant (initializer)"
            )
        return self.consts[name]

    def value(self, name: str, node: onnx.NodeProto, index: int) -> fx.Node:
        if name not in self.env:
            raise UnsupportedOpError(
                f"input {name!r} of {_where(node, index)} is a constant or unknown; only "
                "activations computed from the graph input are supported there"
            )
        return self.env[name]

    def only_consumer(self, out: str, op_type: str) -> onnx.NodeProto | None:
        users = self.consumers.get(out, [])
        graph_outputs = {o.name for o in self.model.graph.output}
        if len(users) == 1 and users[0].op_type == op_type and out not in graph_outputs:
            return users[0]
        return None

    # ---------------------------------------------------------------------------------- ops
    def conv(self, node: onnx.NodeProto, index: int) -> None:
        a = _attrs(node)
        _check_auto_pad(a, node, index)
        w = self.const(node.input[1], node, index)
        if w.ndim != 4:
            raise UnsupportedOpError(f"only 2-D convolution is supported, at {_where(node, index)}")
        b = (
            self.const(node.input[2], node, index)
            if len(node.input) > 2 and node.input[2]
            else None
        )
        groups = int(a.get("group", 1))
        conv = nn.Conv2d(
            w.shape[1] * groups,
            w.shape[0],
            kernel_size=tuple(w.shape[2:]),
            stride=tuple(a.get("strides", (1, 1))),
            padding=_sym_pads(a.get("pads"), node, index),
            dilation=tuple(a.get("dilations", (1, 1))),
            groups=groups,
            bias=b is not None,
        )
        with torch.no_grad():
            conv.weight.copy_(torch.tensor(w, dtype=torch.float32))
            if b is not None:
                assert conv.bias is not None
                conv.bias.copy_(torch.tensor(b, dtype=torch.float32))
        name = self.module_name(node, index)
        y = self.add_module(name, conv, self.value(node.input[0], node, index))
        if self.insert_bn and self.only_consumer(node.output[0], "BatchNormalization") is None:
            bn_name = f"{name}_bn"
            self.names.add(bn_name)
            bn = nn.BatchNorm2d(w.shape[0], eps=BN_EPS)  # identity until measured
            with torch.no_grad():
                bn.weight.fill_(float(np.sqrt(1.0 + BN_EPS)))
            y = self.add_module(bn_name, bn, y)
            self.inserted.append(bn_name)
        self.env[node.output[0]] = y

    def batchnorm(self, node: onnx.NodeProto, index: int) -> None:
        a = _attrs(node)
        scale, bias, mean, var = (self.const(n, node, index) for n in node.input[1:5])
        bn = nn.BatchNorm2d(scale.shape[0], eps=float(a.get("epsilon", 1e-5)))
        with torch.no_grad():
            bn.weight.copy_(torch.tensor(scale, dtype=torch.float32))
            bn.bias.copy_(torch.tensor(bias, dtype=torch.float32))
            bn.running_mean.copy_(torch.tensor(mean, dtype=torch.float32))
            bn.running_var.copy_(torch.tensor(var, dtype=torch.float32))
        x = self.value(node.input[0], node, index)
        self.env[node.output[0]] = self.add_module(self.module_name(node, index), bn, x)

    def unary_module(self, node: onnx.NodeProto, index: int, mod: nn.Module) -> None:
        x = self.value(node.input[0], node, index)
        self.env[node.output[0]] = self.add_module(self.module_name(node, index), mod, x)

    def clip(self, node: onnx.NodeProto, index: int) -> None:
        a = _attrs(node)
        lo = a.get("min")
        hi = a.get("max")
        if len(node.input) > 1 and node.input[1]:
            lo = float(self.const(node.input[1], node, index))
        if len(node.input) > 2 and node.input[2]:
            hi = float(self.const(node.input[2], node, index))
        if lo is not None and hi is not None and float(lo) == 0.0 and float(hi) == 6.0:
            self.unary_module(node, index, nn.ReLU6())
        elif lo is not None and float(lo) == 0.0 and hi is None:
            self.unary_module(node, index, nn.ReLU())
        else:
            raise UnsupportedOpError(
                f"Clip({lo}, {hi}) at {_where(node, index)}: only Clip(0, 6) is supported"
            )

    def sigmoid(self, node: onnx.NodeProto, index: int) -> None:
        """Sigmoid(x) whose only use is Mul(x, Sigmoid(x)) is a SiLU; any other, a Sigmoid (a
        squeeze-excite gate when a Mul by it follows)."""
        x_name, s_name = node.input[0], node.output[0]
        mul = self.only_consumer(s_name, "Mul")
        x = self.value(x_name, node, index)
        if mul is None or sorted(mul.input) != sorted([x_name, s_name]):
            self.env[s_name] = self.add_module(self.module_name(node, index), nn.Sigmoid(), x)
            return
        y = self.add_module(self.module_name(node, index), nn.SiLU(), x)
        self.env[mul.output[0]] = y
        self.skip.add(mul.output[0])

    def hardsigmoid(self, node: onnx.NodeProto, index: int) -> None:
        a = _attrs(node)
        alpha, beta = float(a.get("alpha", 0.2)), float(a.get("beta", 0.5))
        if abs(alpha - 1.0 / 6.0) > 1e-6 or abs(beta - 0.5) > 1e-6:
            raise UnsupportedOpError(
                f"HardSigmoid(alpha={alpha}, beta={beta}) at {_where(node, index)}: only PyTorch's "
                "(alpha 1/6, beta 0.5) is supported"
            )
        self.unary_module(node, index, nn.Hardsigmoid())

    def mul(self, node: onnx.NodeProto, index: int) -> None:
        """x * gate (the tracer checks that one operand is a per-channel (N, C, 1, 1) gate)."""
        for name in node.input:
            if name in self.consts:
                raise UnsupportedOpError(
                    f"Mul by a constant at {_where(node, index)}: only x * gate of two computed "
                    "tensors (a squeeze-excite gate) is supported"
                )
        a = self.value(node.input[0], node, index)
        b = self.value(node.input[1], node, index)
        self.env[node.output[0]] = self.call(operator.mul, (a, b), node, index)

    def concat(self, node: onnx.NodeProto, index: int) -> None:
        axis = int(_attrs(node)["axis"])
        xs = [self.value(name, node, index) for name in node.input]
        # The tracer accepts only the channel axis of (N, C, H, W) tensors.
        self.env[node.output[0]] = self.call(torch.cat, (xs, axis), node, index)

    def softmax(self, node: onnx.NodeProto, index: int) -> None:
        axis = int(_attrs(node).get("axis", -1))
        x = self.value(node.input[0], node, index)
        # The tracer accepts only the channel axis (1, or -1 of an (N, C) tensor).
        self.env[node.output[0]] = self.add_module(
            self.module_name(node, index), nn.Softmax(dim=axis), x
        )

    def resize(self, node: onnx.NodeProto, index: int) -> None:
        """Resize / Upsample by constant integer scales: nearest (asymmetric, floor), as
        PyTorch's "nearest", or linear with half-pixel centres, as bilinear without
        align_corners."""
        a = _attrs(node)
        dec = {k: v.decode() if isinstance(v, bytes) else v for k, v in a.items()}
        mode = dec.get("mode", "nearest")
        ctm = dec.get("coordinate_transformation_mode", "half_pixel")
        scales_name = node.input[2] if node.op_type == "Resize" else node.input[1]
        if node.op_type == "Resize" and len(node.input) > 3 and node.input[3]:
            raise UnsupportedOpError(
                f"Resize to explicit sizes at {_where(node, index)}: only constant scales are "
                "supported"
            )
        scales = [float(v) for v in self.const(scales_name, node, index).reshape(-1)]
        if (
            len(scales) != 4
            or scales[:2] != [1.0, 1.0]
            or any(v < 1 or v != int(v) for v in scales[2:])
        ):
            raise UnsupportedOpError(
                f"Resize scales {scales} at {_where(node, index)}: only integer upsampling of "
                "H and W is supported"
            )
        nearest_mode = dec.get("nearest_mode", "round_prefer_floor")
        if mode == "nearest" and ctm == "asymmetric" and nearest_mode == "floor":
            torch_mode = "nearest"
        elif mode == "linear" and ctm in ("half_pixel", "pytorch_half_pixel"):
            torch_mode = "bilinear"
        else:
            raise UnsupportedOpError(
                f"Resize mode {mode!r} with coordinate_transformation_mode {ctm!r} at "
                f"{_where(node, index)}: only nearest (asymmetric, floor) and linear "
                "(half_pixel) are supported"
            )
        up = nn.Upsample(scale_factor=(scales[2], scales[3]), mode=torch_mode)
        self.unary_module(node, index, up)

    def add(self, node: onnx.NodeProto, index: int) -> None:
        a_name, b_name = node.input[0], node.input[1]
        if a_name in self.pending_linear and b_name in self.consts:
            self.linear_bias(a_name, b_name, node, index)
            return
        if b_name in self.pending_linear and a_name in self.consts:
            self.linear_bias(b_name, a_name, node, index)
            return
        a = self.value(a_name, node, index)
        b = self.value(b_name, node, index)
        self.env[node.output[0]] = self.call(operator.add, (a, b), node, index)

    def linear_bias(self, mm: str, bias: str, node: onnx.NodeProto, index: int) -> None:
        lin = self.pending_linear.pop(mm)
        b = self.consts[bias].astype(np.float32).reshape(-1)
        if b.shape[0] != lin.out_features:
            raise UnsupportedOpError(f"bias of shape {b.shape} at {_where(node, index)}")
        lin.bias = nn.Parameter(torch.from_numpy(b.copy()))
        self.env[node.output[0]] = self.env[mm]

    def pool(self, node: onnx.NodeProto, index: int, maxpool: bool) -> None:
        a = _attrs(node)
        _check_auto_pad(a, node, index)
        if len(node.output) > 1 and node.output[1]:
            raise UnsupportedOpError(f"MaxPool with indices at {_where(node, index)}")
        kernel = tuple(a["kernel_shape"])
        stride = tuple(a.get("strides", (1, 1)))
        padding = _sym_pads(a.get("pads"), node, index)
        ceil = bool(a.get("ceil_mode", 0))
        mod: nn.Module
        if maxpool:
            if tuple(a.get("dilations", (1, 1))) != (1, 1):
                raise UnsupportedOpError(f"dilated MaxPool at {_where(node, index)}")
            mod = nn.MaxPool2d(kernel, stride, padding, ceil_mode=ceil)
        else:
            cip = bool(a.get("count_include_pad", 0))
            mod = nn.AvgPool2d(kernel, stride, padding, ceil_mode=ceil, count_include_pad=cip)
        self.unary_module(node, index, mod)

    def flatten(self, node: onnx.NodeProto, index: int) -> None:
        if int(_attrs(node).get("axis", 1)) != 1:
            raise UnsupportedOpError(f"Flatten with axis != 1 at {_where(node, index)}")
        self.unary_module(node, index, nn.Flatten())

    def reshape(self, node: onnx.NodeProto, index: int) -> None:
        shape = [int(s) for s in self.const(node.input[1], node, index).reshape(-1)]
        if len(shape) != 2 or shape[1] != -1 or shape[0] not in (0, 1, -1):
            raise UnsupportedOpError(
                f"Reshape to {shape} at {_where(node, index)}: only (N, -1) is supported"
            )
        self.unary_module(node, index, nn.Flatten())

    def gemm(self, node: onnx.NodeProto, index: int) -> None:
        a = _attrs(node)
        if int(a.get("transA", 0)) or float(a.get("alpha", 1.0)) != 1.0:
            raise UnsupportedOpError(f"Gemm with transA/alpha at {_where(node, index)}")
        w = self.const(node.input[1], node, index).astype(np.float32)
        if not int(a.get("transB", 0)):
            w = w.T
        b = None
        if len(node.input) > 2 and node.input[2]:
            b = self.const(node.input[2], node, index).astype(np.float32).reshape(-1)
            b = b * float(a.get("beta", 1.0))
        lin = self._linear(w, b)
        self.unary_module(node, index, lin)

    def matmul(self, node: onnx.NodeProto, index: int) -> None:
        w = self.const(node.input[1], node, index).astype(np.float32)
        if w.ndim != 2:
            raise UnsupportedOpError(f"MatMul with a {w.ndim}-D weight at {_where(node, index)}")
        lin = self._linear(w.T, None)
        self.unary_module(node, index, lin)
        self.pending_linear[node.output[0]] = lin

    @staticmethod
    def _linear(w: np.ndarray, b: np.ndarray | None) -> nn.Linear:
        """``w``: (out, in)."""
        lin = nn.Linear(w.shape[1], w.shape[0], bias=b is not None)
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(np.ascontiguousarray(w)))
            if b is not None:
                assert lin.bias is not None
                lin.bias.copy_(torch.from_numpy(b))
        return lin

    def constant(self, node: onnx.NodeProto, index: int) -> None:
        a = _attrs(node)
        if "value" not in a:
            raise UnsupportedOpError(f"Constant without a tensor value at {_where(node, index)}")
        self.consts[node.output[0]] = numpy_helper.to_array(a["value"])

    # --------------------------------------------------------------------------------- walk
    def build(self) -> ImportedModel:
        g = self.model.graph
        inits = set(self.consts)
        inputs = [i for i in g.input if i.name not in inits]
        if len(inputs) != 1:
            raise UnsupportedOpError(f"the graph must have one input, it has {len(inputs)}")
        if len(g.output) != 1:
            raise UnsupportedOpError(f"the graph must have one output, it has {len(g.output)}")
        inp = inputs[0]
        dims = [d.dim_value for d in inp.type.tensor_type.shape.dim]
        if len(dims) != 4 or any(d <= 0 for d in dims[1:]):
            raise UnsupportedOpError(
                f"input {inp.name!r} must be (N, C, H, W) with fixed C, H, W; got {dims}"
            )
        self.env[inp.name] = self.graph.placeholder("x")
        handlers = {
            "Conv": self.conv,
            "BatchNormalization": self.batchnorm,
            "Relu": lambda n, i: self.unary_module(n, i, nn.ReLU()),
            "HardSwish": lambda n, i: self.unary_module(n, i, nn.Hardswish()),
            "Clip": self.clip,
            "Sigmoid": self.sigmoid,
            "HardSigmoid": self.hardsigmoid,
            "Mul": self.mul,
            "Softmax": self.softmax,
            "Resize": self.resize,
            "Concat": self.concat,
            "Add": self.add,
            "MaxPool": lambda n, i: self.pool(n, i, True),
            "AveragePool": lambda n, i: self.pool(n, i, False),
            "GlobalAveragePool": lambda n, i: self.unary_module(n, i, nn.AdaptiveAvgPool2d(1)),
            "Flatten": self.flatten,
            "Reshape": self.reshape,
            "Gemm": self.gemm,
            "MatMul": self.matmul,
            "Constant": self.constant,
        }
        for index, node in enumerate(g.node):
            if node.output and node.output[0] in self.skip:
                continue
            if node.op_type in ("Identity", "Dropout"):
                self.env[node.output[0]] = self.value(node.input[0], node, index)
                continue
            handler = handlers.get(node.op_type)
            if handler is None or node.domain not in ("", "ai.onnx"):
                raise UnsupportedOpError(
                    f"unsupported ONNX op '{node.op_type}' at {_where(node, index)}; supported: "
                    + ", ".join(sorted(handlers))
                )
            handler(node, index)
        out = g.output[0].name
        if out not in self.env:
            raise UnsupportedOpError(f"graph output {out!r} is not computed from the input")
        self.graph.output(self.env[out])
        gm = fx.GraphModule(self.root, self.graph, class_name="OnnxModel")
        gm.eval()
        return ImportedModel(gm, (dims[1], dims[2], dims[3]), inp.name, self.inserted)


def from_onnx(model: onnx.ModelProto | str, insert_bn: bool = True) -> ImportedModel:
    """Rebuild ``model`` (a ModelProto or a path) as an fx-traceable module of torch.nn modules.

    With ``insert_bn`` every Conv without a following BatchNormalization gets an identity
    BatchNorm2d (see the module docstring); call :func:`measure_inserted_bn` before exporting.

    Raises:
        UnsupportedOpError: an op, attribute or graph shape the ``.aio`` format cannot hold.
    """
    if isinstance(model, str):
        model = onnx.load(model)
    return _Builder(model, insert_bn).build()


def measure_inserted_bn(imported: ImportedModel, batches: Iterable[torch.Tensor]) -> None:
    """Give every inserted BatchNorm2d the measured statistics of its conv's output and affine
    parameters that make it the identity at those statistics (``γ = √(σ²+ε)``, ``β = μ``).

    Statistics are averaged over ``batches`` like BatchNorm's cumulative average (per-batch mean
    and unbiased variance), i.e. the way the exporter re-estimates them per level. While
    measuring, every inserted BatchNorm is an exact identity so downstream layers see the ONNX
    model's activations.
    """
    mods = dict(imported.module.named_modules())
    bns = [mods[n] for n in imported.inserted_bn]
    sums: dict[str, list[torch.Tensor]] = {n: [] for n in imported.inserted_bn}
    handles = []
    for name, bn in zip(imported.inserted_bn, bns, strict=True):
        assert isinstance(bn, nn.BatchNorm2d)
        bn.reset_parameters()  # mean 0, var 1, gamma 1, beta 0
        bn.eps = 0.0  # exact identity while measuring

        def hook(_m: nn.Module, args: tuple[torch.Tensor, ...], name: str = name) -> None:
            x = args[0].detach().double()
            n = x.shape[0] * x.shape[2] * x.shape[3]
            mean = x.mean(dim=(0, 2, 3))
            var = x.var(dim=(0, 2, 3), unbiased=n > 1)
            sums[name].append(torch.stack([mean, var]))

        handles.append(bn.register_forward_pre_hook(hook))
    imported.module.eval()
    try:
        with torch.no_grad():
            for x in batches:
                imported.module(torch.as_tensor(x, dtype=torch.float32))
    finally:
        for h in handles:
            h.remove()
    for name, bn in zip(imported.inserted_bn, bns, strict=True):
        assert isinstance(bn, nn.BatchNorm2d)
        if not sums[name]:
            raise ValueError("no calibration batches")
        mean, var = torch.stack(sums[name]).mean(dim=0)
        bn.eps = BN_EPS
        with torch.no_grad():
            bn.running_mean.copy_(mean.float())
            bn.running_var.copy_(var.float())
            bn.weight.copy_(torch.sqrt(var + BN_EPS).float())
            bn.bias.copy_(mean.float())
