"""PyTorch → ``.aio`` exporter: trace, find channel groups, rank, fold BatchNorm per level, write.

``export`` is the one-call entry point; ``prepare`` + ``slice_model`` give the physically sliced
PyTorch reference of every level (what the tests compare the runtime and ONNX against).
"""

from __future__ import annotations

import copy
import os
from collections.abc import Iterable, Sequence

import torch

from allinone.exporter.aio import to_aio
from allinone.exporter.fold import calibrate, original_stats
from allinone.exporter.groups import Groups, find_groups
from allinone.exporter.levels import LevelSpec, budget_levels, resolve_levels
from allinone.exporter.ranking import Importance, channel_scores, rank
from allinone.exporter.slicing import slice_model
from allinone.exporter.state import ExportState
from allinone.exporter.trace import Graph, trace
from allinone.format import AioModel, save

__all__ = [
    "ExportState",
    "Graph",
    "Groups",
    "budget_levels",
    "export",
    "find_groups",
    "prepare",
    "slice_model",
    "to_aio",
    "trace",
]

DEFAULT_LEVELS: tuple[float, ...] = (1.0, 0.75, 0.5, 0.25)


def prepare(
    model: torch.nn.Module,
    example_input: torch.Tensor,
    levels: Sequence[LevelSpec] = DEFAULT_LEVELS,
    calib: Iterable[torch.Tensor] | None = None,
    importance: Importance = "l1",
    round_to: int = 1,
) -> ExportState:
    """Trace ``model``, find and rank its channel groups, resolve ``levels``, calibrate BatchNorm.

    The state holds a snapshot (deep copy) of ``model``; ``model`` itself is left untouched.
    """
    graph = trace(copy.deepcopy(model), example_input)
    groups = find_groups(graph)
    perms = rank(channel_scores(graph, groups, importance))
    widths, ratios = resolve_levels(levels, groups.full, round_to)
    base = original_stats(graph)
    bn_stats = [{k: (m.copy(), v.copy()) for k, (m, v) in base.items()} for _ in range(len(widths))]
    state = ExportState(graph, groups, perms, widths, ratios, bn_stats)
    if calib is not None:
        calibrate(state, calib)
    return state


def export(
    model: torch.nn.Module,
    path: str | os.PathLike[str],
    example_input: torch.Tensor,
    levels: Sequence[LevelSpec] = DEFAULT_LEVELS,
    calib: Iterable[torch.Tensor] | None = None,
    importance: Importance = "l1",
    round_to: int = 1,
    name: str | None = None,
    labels: list[str] | None = None,
) -> AioModel:
    """Export ``model`` with nested pruning ``levels`` to the ``.aio`` file ``path``.

    ``levels``: keep ratios, ``{group: width}`` dicts or per-group width lists (level 0 least
    pruned; see :func:`allinone.exporter.levels.resolve_levels`). ``calib``: batches of inputs to
    re-estimate BatchNorm statistics for each level. ``importance``: ``"l1"``, ``"bn_gamma"`` or
    ``{group: scores}``. Returns the written model; its ``export_state`` attribute is the
    :class:`ExportState` (pass it to :func:`slice_model` for a level's PyTorch reference).
    """
    state = prepare(model, example_input, levels, calib, importance, round_to)
    aio = to_aio(state, name or type(model).__name__.lower(), labels)
    save(aio, path)
    aio.export_state = state  # type: ignore[attr-defined]
    return aio
