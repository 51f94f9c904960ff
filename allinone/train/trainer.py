"""Train every level of a :class:`NestedModel` at once: sandwich rule + in-place distillation."""

from __future__ import annotations

import math
import random
from collections.abc import Iterable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from allinone.train.bn import PerLevelBatchNorm
from allinone.train.nested import NestedModel

__all__ = ["NestedTrainer"]

Batch = tuple[torch.Tensor, torch.Tensor]


class NestedTrainer:
    """One optimiser step trains the largest, the smallest and ``n_middle`` random middle levels.

    The largest level learns from the labels (cross-entropy); every smaller level learns from
    ``(1 − kd_weight)·CE + kd_weight·τ²·KL(teacher ‖ student)``, the teacher being the largest
    level's softened output in the same step (in-place distillation). The mask temperature falls
    linearly from ``t_start`` to 0 at ``hard_from × total_steps``; after that the masks are hard,
    exactly the prefix masks of export, so the weights and per-level BatchNorm settle on them.
    The learning rate follows a cosine from ``lr`` to 0 over ``total_steps``.

    ``module`` is what the training forward passes call, ``nested`` itself by default; pass a
    :class:`torch.nn.parallel.DistributedDataParallel` wrapping ``nested`` to train data-parallel
    (see :mod:`allinone.train.distributed`). Every process must then use the same ``seed``, so
    that all of them train the same levels in each step.
    """

    def __init__(
        self,
        nested: NestedModel,
        total_steps: int,
        lr: float = 0.05,
        momentum: float = 0.9,
        weight_decay: float = 5e-4,
        n_middle: int = 2,
        kd_weight: float = 0.5,
        kd_temperature: float = 2.0,
        t_start: float = 1.0,
        hard_from: float = 0.75,
        seed: int = 0,
        module: nn.Module | None = None,
    ) -> None:
        if total_steps < 1:
            raise ValueError(f"total_steps must be >= 1, got {total_steps}")
        if not 0.0 <= hard_from <= 1.0:
            raise ValueError(f"hard_from must be in [0, 1], got {hard_from}")
        self.nested = nested
        self.module: nn.Module = nested if module is None else module
        self.total_steps = total_steps
        self.n_middle = n_middle
        self.kd_weight = kd_weight
        self.kd_temperature = kd_temperature
        self.t_start = t_start
        self.hard_from = hard_from
        self.base_lr = lr
        self.steps_done = 0
        self._rng = random.Random(seed)
        scores = list(nested.masks.parameters())
        ids = {id(p) for p in scores}
        weights = [p for p in nested.parameters() if id(p) not in ids]
        self.optimizer = torch.optim.SGD(
            [
                {"params": weights, "weight_decay": weight_decay},
                {"params": scores, "weight_decay": 0.0},
            ],
            lr=lr,
            momentum=momentum,
            nesterov=momentum > 0,
        )

    # -- schedules ----------------------------------------------------------------------------
    def temperature_at(self, step: int) -> float:
        """Mask temperature at ``step`` (0 = hard masks)."""
        end = self.hard_from * self.total_steps
        if end <= 0 or step >= end:
            return 0.0
        return self.t_start * (1.0 - step / end)

    def lr_at(self, step: int) -> float:
        return (
            0.5
            * self.base_lr
            * (1.0 + math.cos(math.pi * min(step, self.total_steps) / self.total_steps))
        )

    def sample_levels(self) -> list[int]:
        """Levels trained this step: largest, smallest and up to ``n_middle`` between them."""
        n = self.nested.n_levels
        middle = list(range(1, n - 1))
        picked = self._rng.sample(middle, min(self.n_middle, len(middle)))
        return sorted({0, n - 1, *picked})

    # -- training -----------------------------------------------------------------------------
    def step(self, batch: Batch) -> dict[int, float]:
        """One optimiser step on ``(images, labels)``; returns the loss of each level trained."""
        x, y = batch
        net = self.nested
        net.train()
        net.temperature = self.temperature_at(self.steps_done)
        for group in self.optimizer.param_groups:
            group["lr"] = self.lr_at(self.steps_done)
        self.optimizer.zero_grad(set_to_none=True)
        losses: dict[int, float] = {}
        teacher: torch.Tensor | None = None
        tau = self.kd_temperature
        for level in self.sample_levels():
            net.set_level(level)
            logits = self.module(x)
            loss = F.cross_entropy(logits, y)
            if level == 0:
                teacher = F.softmax(logits.detach() / tau, dim=1)
            elif teacher is not None and self.kd_weight > 0:
                kd = F.kl_div(F.log_softmax(logits / tau, dim=1), teacher, reduction="batchmean")
                loss = (1.0 - self.kd_weight) * loss + self.kd_weight * tau * tau * kd
            loss.backward()
            losses[level] = float(loss.detach())
        self.optimizer.step()
        self.steps_done += 1
        net.set_level(0)
        return losses

    def finish(self, calib: Iterable[Batch] | None = None) -> None:
        """Switch to hard masks for good (what export sees); re-estimate BN stats on ``calib``."""
        self.nested.temperature = 0.0
        if calib is not None:
            self.recalibrate_bn(calib)

    @torch.no_grad()
    def recalibrate_bn(self, calib: Iterable[Batch]) -> None:
        """Re-estimate every level's BatchNorm statistics with hard masks (exact averages).

        The running averages gathered during training lag behind the weights and partly saw soft
        masks; a pass over a few hundred training images per level fixes both.
        """
        data = [x for x, _ in calib]
        if not data:
            raise ValueError("calib is empty")
        net = self.nested
        saved_t = net.temperature
        net.temperature = 0.0
        net.train()
        bns = [m for m in net.modules() if isinstance(m, PerLevelBatchNorm)]
        for level in range(net.n_levels):
            net.set_level(level)
            saved = []
            for m in bns:
                bn = m.bns[level]
                saved.append(bn.momentum)
                bn.reset_running_stats()
                bn.momentum = None
            for x in data:
                net(x)
            for m, mom in zip(bns, saved, strict=True):
                m.bns[level].momentum = mom
        net.temperature = saved_t
        net.set_level(0)

    @torch.no_grad()
    def evaluate(
        self, batches: Iterable[Batch], levels: Iterable[int] | None = None
    ) -> dict[int, float]:
        """Top-1 accuracy of each level with hard masks and per-level BN statistics."""
        net = self.nested
        saved_t = net.temperature
        net.eval()
        net.temperature = 0.0
        todo = list(range(net.n_levels)) if levels is None else list(levels)
        correct = dict.fromkeys(todo, 0)
        total = 0
        for x, y in batches:
            for level in todo:
                net.set_level(level)
                correct[level] += int((net(x).argmax(1) == y).sum())
            total += len(y)
        net.temperature = saved_t
        net.set_level(0)
        return {k: correct[k] / max(1, total) for k in todo}

    # -- checkpoints --------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {
            "model": self.nested.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "steps_done": self.steps_done,
            "rng": self._rng.getstate(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.nested.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.steps_done = int(state["steps_done"])
        self._rng.setstate(state["rng"])
