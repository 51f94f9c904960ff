"""Find the channel groups of a traced graph: channels that must be pruned together.

Union-find over values: an add ties its operands and its output, a fused residual ties the
residual to the conv's output, depthwise convs and channel-wise ops (activations, pools, the
squeeze-excite multiply, softmax, resize) tie their inputs to their output. The model input, the
final output and both sides of a general grouped conv are not prunable (group None).
"""

from __future__ import annotations

from dataclasses import dataclass

from allinone.exporter.trace import Graph

__all__ = ["Groups", "find_groups"]


@dataclass
class Groups:
    """``of_value[v]``: group index of value v or None; ``full``: full width of each group."""

    of_value: list[int | None]
    full: list[int]

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
    """Assign every value of ``graph`` a prunable channel group (or None)."""
    n = len(graph.shapes)
    uf = _UnionFind(n)
    fixed = {0, graph.output}
    for i, layer in enumerate(graph.layers):
        out = layer.output
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
    root_group: dict[int, int] = {}
    of_value: list[int | None] = []
    full: list[int] = []
    for v in range(n):
        r = uf.find(v)
        if r in fixed_roots:
            of_value.append(None)
            continue
        if r not in root_group:
            root_group[r] = len(full)
            full.append(graph.shapes[v][0])
        of_value.append(root_group[r])
    return Groups(of_value, full)
