"""Per-layer latency tables measured by the runtime, for latency-budgeted levels.

The level designer (:func:`allinone.exporter.levels.budget_levels`) trades channels against
cost. FLOPs are a poor proxy on a real CPU: a 1x1 convolution at 112x112 runs at a third of the
GFLOP/s of a 3x3 one at 14x14, and a layer thinned to 12 channels wastes vector lanes. So the
table is measured: the model is exported once with a few uniform widths as its levels, the C++
engine profiles every level (:meth:`allinone.Engine.profile`), and each conv/linear layer gets
its measured (MACs, ms) points. Between points, a layer's time is interpolated linearly in its
MACs (through zero), which captures per-layer efficiency and how it falls as the layer thins.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

__all__ = ["LayerLatency", "measure_layer_latency"]


@dataclass
class LayerLatency:
    """Measured (MACs, ms) points per layer name, MACs ascending, starting at (0, 0)."""

    points: dict[str, list[tuple[float, float]]]
    threads: int = 1
    machine: str = ""
    # The points as (MACs, ms) arrays, built once: the level designer asks for every layer's
    # time at every trial width.
    _curves: dict[str, tuple[np.ndarray, np.ndarray]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._curves = {
            name: (np.array([x for x, _ in pts]), np.array([y for _, y in pts]))
            for name, pts in self.points.items()
        }

    def layer_ms(self, name: str, macs: float) -> float:
        """Predicted time of layer ``name`` at ``macs`` multiply-accumulates."""
        curve = self._curves.get(name)
        if curve is None:
            raise KeyError(f"layer {name!r} not in the latency table (measured another model?)")
        xs, ys = curve
        if macs > xs[-1]:  # beyond the widest measured point: its rate
            return float(ys[-1] * macs / xs[-1]) if xs[-1] > 0 else float(ys[-1])
        return float(np.interp(macs, xs, ys))

    def predict_ms(self, macs: dict[str, int]) -> float:
        """Sum of the layers' predicted times (the ops without MACs are not modelled)."""
        return sum(self.layer_ms(name, m) for name, m in macs.items())

    def save(self, path: str | Path) -> None:
        """Writes the table as JSON."""
        Path(path).write_text(
            json.dumps({"threads": self.threads, "machine": self.machine, "points": self.points})
        )

    @classmethod
    def load(cls, path: str | Path) -> LayerLatency:
        """Reads a table written by :meth:`save`."""
        d = json.loads(Path(path).read_text())
        pts = {k: [(float(a), float(b)) for a, b in v] for k, v in d["points"].items()}
        return cls(pts, int(d.get("threads", 1)), str(d.get("machine", "")))


def measure_layer_latency(
    model: torch.nn.Module,
    example_input: torch.Tensor,
    keeps: tuple[float, ...] = (1.0, 0.75, 0.5, 0.25),
    threads: int = 1,
    repeats: int = 20,
) -> LayerLatency:
    """Profiles ``model`` in the C++ engine at uniform widths ``keeps`` (ratios, descending) and
    returns each conv/linear layer's (MACs, median ms) points. Run it on the target device, with
    the thread count the app will use; it takes a few seconds for small models."""
    import platform

    from allinone import Engine
    from allinone.exporter import export

    if not keeps or any(not 0 < k <= 1 for k in keeps) or list(keeps) != sorted(keeps)[::-1]:
        raise ValueError(f"keeps must be descending ratios in (0, 1], got {keeps}")
    if repeats < 1:
        raise ValueError("repeats must be at least 1")
    x = example_input[:1].detach().float().contiguous().numpy()
    points: dict[str, list[tuple[float, float]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "probe.aio"
        export(model, str(path), example_input[:1], levels=tuple(keeps), name="latency-probe")
        eng = Engine(path, threads=threads)
        for level in range(eng.num_levels):
            for name, _kind, ms, fl in eng.profile(x, level, repeats):
                if fl > 0:  # convs and linears: the layers whose widths the designer chooses
                    points.setdefault(name, [(0.0, 0.0)]).append((fl / 2.0, ms))
    for pts in points.values():
        pts.sort()  # before LayerLatency builds its curves
    return LayerLatency(points, threads, platform.processor() or platform.machine())
