"""Build the :class:`allinone.format.AioModel` of an export (sorted channels, per-level BN)."""

from __future__ import annotations

import numpy as np

from allinone.exporter.fold import fold_bn
from allinone.exporter.groups import is_depthwise
from allinone.exporter.state import ExportState
from allinone.format import AioModel, Node, Value

__all__ = ["to_aio"]


def _np(t: object) -> np.ndarray:
    return t.detach().double().numpy()  # type: ignore[attr-defined]


def to_aio(state: ExportState, name: str, labels: list[str] | None = None) -> AioModel:
    """The file contents of ``state``: weights in storage order, ``scale``/``bias`` per level."""
    graph, n_levels = state.graph, state.n_levels
    mods = graph.modules()
    values = [Value(state.groups.of_value[v], tuple(s)) for v, s in enumerate(graph.shapes)]
    tensors: dict[str, np.ndarray] = {}
    nodes: list[Node] = []
    for i, layer in enumerate(graph.layers):
        node = Node(op=layer.kind, name=layer.name, inputs=list(layer.inputs), output=layer.output,
                    act=layer.act)  # fmt: skip
        if layer.kind in ("conv2d", "linear"):
            out_order = state.order(layer.output)
            in_order = state.order(layer.inputs[0])
            mod = mods[layer.conv or layer.linear or ""]
            w = _np(mod.weight)
            if layer.kind == "conv2d":
                w = w[out_order]
                if not is_depthwise(graph, i) and layer.groups == 1:
                    w = w[:, in_order]
                node.kernel, node.stride, node.padding = layer.kernel, layer.stride, layer.padding
                node.dilation, node.groups = layer.dilation, layer.groups
            else:
                c, h, ww = graph.shapes[layer.inputs[0]]
                w = w.reshape(w.shape[0], c, h * ww)[out_order][:, in_order].reshape(w.shape[0], -1)
            cout = w.shape[0]
            conv_bias = None if mod.bias is None else _np(mod.bias)
            bn = mods[layer.bn] if layer.bn else None
            scale = np.empty((n_levels, cout))
            bias = np.empty((n_levels, cout))
            for k in range(n_levels):
                stats = state.bn_stats[k].get(layer.bn) if layer.bn else None
                s, b = fold_bn(bn, stats, conv_bias, cout)  # type: ignore[arg-type]
                scale[k], bias[k] = s[out_order], b[out_order]
            node.weight, node.scale, node.bias = (
                f"{layer.name}.{t}" for t in ("weight", "scale", "bias")
            )
            tensors[node.weight] = np.ascontiguousarray(w, dtype=np.float32)
            tensors[node.scale] = np.ascontiguousarray(scale, dtype=np.float32)
            tensors[node.bias] = np.ascontiguousarray(bias, dtype=np.float32)
        elif layer.kind in ("maxpool", "avgpool"):
            node.kernel, node.stride, node.padding = layer.kernel, layer.stride, layer.padding
            node.dilation, node.ceil_mode = (1, 1), layer.ceil_mode
            node.count_include_pad = layer.count_include_pad
        elif layer.kind == "resize":
            node.stride, node.bilinear = layer.stride, layer.bilinear
        nodes.append(node)
    c, h, w_ = graph.shapes[0]
    return AioModel(
        name=name,
        input_shape=(c, h, w_),
        groups=list(state.groups.full),
        keep_ratios=list(state.keep_ratios),
        widths=np.asarray(state.widths, dtype=np.uint32),
        values=values,
        nodes=nodes,
        output=graph.output,
        tensors=tensors,
        labels=list(labels or []),
    )
