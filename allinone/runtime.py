"""``allinone.Engine``: run a ``.aio`` model at any of its pruning levels (numpy in, numpy out).

The heavy lifting is native (``allinone._core.Engine``); this wrapper adds typing, argument
checks with clear messages and the ONNX export hook. ``run`` releases the GIL, and one Engine may
be used from several Python threads at once: each call finishes at the level it started with.
"""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from allinone import _core

__all__ = ["Engine", "LevelError", "LevelInfo", "WarmupResult"]

PathLike = str | os.PathLike[str]


class LevelError(IndexError, ValueError):
    """A level index outside ``[0, num_levels)`` (both an IndexError and a ValueError)."""


@dataclass(frozen=True)
class LevelInfo:
    """One pruning level: nominal keep ratio, FLOPs (2 x MACs of conv/linear, batch 1),
    parameters used (weights + one bias per output channel) and per-group channel widths."""

    keep_ratio: float
    flops: int
    params: int
    widths: tuple[int, ...]


@dataclass(frozen=True)
class WarmupResult:
    """What :meth:`Engine.warmup` saw: the first run (cold caches, page faults, sleeping
    workers) apart from the time it took to become stable."""

    first_ms: float  # the very first run
    warmup_s: float  # wall time of all warm-up runs, the first included
    runs: int
    median_ms: float  # median of the last window when it stopped
    stable: bool  # False: max_s ran out before two windows agreed within the tolerance


class Engine:
    """A loaded ``.aio`` model.

    Args:
        path: the model file.
        threads: worker threads (the caller counts as one); ``None`` or 0: one per available core
            (one per CPU of ``cpus`` when pinned).
        max_activation_bytes: refuse a model whose activations need more than this per image;
            ``None``: the library's default (1 GiB); 0: no limit. A few hundred bytes of valid
            file can declare gigabytes of activations: set this when models come from elsewhere.
        max_flops: refuse a model whose level 0 needs more FLOPs per image; 0: no limit.
        winograd: run 3x3 stride-1 convolutions with 16+ input channels on maps of 14 x 14 and
            more by Winograd F(2x2, 3x3) (default): 2.25x fewer multiplies for 16/9 of those
            layers' weights, or F(4x4, 3x3) where it does clearly less work (chosen per layer):
            4x fewer for 4x those weights (ResNet-18 in memory: 47.1 MB without Winograd, 56.4
            MB on AVX-512). ``False``: no Winograd, all levels in the memory of one model.
        cpus: pin the worker threads to these CPUs (e.g. one big.LITTLE cluster; see
            :func:`allinone.device.topology.resolve_cpus` for "big", "little", "policyN"). The
            kernel's answer is read back into :attr:`affinity`; a set it refuses raises
            ValueError, one it changes (offline CPUs, a cpuset) warns. The thread that calls
            :meth:`run` is worker 0 and keeps its own affinity: pin it with
            ``os.sched_setaffinity(0, cpus)`` (the CLI's ``--cpus`` does both).

    Raises:
        OSError: the file cannot be read (the message names the path).
        ValueError: the file is malformed (the message names the problem).
        RuntimeError: the model is over a limit (the message gives its needs and the limit).
    """

    def __init__(
        self,
        path: PathLike,
        threads: int | None = None,
        *,
        max_activation_bytes: int | None = None,
        max_flops: int = 0,
        winograd: bool = True,
        cpus: Iterable[int] | None = None,
    ) -> None:
        if threads is not None and (not isinstance(threads, int) or threads < 0):
            raise ValueError(f"threads must be a non-negative int or None, got {threads!r}")
        for name, v in (("max_activation_bytes", max_activation_bytes), ("max_flops", max_flops)):
            if v is not None and (not isinstance(v, int) or v < 0):
                raise ValueError(f"{name} must be a non-negative int, got {v!r}")
        cpu_list = sorted({int(c) for c in cpus}) if cpus is not None else []
        if cpus is not None and not cpu_list:
            raise ValueError("cpus must name at least one CPU (None: no pinning)")
        self._path = os.fspath(path)
        self._native = _core.Engine(
            self._path,
            threads or 0,
            max_activation_bytes=max_activation_bytes,
            max_flops=max_flops,
            winograd=bool(winograd),
            cpus=cpu_list,
        )
        if self._native.affinity_note:
            warnings.warn(f"Engine: {self._native.affinity_note}", RuntimeWarning, stacklevel=2)
        self._levels = tuple(
            LevelInfo(
                keep_ratio=float(d["keep_ratio"]),
                flops=int(d["flops"]),
                params=int(d["params"]),
                widths=tuple(int(w) for w in d["widths"]),
            )
            for d in (self._native.level_info(k) for k in range(self._native.num_levels))
        )

    # ----------------------------------------------------------------------------- metadata
    @property
    def path(self) -> str:
        """The model file this engine was loaded from."""
        return self._path

    @property
    def name(self) -> str:
        """The model's name, as written by the exporter."""
        return str(self._native.name)

    @property
    def labels(self) -> list[str]:
        """Class names (may be empty)."""
        return list(self._native.labels)

    @property
    def levels(self) -> list[LevelInfo]:
        """Every level, least pruned (level 0) first."""
        return list(self._levels)

    @property
    def num_levels(self) -> int:
        """How many pruning levels the model has."""
        return len(self._levels)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of one input image."""
        c, h, w = self._native.input_shape
        return (int(c), int(h), int(w))

    @property
    def output_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of one output at the current level."""
        return self.output_shape_at(self.level)

    def output_shape_at(self, level: int) -> tuple[int, int, int]:
        """(C, H, W) of one output at ``level``."""
        c, h, w = self._native.output_shape(self._check_level(level))
        return (int(c), int(h), int(w))

    @property
    def threads(self) -> int:
        """Threads used by one run (the caller included)."""
        return int(self._native.threads)

    @property
    def affinity(self) -> list[int]:
        """CPUs the worker threads run on, read back from the kernel after pinning; empty
        without ``cpus`` or without worker threads (threads == 1)."""
        return list(self._native.affinity)

    @property
    def weight_bytes(self) -> int:
        """Bytes of packed weights held in memory (all levels share them)."""
        return int(self._native.weight_bytes)

    # ------------------------------------------------------------------------------- levels
    @property
    def level(self) -> int:
        """The level used by :meth:`run` (set it with :meth:`set_level` or by assignment)."""
        return int(self._native.level)

    @level.setter
    def level(self, level: int) -> None:
        self.set_level(level)

    def set_level(self, level: int) -> None:
        """Switch the level for later runs: O(1), no allocation, no weight movement.

        Raises:
            LevelError: ``level`` is outside ``[0, num_levels)``.
        """
        self._native.set_level(self._check_level(level))

    def _check_level(self, level: int) -> int:
        if isinstance(level, bool) or not isinstance(level, (int, np.integer)):
            raise TypeError(f"level must be an int, got {type(level).__name__}")
        if not 0 <= int(level) < self.num_levels:
            raise LevelError(f"level {level} out of range (model has {self.num_levels} levels)")
        return int(level)

    # --------------------------------------------------------------------------------- runs
    def run(self, x: np.ndarray) -> np.ndarray:
        """Run ``x`` at the current level.

        Args:
            x: float32, C-contiguous, shape (N, C, H, W) or (C, H, W). Nothing is cast or copied:
                other dtypes or layouts raise ValueError.

        Returns:
            (N, O) when the model's output is (O, 1, 1), else (N, C, H, W); without the batch
            axis when ``x`` had none.
        """
        out, _ = self._native.run(self._check_input(x), -1)
        return out

    def run_at(self, level: int, x: np.ndarray) -> np.ndarray:
        """Run ``x`` at ``level``, leaving the current level alone (see :meth:`run`)."""
        out, _ = self._native.run(self._check_input(x), self._check_level(level))
        return out

    def warmup(
        self,
        max_s: float = 5.0,
        tolerance: float = 0.02,
        *,
        level: int = 0,
        window: int = 5,
        x: np.ndarray | None = None,
    ) -> WarmupResult:
        """Runs ``level`` until the median of the last ``window`` runs is within ``tolerance``
        (relative) of the median of the ``window`` before, or ``max_s`` seconds have passed.

        The first run is reported on its own: it pays for page faults on the weights, cold
        caches and waking the worker threads, and is no sample of steady latency."""
        if max_s <= 0 or tolerance <= 0 or window < 1:
            raise ValueError("warmup: max_s and tolerance must be positive, window >= 1")
        if x is None:
            x = np.zeros((1, *self.input_shape), dtype=np.float32)
        x = self._check_input(x)
        level = self._check_level(level)
        times: list[float] = []
        t_start = time.perf_counter()
        stable = False
        while True:
            t0 = time.perf_counter()
            self._native.run(x, level)
            times.append((time.perf_counter() - t0) * 1e3)
            # The first run is excluded from both windows.
            if len(times) >= 1 + 2 * window:
                last = float(np.median(times[-window:]))
                prev = float(np.median(times[-2 * window : -window]))
                if abs(last - prev) <= tolerance * prev:
                    stable = True
                    break
            if time.perf_counter() - t_start >= max_s:
                break
        return WarmupResult(
            first_ms=times[0],
            warmup_s=time.perf_counter() - t_start,
            runs=len(times),
            median_ms=float(np.median(times[-window:])),
            stable=stable,
        )

    def profile(
        self, x: np.ndarray, level: int, repeats: int = 20
    ) -> list[tuple[str, str, float, int]]:
        """Per-layer timing of one image at ``level``: ``[(node name, kind, median ms, flops)]``.

        ``kind`` is the op (``conv3x3/s1``, ``add``, ...) and, for a convolution, the algorithm
        this level runs where it is not the packed GEMM (``/winograd``, ``/direct``,
        ``/cout_lanes``), and ``/im2col`` at a Winograd layer's levels that run the packed GEMM
        instead (under 16 input channels, except on AVX-512). Runs the image ``repeats`` times
        with the engine's threads; ordinary runs carry no timing.
        """
        x = self._check_input(x)
        if x.ndim == 4:
            if x.shape[0] != 1:
                raise ValueError("profile takes one image")
            x = x[0]
        return list(self._native.profile(x, self._check_level(level), int(repeats)))

    def _check_input(self, x: np.ndarray) -> np.ndarray:
        if not isinstance(x, np.ndarray):
            raise ValueError(f"input must be a numpy.ndarray, got {type(x).__name__}")
        if x.dtype != np.float32:
            raise ValueError(
                f"input must be float32, got {x.dtype} (convert with x.astype(np.float32))"
            )
        if x.ndim not in (3, 4):
            raise ValueError(f"input must have shape (N, C, H, W) or (C, H, W), got {x.shape}")
        if tuple(x.shape[-3:]) != self.input_shape:
            raise ValueError(
                f"input shape {x.shape} does not match the model's (C, H, W) = {self.input_shape}"
            )
        if not x.flags.c_contiguous:
            raise ValueError("input must be C-contiguous (use np.ascontiguousarray(x))")
        if not x.flags.aligned:
            raise ValueError("input must be aligned to 4 bytes (use x.copy())")
        return x

    # ------------------------------------------------------------------------------- export
    def export_onnx(self, level: int, path: PathLike) -> None:
        """Write ``level`` as a standalone ONNX model (needs the ``onnx`` extra)."""
        from allinone import format as aio_format
        from allinone.onnx_export import export_level

        export_level(aio_format.load(self._path), self._check_level(level), Path(path))

    def __repr__(self) -> str:
        return (
            f"Engine({self._path!r}, name={self.name!r}, levels={self.num_levels}, "
            f"level={self.level}, threads={self.threads})"
        )
