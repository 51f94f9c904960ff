"""Parse and check pruning levels (no torch: the CLI uses this before importing anything heavy)."""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["Level", "check_ratios", "parse_levels"]

# A level is a keep ratio in (0, 1] or an explicit width per channel group.
Level = float | Sequence[int]


def parse_levels(text: str) -> list[float]:
    """``"1,0.75,0.5"`` -> ``[1.0, 0.75, 0.5]``; ratios in (0, 1], strictly decreasing."""
    try:
        ratios = [float(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise ValueError(
            f"levels must be comma-separated keep ratios like 1,0.75,0.5; got {text!r}"
        ) from None
    check_ratios(ratios)
    return ratios


def check_ratios(ratios: Sequence[float]) -> None:
    """Raise ValueError unless ``ratios`` is non-empty, in (0, 1] and strictly decreasing."""
    if not ratios:
        raise ValueError("at least one level is needed")
    for r in ratios:
        if not 0.0 < r <= 1.0:
            raise ValueError(f"keep ratio {r} is outside (0, 1]")
    for a, b in zip(ratios, ratios[1:], strict=False):
        if not b < a:
            raise ValueError(
                "levels must be strictly decreasing (level 0 is the least pruned); "
                f"got {list(ratios)}"
            )
