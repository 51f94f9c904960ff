"""Frequency sources: where the current clock comes from, and auto-detection of the best one.

The sysfs (cpufreq, devfreq), fixed and replay sources are native (C++, usable from a device app
without Python); NVML and psutil exist only in Python. All share one interface: ``name``,
``describe()``, ``read()`` → a reading with ``cpu_mhz`` / ``gpu_mhz`` (0 = no such clock),
``max_mhz`` and ``emulated``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from allinone.dvfs._native import native

Unavailable = native.Unavailable
Reading = native.Reading
CpufreqSource = native.CpufreqSource
DevfreqSource = native.DevfreqSource
FixedSource = native.FixedSource
ReplaySource = native.ReplaySource


class Source(Protocol):
    """What the governor and the CLI need from any frequency source."""

    @property
    def name(self) -> str: ...
    @property
    def max_mhz(self) -> float: ...
    @property
    def emulated(self) -> bool: ...
    def describe(self) -> str: ...
    def read(self) -> Any: ...


class PsutilSource:
    """``psutil.cpu_freq()``: the portable fallback. Many VMs report None or 0; that is refused
    at construction with the reason, never turned into a fake clock."""

    name = "psutil"
    emulated = False

    def __init__(self) -> None:
        try:
            import psutil
        except ImportError as exc:
            raise Unavailable(
                "psutil not available here: the psutil package is not installed"
            ) from exc
        self._psutil = psutil
        freq = psutil.cpu_freq()
        if freq is None or not freq.current:
            raise Unavailable(
                "psutil not available here: psutil.cpu_freq() returned "
                f"{freq!r} (common in VMs and containers)"
            )
        # max == 0: psutil fell back to /proc/cpuinfo's "cpu MHz", in a VM often a constant
        # nominal value rather than a live clock. Usable, but say so.
        self._static = not freq.max
        self._max = float(freq.max or freq.current)

    @property
    def max_mhz(self) -> float:
        return self._max

    def describe(self) -> str:
        if self._static:
            return (
                "psutil.cpu_freq() without limits (max 0): likely /proc/cpuinfo's nominal MHz, "
                "not a live clock"
            )
        return "psutil.cpu_freq() (average over CPUs; coarse)"

    def read(self) -> Any:
        freq = self._psutil.cpu_freq()
        if freq is None or not freq.current:
            raise Unavailable("psutil: cpu_freq() stopped returning a value")
        return Reading(float(freq.current), 0.0)


class NvmlSource:
    """NVIDIA GPU graphics clock through NVML (the ``nvidia-ml-py`` package, module ``pynvml``)."""

    name = "nvml"
    emulated = False

    def __init__(self, index: int = 0) -> None:
        try:
            import pynvml
        except ImportError as exc:
            raise Unavailable(
                "nvml not available here: nvidia-ml-py (pynvml) is not installed"
            ) from exc
        try:
            pynvml.nvmlInit()
            self._handle = pynvml.nvmlDeviceGetHandleByIndex(index)
            self._max = float(
                pynvml.nvmlDeviceGetMaxClockInfo(self._handle, pynvml.NVML_CLOCK_GRAPHICS)
            )
            gpu_name = pynvml.nvmlDeviceGetName(self._handle)
        except pynvml.NVMLError as exc:
            raise Unavailable(f"nvml not available here: {exc} (no NVIDIA driver or GPU)") from exc
        self._pynvml = pynvml
        self._desc = f"NVML GPU {index} ({gpu_name!s}) graphics clock"

    @property
    def max_mhz(self) -> float:
        return self._max

    def describe(self) -> str:
        return self._desc

    def read(self) -> Any:
        clock = self._pynvml.nvmlDeviceGetClockInfo(self._handle, self._pynvml.NVML_CLOCK_GRAPHICS)
        return Reading(0.0, float(clock))


@dataclass
class Detection:
    """Result of :func:`detect_source`: the chosen source and why each candidate was or was not."""

    source: Source | None
    tried: list[tuple[str, str]] = field(default_factory=list)  # (name, "ok: ..." or reason)

    def report(self) -> str:
        """Human-readable lines, one per candidate, best first."""
        return "\n".join(f"  {name:8s} {why}" for name, why in self.tried)


# Best first: the kernel's per-policy view beats the driver-level GPU clocks for CPU inference,
# and psutil (an average, often absent in VMs) is the last resort.
_CANDIDATES = ("cpufreq", "devfreq", "nvml", "psutil")


def open_source(spec: str, root: str = "/sys", cpus: list[int] | None = None) -> Source:
    """Opens one source by spec: ``cpufreq[:POLICY]``, ``devfreq[:DEVICE]``, ``nvml[:INDEX]``,
    ``psutil``, ``fixed:MHZ``, ``replay:PATH.csv`` or ``auto``. Raises :class:`Unavailable` with
    the reason when it cannot work here.

    ``cpus``: the CPUs the inference runs on (``--cpus``). ``auto`` and ``cpufreq`` without a
    policy then follow the policy (cluster) that owns them, not the fastest one: on big.LITTLE
    the little cluster's clock says nothing about the big cores."""
    if cpus and spec in ("auto", "cpufreq"):
        from allinone.device.topology import read_topology

        owner = read_topology(root).policy_of(list(cpus))
        if owner is not None:
            spec = f"cpufreq:{owner.policy}"
    kind, _, arg = spec.partition(":")
    if kind == "auto":
        det = detect_source(root)
        if det.source is None:
            raise Unavailable("no frequency source available here:\n" + det.report())
        return det.source
    if kind == "cpufreq":
        return CpufreqSource(root, int(arg) if arg else -1)
    if kind == "devfreq":
        return DevfreqSource(root, arg)
    if kind == "nvml":
        return NvmlSource(int(arg) if arg else 0)
    if kind == "psutil":
        return PsutilSource()
    if kind == "fixed":
        if not arg:
            raise ValueError("fixed source needs a value: fixed:MHZ")
        return FixedSource(float(arg))
    if kind == "replay":
        if not arg:
            raise ValueError("replay source needs a file: replay:PATH.csv")
        return ReplaySource(arg)
    raise ValueError(f"unknown frequency source {spec!r}")


def detect_source(root: str = "/sys") -> Detection:
    """Tries the live sources best first and returns the first that works, with every reason."""
    det = Detection(source=None)
    for kind in _CANDIDATES:
        try:
            src = open_source(kind, root)
        except Unavailable as exc:
            det.tried.append((kind, f"not available: {exc}"))
            continue
        if det.source is None:
            det.source = src
            det.tried.append((kind, f"chosen: {src.describe()}"))
        else:
            det.tried.append((kind, f"also available: {src.describe()}"))
    return det
