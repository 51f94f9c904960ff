"""The exporter's working state: the traced graph, its groups, channel orders and level widths."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from allinone.exporter.groups import Groups
from allinone.exporter.trace import Graph

__all__ = ["BNStats", "ExportState"]

# qualified BatchNorm name -> (running_mean, running_var), float64, ORIGINAL channel order.
BNStats = dict[str, tuple[np.ndarray, np.ndarray]]


@dataclass
class ExportState:
    """Everything needed to write the file or build a level's PyTorch reference.

    ``perms[g]``: channel order of group g (most important first), indices into the original
    channels. ``widths[k][g]``: channels of group g kept at level k. ``bn_stats[k]``: the
    BatchNorm statistics to fold at level k (original channel order).
    """

    graph: Graph
    groups: Groups
    perms: list[np.ndarray]
    widths: np.ndarray
    keep_ratios: list[float]
    bn_stats: list[BNStats]

    @property
    def n_levels(self) -> int:
        """Number of levels."""
        return int(self.widths.shape[0])

    def order(self, value: int) -> np.ndarray:
        """Full channel order of ``value`` (identity when it is not prunable; for a levelled
        concatenation, each input's order at its channel offset)."""
        if value in self.groups.concat:
            parts = self.groups.parts(value, self.graph.shapes)
            return np.concatenate([self.order(v) + off for v, off in parts])
        g = self.groups.of_value[value]
        if g is None:
            return np.arange(self.graph.shapes[value][0])
        return self.perms[g]

    def kept(self, value: int, level: int) -> np.ndarray:
        """Original indices of the channels of ``value`` kept at ``level``, in storage order."""
        if value in self.groups.concat:
            parts = self.groups.parts(value, self.graph.shapes)
            return np.concatenate([self.kept(v, level) + off for v, off in parts])
        g = self.groups.of_value[value]
        if g is None:
            return np.arange(self.graph.shapes[value][0])
        return self.perms[g][: int(self.widths[level][g])]
