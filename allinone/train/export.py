"""Export a trained :class:`NestedModel` to ``.aio``: learned channel order, per-level BatchNorm."""

from __future__ import annotations

import os

import numpy as np
import torch

from allinone.exporter import prepare, to_aio
from allinone.exporter.fold import fold_bn
from allinone.format import ACCURACY_TENSOR, AioModel, save
from allinone.train.nested import NestedModel

__all__ = ["export_nested", "reference_output"]


def export_nested(
    nested: NestedModel,
    path: str | os.PathLike[str],
    name: str | None = None,
    labels: list[str] | None = None,
    accuracy: list[float] | None = None,
) -> AioModel:
    """Write ``nested`` to ``path``; file level k computes ``nested`` at level k (hard masks).

    The exporter gets the learned scores as ``importance`` (so its channel sort puts each level's
    kept channels first, in the order the masks ranked them) and the exact per-group widths the
    model trained with. Its BatchNorm folding knows one γ/β per layer, so the ``scale``/``bias`` of
    every level are then recomputed here from that level's own BatchNorm (statistics and affine).
    ``accuracy`` (one fraction per level, e.g. test accuracy) is stored in the file (tensor
    ``meta.level_accuracy``) for ``allinone info``.
    """
    if accuracy is not None and len(accuracy) != nested.n_levels:
        raise ValueError(f"accuracy has {len(accuracy)} entries for {nested.n_levels} levels")
    nested.temperature = 0.0
    plain = nested.plain_model(0)
    state = prepare(
        plain,
        nested.example_input,
        levels=nested.level_widths,
        calib=None,
        importance=nested.scores(),
    )
    for k in range(nested.n_levels):
        for info in nested.layers:
            if info.bn is not None:
                bn = nested.per_level_bn(info.bn).bns[k]
                state.bn_stats[k][info.bn] = (
                    bn.running_mean.detach().double().numpy().copy(),
                    bn.running_var.detach().double().numpy().copy(),
                )
    aio = to_aio(state, name or type(nested.model).__name__.lower(), labels)
    nodes = {n.name: n for n in aio.nodes}
    for info in nested.layers:
        if info.bn is None:
            continue
        node = nodes[info.name]
        mod = plain.get_submodule(info.module)
        bias = getattr(mod, "bias", None)
        conv_bias = None if bias is None else bias.detach().double().numpy()
        order = state.order(info.out_value)
        scale = aio.tensors[str(node.scale)]
        shift = aio.tensors[str(node.bias)]
        for k in range(nested.n_levels):
            bn = nested.per_level_bn(info.bn).bns[k]
            s, b = fold_bn(bn, state.bn_stats[k][info.bn], conv_bias, len(order))
            scale[k] = s[order].astype(np.float32)
            shift[k] = b[order].astype(np.float32)
    if accuracy is not None:
        aio.tensors[ACCURACY_TENSOR] = np.asarray(accuracy, dtype=np.float32)
    save(aio, path)
    aio.export_state = state  # type: ignore[attr-defined]
    return aio


@torch.no_grad()
def reference_output(nested: NestedModel, level: int, x: torch.Tensor) -> torch.Tensor:
    """What the exported file computes at ``level``: eval mode, hard masks, that level's BN."""
    was_training = nested.training
    saved_t = nested.temperature
    nested.eval()
    nested.temperature = 0.0
    nested.set_level(level)
    try:
        return nested(x)
    finally:
        nested.temperature = saved_t
        nested.set_level(0)
        nested.train(was_training)
