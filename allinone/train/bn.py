"""Per-level BatchNorm: one set of running statistics and affine parameters per pruning level."""

from __future__ import annotations

import copy

import torch
from torch import nn

__all__ = ["PerLevelBatchNorm"]


class PerLevelBatchNorm(nn.Module):
    """Holds ``n_levels`` copies of a BatchNorm module; ``level`` selects the one in use.

    Each level sees a different set of input channels, so each needs its own statistics (and
    its own ``γ``, ``β``). Made from an existing ``nn.BatchNorm1d/2d``, whose state seeds every
    level. At export, level ``k``'s copy is folded into ``scale[k]``/``bias[k]`` of the ``.aio``.
    """

    def __init__(self, bn: nn.modules.batchnorm._BatchNorm, n_levels: int) -> None:
        super().__init__()
        if n_levels < 1:
            raise ValueError(f"n_levels must be >= 1, got {n_levels}")
        self.bns = nn.ModuleList(copy.deepcopy(bn) for _ in range(n_levels))
        self.level = 0

    @property
    def num_features(self) -> int:
        return int(self.bns[0].num_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bns[self.level](x)

    def folded(self, level: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``(scale, shift)`` with ``bn(x) == scale·x + shift`` in eval mode at ``level``."""
        bn = self.bns[level]
        inv = torch.rsqrt(bn.running_var + bn.eps)
        scale = inv if bn.weight is None else bn.weight * inv
        shift = -bn.running_mean * scale
        if bn.bias is not None:
            shift = shift + bn.bias
        return scale.detach(), shift.detach()
