"""Epoch loops over in-memory arrays: train a :class:`NestedTrainer`, evaluate every level."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch

from allinone.progress import Progress
from allinone.train.trainer import NestedTrainer

__all__ = ["batches", "fit"]


def batches(
    x: np.ndarray, y: np.ndarray, batch_size: int, rng: np.random.Generator | None = None
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Mini-batches of ``(x, y)`` as tensors; shuffled when ``rng`` is given."""
    idx = rng.permutation(len(x)) if rng is not None else np.arange(len(x))
    for i in range(0, len(idx), batch_size):
        j = idx[i : i + batch_size]
        yield torch.from_numpy(x[j]), torch.from_numpy(y[j])


def fit(
    trainer: NestedTrainer,
    x: np.ndarray,
    y: np.ndarray,
    epochs: int,
    batch_size: int,
    seed: int = 0,
    progress: bool = True,
    calib_images: int = 2048,
) -> list[float]:
    """Train for ``epochs`` passes, then fix the masks and re-estimate every level's BatchNorm
    statistics on ``calib_images`` training images; returns the mean level-0 loss per epoch."""
    rng = np.random.default_rng(seed)
    per_epoch = (len(x) + batch_size - 1) // batch_size
    means: list[float] = []
    for epoch in range(epochs):
        bar = Progress(per_epoch, f"epoch {epoch + 1}/{epochs}") if progress else None
        total = 0.0
        for xb, yb in batches(x, y, batch_size, rng):
            losses = trainer.step((xb, yb))
            total += losses[0]
            if bar is not None:
                bar.update(1, loss=losses[0], loss_min=losses[max(losses)])
        if bar is not None:
            bar.close()
        means.append(total / per_epoch)
    trainer.finish(calib=batches(x[:calib_images], y[:calib_images], batch_size))
    return means
