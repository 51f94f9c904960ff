"""The run context: what a measurement was made on, written into every JSON that bench, sweep,
demo and the benchmarks produce. The host changes from day to day (an AMD EPYC one day, an Intel
Xeon with AMX the next); a number without its context cannot be compared with anything.
"""

from __future__ import annotations

import hashlib
import os
import platform
import socket
import time
from pathlib import Path
from typing import Any

from allinone.device.topology import current_affinity, format_cpu_list, read_topology

# CPU flags worth recording (the ones the kernels or their peers use); /proc/cpuinfo has ~100.
_FLAGS = (
    "sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl", "avx512_vnni",
    "avx512_bf16", "avx512_fp16", "amx_tile", "amx_bf16", "amx_int8", "avx_vnni",
    "asimd", "asimdhp", "asimddp", "fphp", "sve", "sve2", "i8mm", "bf16",
)  # fmt: skip


def _cpuinfo() -> dict[str, Any]:
    model, flags = "", set()
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        text = ""
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key in ("model name", "Hardware", "Model") and not model:
            model = value.strip()
        elif key in ("flags", "Features") and not flags:
            flags = set(value.split())
    if not model:
        model = platform.processor() or platform.machine()
    return {"cpu_model": model, "cpu_flags": [f for f in _FLAGS if f in flags]}


def _thermal(root: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for z in sorted(Path(root, "class/thermal").glob("thermal_zone*")):
        try:
            kind = (z / "type").read_text().strip()
            milli = int((z / "temp").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            continue
        out[f"{z.name}:{kind}"] = milli / 1000.0
    return out


def _policies(root: str) -> list[dict[str, Any]]:
    out = []
    base = Path(root, "devices/system/cpu/cpufreq")
    for d in sorted(base.glob("policy[0-9]*"), key=lambda p: int(p.name[6:])):
        row: dict[str, Any] = {"policy": d.name}
        for key, leaf in (
            ("cpus", "related_cpus"),
            ("governor", "scaling_governor"),
            ("cur_khz", "scaling_cur_freq"),
            ("hw_cur_khz", "cpuinfo_cur_freq"),
            ("min_khz", "scaling_min_freq"),
            ("max_khz", "scaling_max_freq"),
            ("hw_max_khz", "cpuinfo_max_freq"),
        ):
            try:
                text = (d / leaf).read_text().strip()
            except OSError:
                continue
            row[key] = int(text) if text.isdigit() else text
        out.append(row)
    return out


def file_hash(path: str | os.PathLike[str]) -> str:
    """sha256 of a file, hex; "" when unreadable."""
    h = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    except OSError:
        return ""
    return h.hexdigest()


def run_context(
    *,
    model: str | os.PathLike[str] | None = None,
    engine: Any = None,
    emulated: bool,
    root: str = "/sys",
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Host, CPU model and flags, ISA, threads and affinity, per-policy clocks and governor,
    thermal zones, the emulated flag, library version and the model file's sha256."""
    from allinone import _core

    ctx: dict[str, Any] = {
        "time_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "host": socket.gethostname(),
        "machine": platform.machine(),
        "kernel": platform.release(),
        **_cpuinfo(),
        "isa": _core.isa(),
        "cpus_online": os.cpu_count() or 0,
        "affinity": format_cpu_list(current_affinity()),
        "clusters": read_topology(root).describe(),
        "cpufreq": _policies(root),
        "thermal_c": _thermal(root),
        "emulated": bool(emulated),
        "version": _core.__version__,
    }
    if engine is not None:
        ctx["threads"] = int(engine.threads)
        aff = getattr(engine, "affinity", None)
        if aff:
            ctx["worker_affinity"] = format_cpu_list(list(aff))
    if model is not None:
        ctx["model"] = str(model)
        ctx["model_sha256"] = file_hash(model)
    if extra:
        ctx.update(extra)
    return ctx
