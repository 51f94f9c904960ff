"""Data-parallel training over several processes: torchrun + DistributedDataParallel (gloo).

Launch any script that uses these helpers with ``torchrun`` (``python -m torch.distributed.run``);
each process reads ``RANK``/``WORLD_SIZE``/``MASTER_ADDR``/``MASTER_PORT`` from the environment:

    rank, world = init_distributed()               # gloo: CPU processes, one or several machines
    nested = NestedModel(model, levels, example)
    trainer = NestedTrainer(nested, total_steps, seed=0, module=wrap_ddp(nested))
    fit_distributed(trainer, x, y, epochs, batch_size, seed=0)   # sharded by DistributedSampler
    if rank == 0:
        export_nested(nested, "model.aio")
    shutdown_distributed()

One step of :class:`~allinone.train.trainer.NestedTrainer` runs a forward and a backward pass
per sampled level; under DDP each backward all-reduces (averages) the gradients, which adds up to
the average over processes of the sum over levels, so every process applies the same update and
the weights stay identical. A level's own BatchNorm is unused by the other levels' passes, hence
``find_unused_parameters=True``. Every process must use the same trainer ``seed`` (same levels per
step). ``batch_size`` is per process: the global batch is ``world_size × batch_size``.
"""

from __future__ import annotations

import os

import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler, TensorDataset

from allinone.progress import Progress
from allinone.train.loop import batches
from allinone.train.nested import NestedModel
from allinone.train.trainer import NestedTrainer

__all__ = [
    "fit_distributed",
    "init_distributed",
    "launched_by_torchrun",
    "shutdown_distributed",
    "steps_per_epoch",
    "wrap_ddp",
]


def launched_by_torchrun() -> bool:
    """True when the process environment names a rank and a world size (torchrun sets both)."""
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ


def init_distributed(backend: str = "gloo") -> tuple[int, int]:
    """Join the process group described by the environment (``env://``); ``(rank, world_size)``.

    Idempotent: a process already in a group gets its rank and size back.
    """
    if not dist.is_available():
        raise RuntimeError("this PyTorch build has no torch.distributed")
    if not dist.is_initialized():
        if not launched_by_torchrun():
            raise RuntimeError(
                "not launched by torchrun: RANK and WORLD_SIZE are not set "
                "(run `python -m torch.distributed.run --nproc_per_node=N ...`)"
            )
        dist.init_process_group(backend=backend, init_method="env://")
    return dist.get_rank(), dist.get_world_size()


def shutdown_distributed() -> None:
    """Wait for every process, then leave the process group (no-op outside one)."""
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def wrap_ddp(nested: NestedModel) -> DistributedDataParallel:
    """``nested`` in DistributedDataParallel (CPU); rank 0's weights are broadcast to all ranks."""
    return DistributedDataParallel(nested, find_unused_parameters=True)


def steps_per_epoch(n_images: int, batch_size: int, world_size: int) -> int:
    """Optimiser steps per epoch of each process (DistributedSampler pads to equal shards)."""
    shard = -(-n_images // world_size)
    return -(-shard // batch_size)


def fit_distributed(
    trainer: NestedTrainer,
    x: np.ndarray,
    y: np.ndarray,
    epochs: int,
    batch_size: int,
    seed: int = 0,
    progress: bool = True,
    calib_images: int = 2048,
) -> list[float]:
    """:func:`~allinone.train.loop.fit` for one process of a data-parallel run.

    Each epoch, :class:`~torch.utils.data.DistributedSampler` deals every process a disjoint
    shard of a fresh permutation (the same on all processes: seeded with ``seed`` and the epoch).
    At the end every process fixes the masks and re-estimates the BatchNorm statistics on the
    same first ``calib_images`` training images, so all processes finish with identical models.
    Returns the level-0 loss per epoch, averaged over all processes; only rank 0 shows progress.
    """
    rank, world = dist.get_rank(), dist.get_world_size()
    data = TensorDataset(torch.from_numpy(x), torch.from_numpy(y))
    sampler = DistributedSampler(data, num_replicas=world, rank=rank, shuffle=True, seed=seed)
    loader = DataLoader(data, batch_size=batch_size, sampler=sampler)
    per_epoch = len(loader)
    means: list[float] = []
    for epoch in range(epochs):
        sampler.set_epoch(epoch)
        desc = f"epoch {epoch + 1}/{epochs} ({world} processes)"
        bar = Progress(per_epoch, desc) if progress and rank == 0 else None
        total = 0.0
        for xb, yb in loader:
            losses = trainer.step((xb, yb))
            total += losses[0]
            if bar is not None:
                bar.update(1, loss=losses[0], loss_min=losses[max(losses)])
        if bar is not None:
            bar.close()
        mean = torch.tensor([total / per_epoch], dtype=torch.float64)
        dist.all_reduce(mean)
        means.append(float(mean) / world)
    trainer.finish(calib=batches(x[:calib_images], y[:calib_images], batch_size))
    return means
