"""DVFS support: frequency sources, the emulator, latency tables, the governor and benchmarks.

Native (C++, also usable without Python): cpufreq/devfreq sysfs readers, fixed and replayed
sources, :class:`Emulator`, :class:`Governor`. Python-only: NVML and psutil sources, calibration,
statistics, the four-way trace benchmark. :class:`allinone.adaptive.AdaptiveEngine` ties them to
an engine.
"""

from __future__ import annotations

from allinone.dvfs._native import native
from allinone.dvfs.sources import (
    CpufreqSource,
    Detection,
    DevfreqSource,
    FixedSource,
    NvmlSource,
    PsutilSource,
    Reading,
    ReplaySource,
    Source,
    Unavailable,
    detect_source,
    open_source,
)
from allinone.dvfs.stats import RunStats, summarize
from allinone.dvfs.table import LatencyTable, calibrate
from allinone.dvfs.traces import DEMO_TRACE, list_traces, load_trace, trace_path

Emulator = native.Emulator
Governor = native.Governor
GovernorConfig = native.GovernorConfig
list_cpufreq_policies = native.list_cpufreq_policies
list_devfreq_devices = native.list_devfreq_devices

__all__ = [
    "DEMO_TRACE",
    "CpufreqSource",
    "Detection",
    "DevfreqSource",
    "Emulator",
    "FixedSource",
    "Governor",
    "GovernorConfig",
    "LatencyTable",
    "NvmlSource",
    "PsutilSource",
    "Reading",
    "ReplaySource",
    "RunStats",
    "Source",
    "Unavailable",
    "calibrate",
    "detect_source",
    "list_cpufreq_policies",
    "list_devfreq_devices",
    "list_traces",
    "load_trace",
    "open_source",
    "summarize",
    "trace_path",
]
