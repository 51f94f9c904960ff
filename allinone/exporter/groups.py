"""Find the channel groups of a traced graph: channels that must be pruned together.

Union-find over values: an add ties its operands and its output, a fused residual ties the
residual to the conv's output, depthwise convs and channel-wise ops (activations, pools, the
squeeze-excite multiply, softmax, resize) tie their inputs to their output. The model input, the
final output and both sides of a general grouped conv are not prunable (group None).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from allinone.exporter.trace import Graph

__all__ = ["Groups", "find_groups"]


@dataclass
class Groups:
    """``of_value[v]``: group index of value v or None; ``full``: full width of each group.

    ``concat[v] = (a, b)`` for a *levelled* concatenation v of a and b (one of them pruned): it
    has no group of its own; at a level it holds a's kept channels, then b's.
    """

    of_value: list[int | None]
    full: list[int]
    concat: dict[int, tuple[int, int]] = field(default_factory=dict)

    def parts(self, v: int, shapes: Sequence[tuple[int, int, int]]) -> list[tuple[int, int]]:
        """``[(value, channel offset at full width)]`` of v: nested concatenations flattened
        (``[(v, 0)]`` for any other value)."""
        out: list[tuple[int, int]] = []
        stack = [v]
        offset = 0
        while stack:
            u = stack.pop()
            if u in self.concat:
                a, b = self.concat[u]
                stack += [b, a]
                continue
            out.append((u, offset))
            offset += shapes[u][0]
        return out

    def width(self, v: int, widths: Sequence[int], shapes: Sequence[tuple[int, int, int]]) -> int:
        """Channels of value v at per-group ``widths``."""
        total = 0
        for u, _ in self.parts(v, shapes):
            g = self.of_value[u]
            total += shapes[u][0] if g is None else int(widths[g])
        return total

    def members(self, g: int) -> list[int]:
        """Values in group ``g``."""
        return [v for v, gv in enumerate(self.of_value) if gv == g]


class _UnionFind:
    def __init__(self, n: int) -> None:
        self.parent = list(range(n))

    def find(self, a: int) -> int:
        while self.parent[a] != a:
            self.parent[a] = self.parent[self.parent[a]]
            a = self.parent[a]
        return a

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def is_depthwise(graph: Graph, layer_index: int) -> bool:
    """True for a conv whose groups == C_in == C_out."""
    layer = graph.layers[layer_index]
    cin = graph.shapes[layer.inputs[0]][0]
    cout = graph.shapes[layer.output][0]
    return layer.kind == "conv2d" and layer.groups > 1 and layer.groups == cin == cout


def find_groups(graph: Graph) -> Groups:
    """Assign every value of ``graph`` a prunable channel group (or None).

    A concatenation ties nothing: at a level it holds its inputs' kept channels one after the
    other (``Groups.concat``). The runtime reads such a levelled concatenation in place, so only
    dense convolutions (as their input) and other concatenations may read it; a concatenation
    with any other reader (an activation, a pool, the model output, a residual, ...) is read as
    one channel range, so it and its inputs stay unpruned (group None).
    """
    n = len(graph.shapes)
    uf = _UnionFind(n)
    fixed = {0, graph.output}
    cat_inputs = {ly.output: (ly.inputs[0], ly.inputs[1]) for ly in graph.layers
                  if ly.kind == "concat"}  # fmt: skip
    # Readers that need a concatenation to be fixed (one channel range): (layer name, value).
    must_fix: list[tuple[str, int]] = []
    for i, layer in enumerate(graph.layers):
        out = layer.output
        if layer.kind == "concat":
            continue
        dense_input = layer.kind == "conv2d" and layer.groups == 1
        cats = [
            v
            for j, v in enumerate(layer.inputs)
            if v in cat_inputs and not (dense_input and j == 0)
        ]
        if cats:  # read as one channel range: the concatenation and this layer stay unpruned
            must_fix += [(layer.name, v) for v in cats]
            fixed.add(out)
            fixed.update(v for v in layer.inputs if v not in cat_inputs)
            continue
        if layer.kind == "conv2d":
            if is_depthwise(graph, i):
                uf.union(layer.inputs[0], out)
            elif layer.groups != 1:
                fixed.update((layer.inputs[0], out))
            for res in layer.inputs[1:]:
                uf.union(res, out)
        elif layer.kind == "linear":
            pass
        else:  # add, act, pools, mul, softmax, resize: channel-wise
            # A squeeze-excite mul ties the gate (the excite conv's outputs) to the gated tensor,
            # and through the global pool the squeeze conv's inputs to the block's group.
            for v in layer.inputs:
                uf.union(v, out)
    fixed_roots = {uf.find(v) for v in fixed}
    # A fixed concatenation (the model's output, or read as one range) fixes its inputs; outer
    # ones come later in execution order, so one reverse pass reaches nested ones.
    must_fix_values = {v for _, v in must_fix}
    for layer in reversed(graph.layers):
        if layer.kind == "concat" and (
            uf.find(layer.output) in fixed_roots or layer.output in must_fix_values
        ):
            fixed_roots.update(uf.find(v) for v in layer.inputs)
            must_fix_values.update(layer.inputs)
    root_group: dict[int, int] = {}
    of_value: list[int | None] = []
    full: list[int] = []
    for v in range(n):
        r = uf.find(v)
        if r in fixed_roots or v in cat_inputs:
            of_value.append(None)
            continue
        if r not in root_group:
            root_group[r] = len(full)
            full.append(graph.shapes[v][0])
        of_value.append(root_group[r])
    concat: dict[int, tuple[int, int]] = {}
    for layer in graph.layers:
        if layer.kind == "concat":
            a, b = layer.inputs
            if of_value[a] is not None or of_value[b] is not None or a in concat or b in concat:
                concat[layer.output] = (a, b)
    return Groups(of_value, full, concat)
