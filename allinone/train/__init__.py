"""Train every nested pruning level of one weight set at once (PyTorch).

``NestedModel`` wraps a zoo-style CNN: a learnable score per channel of each channel group
(level k keeps the top ``w_k`` by score, so levels nest), masks that are soft while training and
hard at the end, and a BatchNorm per level. ``NestedTrainer`` applies the sandwich rule with
in-place distillation; ``export_nested`` writes the ``.aio`` file whose level k computes exactly
the hard-masked model at level k.

    nested = NestedModel(model, [1.0, 0.75, 0.5, 0.25], example_input)
    trainer = NestedTrainer(nested, total_steps=1000)
    for batch in loader:
        trainer.step(batch)
    trainer.finish()
    export_nested(nested, "model.aio", labels=CLASS_NAMES)

Data-parallel training (torchrun, DistributedDataParallel on gloo): see
:mod:`allinone.train.distributed`.
"""

from __future__ import annotations

from typing import Any

# Resolved on first use (module __getattr__) so that the torch-free parts (levels, data,
# progress) import without PyTorch, e.g. for the CLI's argument checks.
_LAZY = {
    "CLASS_NAMES": "allinone.train.data",
    "load_fashion_mnist": "allinone.train.data",
    "PerLevelBatchNorm": "allinone.train.bn",
    "NestedMasks": "allinone.train.masks",
    "NestedModel": "allinone.train.nested",
    "NestedTrainer": "allinone.train.trainer",
    "export_nested": "allinone.train.export",
    "reference_output": "allinone.train.export",
    "batches": "allinone.train.loop",
    "fit": "allinone.train.loop",
    "fit_distributed": "allinone.train.distributed",
    "init_distributed": "allinone.train.distributed",
    "launched_by_torchrun": "allinone.train.distributed",
    "shutdown_distributed": "allinone.train.distributed",
    "wrap_ddp": "allinone.train.distributed",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'allinone.train' has no attribute {name!r}")
