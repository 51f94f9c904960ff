"""Shared pytest fixtures (kept small: each test file owns its own helpers)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest


@pytest.fixture
def randomize_bn() -> Callable[..., object]:
    """Give every BatchNorm2d of a model random statistics and affine parameters (seeded), so
    that folding BatchNorm matters as it would for a trained model; returns the model in eval."""

    def apply(model: object, seed: int = 0) -> object:
        import torch

        gen = torch.Generator().manual_seed(seed)
        for m in model.modules():  # type: ignore[attr-defined]
            if isinstance(m, torch.nn.BatchNorm2d):
                c = m.num_features
                m.running_mean.copy_(torch.rand(c, generator=gen) - 0.5)
                m.running_var.copy_(torch.rand(c, generator=gen) * 1.5 + 0.5)
                m.weight.data.copy_(torch.rand(c, generator=gen) + 0.5)
                m.bias.data.copy_(torch.rand(c, generator=gen) * 0.6 - 0.3)
        return model.eval()  # type: ignore[attr-defined]

    return apply


def assert_close_rel(out: np.ndarray, ref: np.ndarray, rel: float = 1e-4, what: str = "") -> None:
    """Same shape, and max |out − ref| ≤ rel · max |ref|."""
    out = np.asarray(out, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    assert out.shape == ref.shape, f"{what}: shape {out.shape} != {ref.shape}"
    err = float(np.abs(out - ref).max())
    bound = rel * float(np.abs(ref).max())
    assert err <= bound, f"{what}: max abs err {err:.3g} > {bound:.3g}"


@pytest.fixture
def close() -> Callable[..., None]:
    """The relative closeness check used by the export tests (see :func:`assert_close_rel`)."""
    return assert_close_rel
