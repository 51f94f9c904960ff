"""Learned channel scores and the nested masks they define (soft in training, hard at the end)."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["NestedMasks"]


class NestedMasks(nn.Module):
    """One learnable score per channel of each group; level ``k`` keeps the top ``widths[k][g]``.

    Because every level ranks the same scores and widths never grow from one level to the next,
    the kept sets are nested by construction. While training the mask is soft,
    ``sigmoid((s − θ_k) / (T·std(s)))`` with ``θ_k`` midway between the ``w_k``-th and
    ``(w_k+1)``-th largest score; ``temperature = 0`` gives the hard 0/1 prefix mask that export
    and the runtime use. A group kept whole at a level always has mask 1 there.
    """

    def __init__(self, full_widths: list[int], level_widths: list[list[int]]) -> None:
        super().__init__()
        self.full = [int(c) for c in full_widths]
        self.widths = [[int(w) for w in row] for row in level_widths]
        # Initial order: channel index (the prefix of an untrained model); training re-ranks.
        self.scores = nn.ParameterList(
            nn.Parameter(torch.linspace(1.0, 0.0, c) if c > 1 else torch.ones(c)) for c in self.full
        )
        self.temperature = 1.0

    @property
    def n_levels(self) -> int:
        return len(self.widths)

    def order(self, group: int) -> torch.Tensor:
        """Channel indices of ``group`` from most to least important (ties: lower index first)."""
        return torch.argsort(self.scores[group].detach(), descending=True, stable=True)

    def kept(self, level: int, group: int) -> torch.Tensor:
        """Indices of the channels of ``group`` kept at ``level`` (sorted ascending)."""
        w = self.widths[level][group]
        return torch.sort(self.order(group)[:w]).values

    def hard(self, level: int, group: int) -> torch.Tensor:
        s = self.scores[group]
        m = torch.zeros_like(s.detach())
        m[self.order(group)[: self.widths[level][group]]] = 1.0
        return m

    def mask(self, level: int, group: int) -> torch.Tensor:
        """The mask of ``group`` at ``level`` at the current temperature (1-D, one per channel)."""
        s = self.scores[group]
        w, c = self.widths[level][group], self.full[group]
        if w >= c:
            return torch.ones_like(s)
        if self.temperature <= 0.0:
            return self.hard(level, group)
        top = torch.topk(s.detach(), w + 1).values
        theta = 0.5 * (top[w - 1] + top[w])
        spread = s.detach().std().clamp_min(1e-6)
        return torch.sigmoid((s - theta) / (self.temperature * spread))
