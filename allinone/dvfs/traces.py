"""Frequency traces shipped in the package (allinone/data/traces/, see PROVENANCE.md there)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from allinone.dvfs._native import native

TRACE_DIR = Path(__file__).resolve().parent.parent / "data" / "traces"
DEMO_TRACE = "sd855_prime_thermal"


def list_traces() -> list[str]:
    """Names (file stems) of the shipped traces."""
    return sorted(p.stem for p in TRACE_DIR.glob("*.csv"))


def trace_path(name_or_path: str | Path) -> Path:
    """A path as given if it exists, else the shipped trace of that name (with or without .csv)."""
    p = Path(name_or_path)
    if p.exists():
        return p
    shipped = TRACE_DIR / (p.name if p.suffix == ".csv" else p.name + ".csv")
    if shipped.exists():
        return shipped
    raise FileNotFoundError(
        f"trace {str(name_or_path)!r} not found (shipped traces: {', '.join(list_traces())})"
    )


def load_trace(name_or_path: str | Path) -> dict[str, np.ndarray]:
    """Parses a trace into arrays ``t_s``, ``cpu_mhz`` and ``gpu_mhz`` (zeros when the trace has
    no GPU column). Strict: a malformed row, or bytes that are not text, raise ``Unavailable``
    naming the line."""
    path = trace_path(name_or_path)
    pts = native.parse_trace(path.read_bytes(), str(path))
    return {
        "t_s": np.array([p.t_s for p in pts]),
        "cpu_mhz": np.array([p.cpu_mhz for p in pts]),
        "gpu_mhz": np.array([p.gpu_mhz for p in pts]),
    }
