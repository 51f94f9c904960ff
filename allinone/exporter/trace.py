"""Trace a PyTorch CNN with torch.fx into a small fused layer graph.

The result (:class:`Graph`) is what every later step works on: one :class:`Layer` per operator of
the ``.aio`` file (conv2d / linear with BatchNorm, activation and residual add fused into the
epilogue where possible; add, act and pooling otherwise) and the shapes of the values between them.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import fx, nn
from torch.fx.operator_schemas import normalize_function
from torch.fx.passes.shape_prop import ShapeProp

__all__ = ["Graph", "Layer", "trace"]

_ACT_MODULES: dict[type, str] = {
    nn.ReLU: "relu",
    nn.ReLU6: "relu6",
    nn.SiLU: "silu",
    nn.Hardswish: "hardswish",
    nn.Sigmoid: "sigmoid",
    nn.Hardsigmoid: "hardsigmoid",
}
_ACT_FUNCTIONS: dict[Any, str] = {
    torch.relu: "relu",
    torch.relu_: "relu",
    F.relu: "relu",
    F.relu6: "relu6",
    F.silu: "silu",
    F.hardswish: "hardswish",
    torch.sigmoid: "sigmoid",
    F.sigmoid: "sigmoid",
    F.hardsigmoid: "hardsigmoid",
}
_ACT_METHODS = {"relu": "relu", "relu_": "relu", "sigmoid": "sigmoid"}
_MUL_FUNCTIONS = {operator.mul, operator.imul, torch.mul}
_ADD_FUNCTIONS = {operator.add, operator.iadd, torch.add}
_FLATTEN_FUNCTIONS = {torch.flatten}
_FLATTEN_METHODS = {"flatten", "view", "reshape"}
_PASS_MODULES = (nn.Identity, nn.Dropout, nn.Dropout2d)
_META_METHODS = {"size", "dim"}


@dataclass
class Layer:
    """One fused operator: ``kind`` is an ``.aio`` op name (conv2d, linear, add, act, pools, mul,
    softmax, resize, concat). A resize keeps its integer factors in ``stride``."""

    kind: str
    name: str
    inputs: list[int]
    output: int
    act: str = "none"
    conv: str | None = None  # qualified name of the nn.Conv2d
    bn: str | None = None  # qualified name of the folded nn.BatchNorm2d
    linear: str | None = None  # qualified name of the nn.Linear
    kernel: tuple[int, int] = (0, 0)
    stride: tuple[int, int] = (0, 0)
    padding: tuple[int, int] = (0, 0)
    dilation: tuple[int, int] = (0, 0)
    groups: int = 0
    ceil_mode: bool = False
    count_include_pad: bool = False
    bilinear: bool = False


@dataclass
class Graph:
    """The fused layer graph of a model: value shapes (c, h, w), layers in execution order."""

    module: nn.Module
    shapes: list[tuple[int, int, int]]
    layers: list[Layer]
    output: int
    producer: dict[int, int] = field(default_factory=dict)  # value -> index of its layer

    def modules(self) -> dict[str, nn.Module]:
        """Qualified name -> submodule of the traced model."""
        return dict(self.module.named_modules())


def _pair(v: Any) -> tuple[int, int]:
    if isinstance(v, (tuple, list)):
        return (int(v[0]), int(v[1]))
    return (int(v), int(v))


def _chw(node: fx.Node) -> tuple[int, int, int]:
    meta = node.meta.get("tensor_meta")
    shape = tuple(getattr(meta, "shape", ()))
    if len(shape) == 4:
        return (int(shape[1]), int(shape[2]), int(shape[3]))
    if len(shape) == 2:
        return (int(shape[1]), 1, 1)
    raise ValueError(f"unsupported tensor shape {list(shape)} at node '{node.name}'")


def _conv_padding(conv: nn.Conv2d, name: str) -> tuple[int, int]:
    if conv.padding_mode != "zeros":
        raise ValueError(f"unsupported padding_mode {conv.padding_mode!r} at node '{name}'")
    pad = conv.padding
    if pad == "valid":
        return (0, 0)
    if pad == "same":
        out = []
        for k, d in zip(conv.kernel_size, conv.dilation, strict=True):
            total = d * (k - 1)
            if total % 2:
                raise ValueError(f"asymmetric 'same' padding is unsupported at node '{name}'")
            out.append(total // 2)
        return (out[0], out[1])
    return _pair(pad)


class _Tracer:
    """Walks the fx graph once, fusing as it goes."""

    def __init__(self, model: nn.Module, gm: fx.GraphModule) -> None:
        self.model = model
        self.gm = gm
        self.mods = dict(gm.named_modules())
        self.shapes: list[tuple[int, int, int]] = []
        self.layers: list[Layer] = []
        self.producer: dict[int, int] = {}
        self.vmap: dict[fx.Node, int] = {}  # fx node -> value id
        self.skipped: set[fx.Node] = set()
        self.used_params: dict[str, str] = {}

    # -- helpers -----------------------------------------------------------------------------
    def new_value(self, node: fx.Node) -> int:
        self.shapes.append(_chw(node))
        return len(self.shapes) - 1

    def emit(self, layer: Layer) -> int:
        self.layers.append(layer)
        self.producer[layer.output] = len(self.layers) - 1
        return layer.output

    def value_of(self, arg: Any, node: fx.Node) -> int:
        if not isinstance(arg, fx.Node) or arg not in self.vmap:
            raise ValueError(f"unsupported operand {arg!r} at node '{node.name}'")
        return self.vmap[arg]

    def sole_user(self, arg: fx.Node) -> bool:
        """True when the op being traced is the only consumer of ``arg``'s value.

        The value may have several fx aliases (conv → bn → dropout); they form a chain, so the
        value has no other consumer exactly when the aliases have one user each.
        """
        v = self.vmap[arg]
        aliases = [n for n, val in self.vmap.items() if val == v]
        return sum(len(n.users) for n in aliases) == len(aliases)

    def fusable(self, arg: fx.Node, kinds: tuple[str, ...]) -> Layer | None:
        """The layer producing ``arg`` if its epilogue can still absorb an op applied to ``arg``."""
        v = self.vmap[arg]
        if v not in self.producer or not self.sole_user(arg):
            return None
        layer = self.layers[self.producer[v]]
        if layer.kind in kinds and layer.act == "none":
            return layer
        return None

    def claim(self, qualname: str, node: fx.Node) -> None:
        if qualname in self.used_params:
            raise ValueError(
                f"module '{qualname}' is called more than once (node '{node.name}'); "
                "shared weights are unsupported"
            )
        self.used_params[qualname] = node.name

    # -- operators ---------------------------------------------------------------------------
    def act(self, node: fx.Node, arg: fx.Node, kind: str) -> None:
        src = self.value_of(arg, node)
        layer = self.fusable(arg, ("conv2d", "linear", "add", "mul"))
        if layer is not None:
            layer.act = kind
            self.vmap[node] = src
            return
        out = self.new_value(node)
        self.vmap[node] = self.emit(Layer("act", node.name, [src], out, act=kind))

    def add(self, node: fx.Node) -> None:
        if node.kwargs.get("alpha", 1) != 1 or len(node.args) != 2:
            raise ValueError(
                f"unsupported op 'add' with alpha/extra arguments at node '{node.name}'"
            )
        a, b = node.args
        if not isinstance(a, fx.Node) or not isinstance(b, fx.Node):
            raise ValueError(
                f"unsupported op 'add' of a tensor and a constant at node '{node.name}'"
            )
        va, vb = self.value_of(a, node), self.value_of(b, node)
        if _chw(a) != _chw(b):
            raise ValueError(f"unsupported broadcasting add at node '{node.name}'")
        best: tuple[int, fx.Node, int] | None = None
        for mine, other in ((a, vb), (b, va)):
            layer = self.fusable(mine, ("conv2d",))
            if layer is None or len(layer.inputs) != 1:
                continue
            idx = self.producer[self.vmap[mine]]
            other_idx = self.producer.get(other, -1)  # -1: the model input
            if other_idx < idx and (best is None or idx > best[0]):
                best = (idx, mine, other)
        if best is not None:
            idx, mine, other = best
            self.layers[idx].inputs.append(other)
            self.vmap[node] = self.vmap[mine]
            return
        out = self.new_value(node)
        self.vmap[node] = self.emit(Layer("add", node.name, [va, vb], out))

    def mul(self, node: fx.Node) -> None:
        """x * gate with gate (N, C, 1, 1): the squeeze-excite multiply (either operand order)."""
        if len(node.args) != 2 or not all(isinstance(a, fx.Node) for a in node.args):
            raise ValueError(
                f"unsupported op 'mul' of a tensor and a constant at node '{node.name}'; only "
                "x * gate with a per-channel gate of shape (N, C, 1, 1) is supported"
            )
        a, b = node.args
        assert isinstance(a, fx.Node) and isinstance(b, fx.Node)
        sa, sb = _chw(a), _chw(b)
        x, gate = (b, a) if sa[1:] == (1, 1) and sb[1:] != (1, 1) else (a, b)
        sx, sg = _chw(x), _chw(gate)
        if sg != (sx[0], 1, 1):
            raise ValueError(
                f"unsupported op 'mul' of shapes {list(sa)} and {list(sb)} at node '{node.name}'; "
                "only x * gate with a per-channel gate of shape (N, C, 1, 1) is supported"
            )
        vx, vg = self.value_of(x, node), self.value_of(gate, node)
        out = self.new_value(node)
        self.vmap[node] = self.emit(Layer("mul", node.name, [vx, vg], out))

    def concat(self, node: fx.Node, tensors: Any, dim: Any) -> None:
        """torch.cat along channels; more than two tensors become nested pairs, left first."""
        rank = len(node.meta["tensor_meta"].shape)
        if not isinstance(dim, int) or dim % rank != 1 or rank != 4:
            raise ValueError(
                f"unsupported op 'cat' over dim {dim!r} at node '{node.name}'; only the channel "
                "dim (1) of (N, C, H, W) tensors is supported"
            )
        if not isinstance(tensors, (list, tuple)) or len(tensors) < 2:
            raise ValueError(
                f"unsupported op 'cat' of fewer than two tensors at node '{node.name}'"
            )
        vals = [self.value_of(t, node) for t in tensors]
        acc = vals[0]
        for i, v in enumerate(vals[1:], start=1):
            ca, h, w = self.shapes[acc]
            cb = self.shapes[v][0]
            if i == len(vals) - 1:
                out = self.new_value(node)
            else:
                self.shapes.append((ca + cb, h, w))
                out = len(self.shapes) - 1
            name = node.name if i == len(vals) - 1 else f"{node.name}_{i}"
            acc = self.emit(Layer("concat", name, [acc, v], out))
        self.vmap[node] = acc

    def softmax(self, node: fx.Node, dim: Any) -> None:
        arg = node.args[0]
        rank = len(node.meta["tensor_meta"].shape)
        if not isinstance(dim, int) or dim % rank != 1:
            raise ValueError(
                f"unsupported op 'softmax' over dim {dim!r} at node '{node.name}'; only the "
                "channel dim (1) is supported"
            )
        src = self.value_of(arg, node)
        out = self.new_value(node)
        self.vmap[node] = self.emit(Layer("softmax", node.name, [src], out))

    def resize(self, node: fx.Node, arg: Any, mode: str, align_corners: Any) -> None:
        """Upsampling by integer factors: nearest, or bilinear with align_corners=False."""
        src = self.value_of(arg, node)
        c, h, w = self.shapes[src]
        oc, oh, ow = _chw(node)
        if mode not in ("nearest", "bilinear") or (mode == "bilinear" and align_corners):
            raise ValueError(
                f"unsupported resize mode {mode!r} (align_corners={align_corners}) at node "
                f"'{node.name}'; only 'nearest' and 'bilinear' with align_corners=False"
            )
        if oc != c or oh % h or ow % w or oh < h or ow < w:
            raise ValueError(
                f"unsupported resize from {(h, w)} to {(oh, ow)} at node '{node.name}'; only "
                "upsampling by integer factors is supported"
            )
        out = self.new_value(node)
        layer = Layer("resize", node.name, [src], out, stride=(oh // h, ow // w),
                      bilinear=mode == "bilinear")  # fmt: skip
        self.vmap[node] = self.emit(layer)

    def flatten(self, node: fx.Node, arg: fx.Node) -> None:
        src = self.value_of(arg, node)
        shape = tuple(node.meta["tensor_meta"].shape)
        c, h, w = self.shapes[src]
        flat = len(shape) == 2 and int(shape[1]) == c * h * w
        same = len(shape) == 4 and tuple(int(d) for d in shape[1:]) == (c, h, w)
        if not (flat or same):
            raise ValueError(f"unsupported reshape to {list(shape)} at node '{node.name}'")
        self.vmap[node] = src

    def global_pool(self, node: fx.Node, arg: fx.Node) -> None:
        src = self.value_of(arg, node)
        out = self.new_value(node)
        self.vmap[node] = self.emit(Layer("global_avgpool", node.name, [src], out))

    def module(self, node: fx.Node) -> None:
        target = str(node.target)
        mod = self.mods[target]
        arg = node.args[0] if node.args else None
        if isinstance(mod, _PASS_MODULES):
            self.vmap[node] = self.value_of(arg, node)
        elif type(mod) in _ACT_MODULES:
            self.act(node, arg, _ACT_MODULES[type(mod)])
        elif isinstance(mod, nn.Conv2d):
            self.claim(target, node)
            src = self.value_of(arg, node)
            out = self.new_value(node)
            layer = Layer(
                "conv2d", target, [src], out, conv=target,
                kernel=_pair(mod.kernel_size), stride=_pair(mod.stride),
                padding=_conv_padding(mod, node.name), dilation=_pair(mod.dilation),
                groups=int(mod.groups),
            )  # fmt: skip
            self.vmap[node] = self.emit(layer)
        elif isinstance(mod, nn.BatchNorm2d):
            self.claim(target, node)
            layer = self.fusable(arg, ("conv2d",)) if isinstance(arg, fx.Node) else None
            if layer is None or layer.bn is not None or len(layer.inputs) != 1:
                raise ValueError(
                    f"BatchNorm2d at node '{node.name}' must directly follow a Conv2d whose output "
                    "it alone uses"
                )
            if not mod.track_running_stats or mod.running_mean is None:
                raise ValueError(f"BatchNorm2d at node '{node.name}' has no running statistics")
            layer.bn = target
            self.vmap[node] = self.vmap[arg]
        elif isinstance(mod, nn.Linear):
            self.claim(target, node)
            src = self.value_of(arg, node)
            c, h, w = self.shapes[src]
            if c * h * w != mod.in_features:
                raise ValueError(
                    f"Linear at node '{node.name}' does not take a flattened NCHW value"
                )
            out = self.new_value(node)
            self.vmap[node] = self.emit(Layer("linear", target, [src], out, linear=target))
        elif isinstance(mod, (nn.MaxPool2d, nn.AvgPool2d)):
            self.pool(node, mod)
        elif isinstance(mod, nn.AdaptiveAvgPool2d):
            if _pair(mod.output_size) != (1, 1):
                raise ValueError(
                    f"unsupported op 'AdaptiveAvgPool2d({mod.output_size})' at node '{node.name}'"
                )
            self.global_pool(node, arg)
        elif isinstance(mod, nn.Softmax):
            self.softmax(node, mod.dim)
        elif isinstance(mod, nn.Upsample):
            self.resize(node, arg, mod.mode, mod.align_corners)
        elif isinstance(mod, nn.Flatten):
            if mod.start_dim != 1 or mod.end_dim != -1:
                raise ValueError(f"unsupported op 'Flatten' (start_dim != 1) at node '{node.name}'")
            self.flatten(node, arg)
        else:
            raise ValueError(f"unsupported op '{type(mod).__name__}' at node '{node.name}'")

    def pool(self, node: fx.Node, mod: nn.MaxPool2d | nn.AvgPool2d, arg: Any = None) -> None:
        src = self.value_of(node.args[0] if arg is None else arg, node)
        kernel = _pair(mod.kernel_size)
        stride = _pair(mod.stride if mod.stride is not None else mod.kernel_size)
        padding = _pair(mod.padding)
        if isinstance(mod, nn.MaxPool2d):
            if _pair(mod.dilation) != (1, 1) or mod.return_indices:
                raise ValueError(
                    f"unsupported op 'MaxPool2d' with dilation/indices at node '{node.name}'"
                )
            kind, cip = "maxpool", False
        else:
            if mod.divisor_override is not None:
                raise ValueError(
                    f"unsupported op 'AvgPool2d' with divisor_override at node '{node.name}'"
                )
            kind, cip = "avgpool", bool(mod.count_include_pad)
        out = self.new_value(node)
        layer = Layer(
            kind, node.name, [src], out, kernel=kernel, stride=stride, padding=padding,
            dilation=(1, 1), ceil_mode=bool(mod.ceil_mode), count_include_pad=cip,
        )  # fmt: skip
        self.vmap[node] = self.emit(layer)

    def function(self, node: fx.Node) -> None:
        fn = node.target
        args = node.args
        if fn in _ADD_FUNCTIONS:
            self.add(node)
        elif fn in _MUL_FUNCTIONS:
            self.mul(node)
        elif fn in (torch.cat, torch.concat):
            dim = args[1] if len(args) > 1 else node.kwargs.get("dim", 0)
            self.concat(node, args[0], dim)
        elif fn in (torch.softmax, F.softmax):
            dim = args[1] if len(args) > 1 else node.kwargs.get("dim")
            self.softmax(node, dim)
        elif fn is F.interpolate:
            mode = args[3] if len(args) > 3 else node.kwargs.get("mode", "nearest")
            align = args[4] if len(args) > 4 else node.kwargs.get("align_corners")
            self.resize(node, args[0], mode, align)
        elif fn in _ACT_FUNCTIONS:
            self.act(node, args[0], _ACT_FUNCTIONS[fn])
        elif fn in _FLATTEN_FUNCTIONS:
            self.flatten(node, args[0])
        elif fn is torch.mean:
            self.mean(node)
        elif fn is F.adaptive_avg_pool2d and _pair(
            args[1] if len(args) > 1 else node.kwargs["output_size"]
        ) == (1, 1):
            self.global_pool(node, args[0])
        elif fn in (F.max_pool2d, F.avg_pool2d):
            self.functional_pool(node)
        elif fn in (F.dropout, F.dropout2d):
            self.vmap[node] = self.value_of(args[0], node)
        elif fn is getattr and len(args) == 2 and args[1] == "shape":
            self.skipped.add(node)  # x.shape: metadata, no tensor
        elif fn is operator.getitem and isinstance(args[0], fx.Node) and args[0] in self.skipped:
            self.skipped.add(node)
        else:
            raise ValueError(f"unsupported op '{_name(fn)}' at node '{node.name}'")

    def functional_pool(self, node: fx.Node) -> None:
        """F.max_pool2d / F.avg_pool2d: arguments normalised, then handled as the module."""
        norm = normalize_function(
            node.target, node.args, node.kwargs, normalize_to_only_use_kwargs=True
        )
        if norm is None:
            raise ValueError(
                f"unsupported arguments to '{_name(node.target)}' at node '{node.name}'"
            )
        kw = dict(norm.kwargs)
        arg = kw.pop("input")
        kw["stride"] = kw.get("stride") or None
        mod = nn.MaxPool2d(**kw) if node.target is F.max_pool2d else nn.AvgPool2d(**kw)
        self.pool(node, mod, arg)

    def mean(self, node: fx.Node) -> None:
        dims = node.args[1] if len(node.args) > 1 else node.kwargs.get("dim")
        if isinstance(dims, int) or dims is None or sorted(int(d) % 4 for d in dims) != [2, 3]:
            raise ValueError(f"unsupported op 'mean' over dims {dims!r} at node '{node.name}'")
        self.global_pool(node, node.args[0])

    def method(self, node: fx.Node) -> None:
        name = str(node.target)
        if name in _META_METHODS:
            self.skipped.add(node)
        elif name in _ACT_METHODS:
            self.act(node, node.args[0], _ACT_METHODS[name])
        elif name in _FLATTEN_METHODS:
            self.flatten(node, node.args[0])
        elif name in ("add", "add_"):
            self.add(node)
        elif name in ("mul", "mul_"):
            self.mul(node)
        elif name == "softmax":
            dim = node.args[1] if len(node.args) > 1 else node.kwargs.get("dim")
            self.softmax(node, dim)
        elif name == "mean":
            self.mean(node)
        else:
            raise ValueError(f"unsupported op '{name}' at node '{node.name}'")

    def run(self, example: torch.Tensor) -> Graph:
        ShapeProp(self.gm).propagate(example)
        output = -1
        for node in self.gm.graph.nodes:
            if node.op == "placeholder":
                if self.shapes:
                    raise ValueError(
                        f"models with more than one input are unsupported (node '{node.name}')"
                    )
                self.vmap[node] = self.new_value(node)
            elif node.op == "call_module":
                self.module(node)
            elif node.op == "call_function":
                self.function(node)
            elif node.op == "call_method":
                self.method(node)
            elif node.op == "output":
                arg = node.args[0]
                if not isinstance(arg, fx.Node):
                    raise ValueError("models with more than one output are unsupported")
                output = self.value_of(arg, node)
            else:
                raise ValueError(f"unsupported op '{node.op} {node.target}' at node '{node.name}'")
        if output <= 0:
            raise ValueError(
                "the model's output must be computed from its input by at least one layer"
            )
        return Graph(self.model, self.shapes, self.layers, output, self.producer)


def _name(fn: Any) -> str:
    return str(getattr(fn, "__name__", fn))


def trace(model: nn.Module, example_input: torch.Tensor) -> Graph:
    """Trace ``model`` (in eval mode; its mode is restored) on ``example_input`` (N, C, H, W).

    Raises ValueError naming the op and the fx node for anything the ``.aio`` format cannot hold.
    """
    if example_input.dim() != 4:
        raise ValueError(
            f"example_input must be (N, C, H, W), got shape {list(example_input.shape)}"
        )
    was_training = model.training
    model.eval()
    try:
        # A GraphModule (the ONNX importer's) is used as it is: re-tracing would rename its
        # nodes after their ops, and errors would no longer name the ONNX file's nodes.
        gm = model if isinstance(model, fx.GraphModule) else fx.symbolic_trace(model)
        with torch.no_grad():
            return _Tracer(model, gm).run(example_input)
    finally:
        model.train(was_training)
