"""CPU clusters (big.LITTLE) from cpufreq, and pinning threads to them.

A cpufreq policy is a cluster: its ``related_cpus`` share one clock. Clusters are ranked by
``cpu_capacity`` where the kernel exposes it (arm/arm64: 1024 for the biggest core), else by the
policy's maximum clock (``cpuinfo_max_freq``). ncnn ranks by the maximum clock only, and
pytorch/cpuinfo reads the same files; a VM without cpufreq has one cluster of all CPUs.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Cluster:
    """One cpufreq policy: its CPUs, its clock limits (kHz) and, on arm, the cores' capacity."""

    policy: int  # -1: no cpufreq (all online CPUs, one cluster)
    cpus: list[int]
    max_khz: int = 0
    min_khz: int = 0
    capacity: int = 0  # cpu_capacity of its first CPU; 0 where not exposed (x86)
    governor: str = ""

    @property
    def name(self) -> str:
        return f"policy{self.policy}" if self.policy >= 0 else "all"


@dataclass
class Topology:
    clusters: list[Cluster] = field(default_factory=list)

    def ranked(self) -> list[Cluster]:
        """Clusters fastest first: by capacity where known, then by maximum clock."""
        return sorted(self.clusters, key=lambda c: (c.capacity, c.max_khz), reverse=True)

    @property
    def big(self) -> Cluster:
        return self.ranked()[0]

    @property
    def little(self) -> Cluster:
        return self.ranked()[-1]

    def policy_of(self, cpus: list[int]) -> Cluster | None:
        """The cluster holding all of `cpus`, or None when they span clusters or none is known."""
        want = set(cpus)
        for c in self.clusters:
            if c.policy >= 0 and want <= set(c.cpus):
                return c
        return None

    def describe(self) -> str:
        parts = []
        for c in self.ranked():
            mx = f", max {c.max_khz / 1000:.0f} MHz" if c.max_khz else " (no cpufreq)"
            cap = f", capacity {c.capacity}" if c.capacity else ""
            parts.append(f"{c.name}: cpus {format_cpu_list(c.cpus)}{mx}{cap}")
        return "; ".join(parts)


def parse_cpu_list(text: str) -> list[int]:
    """ "0-3 6", "4-7", "0,2,4-5" (the forms of related_cpus and of --cpus) -> sorted ids."""
    out: set[int] = set()
    for tok in text.replace(",", " ").split():
        a, sep, b = tok.partition("-")
        try:
            lo, hi = int(a), int(b) if sep else int(a)
        except ValueError:
            raise ValueError(f"bad CPU list {text!r}: {tok!r} is not N or N-M") from None
        if lo < 0 or hi < lo:
            raise ValueError(f"bad CPU list {text!r}: {tok!r}")
        out.update(range(lo, hi + 1))
    return sorted(out)


def format_cpu_list(cpus: list[int]) -> str:
    """[0, 1, 2, 3, 6] -> "0-3,6"."""
    s = sorted(set(cpus))
    runs: list[str] = []
    i = 0
    while i < len(s):
        j = i
        while j + 1 < len(s) and s[j + 1] == s[j] + 1:
            j += 1
        runs.append(str(s[i]) if i == j else f"{s[i]}-{s[j]}")
        i = j + 1
    return ",".join(runs)


def _int(path: Path) -> int:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 0


def read_topology(root: str = "/sys") -> Topology:
    """Clusters from <root>/devices/system/cpu/cpufreq/policy*; one cluster of the CPUs this
    process may use when there is no cpufreq."""
    base = Path(root) / "devices/system/cpu"
    topo = Topology()
    for d in sorted((base / "cpufreq").glob("policy[0-9]*"), key=lambda p: int(p.name[6:])):
        try:
            cpus = parse_cpu_list((d / "related_cpus").read_text())
        except (OSError, ValueError):
            continue
        if not cpus:
            continue
        try:
            gov = (d / "scaling_governor").read_text().strip()
        except OSError:
            gov = ""
        topo.clusters.append(
            Cluster(
                policy=int(d.name[6:]),
                cpus=cpus,
                max_khz=_int(d / "cpuinfo_max_freq") or _int(d / "scaling_max_freq"),
                min_khz=_int(d / "cpuinfo_min_freq") or _int(d / "scaling_min_freq"),
                capacity=_int(base / f"cpu{cpus[0]}" / "cpu_capacity"),
                governor=gov,
            )
        )
    if not topo.clusters:
        allowed = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
        topo.clusters.append(Cluster(policy=-1, cpus=allowed or list(range(os.cpu_count() or 1))))
    return topo


def resolve_cpus(spec: str, topo: Topology | None = None, root: str = "/sys") -> list[int]:
    """``--cpus``: a CPU list ("4-7", "0,2"), ``policyN``, ``big`` or ``little``."""
    spec = spec.strip()
    if spec in ("big", "little") or spec.startswith("policy"):
        topo = topo or read_topology(root)
        if spec == "big":
            return topo.big.cpus
        if spec == "little":
            return topo.little.cpus
        for c in topo.clusters:
            if c.name == spec:
                return c.cpus
        raise ValueError(f"--cpus {spec}: no such cpufreq policy here ({topo.describe()})")
    cpus = parse_cpu_list(spec)
    if not cpus:
        raise ValueError(f"--cpus {spec!r} names no CPU")
    return cpus


def pin_current_thread(cpus: list[int]) -> list[int]:
    """Pins the calling thread (Linux: affinity is per thread) and returns the set read back.
    Raises OSError when the kernel refuses it; warns when it took only part of it."""
    if not hasattr(os, "sched_setaffinity"):
        raise OSError("thread pinning needs Linux (os.sched_setaffinity)")
    os.sched_setaffinity(0, cpus)
    got = sorted(os.sched_getaffinity(0))
    if got != sorted(set(cpus)):
        warnings.warn(
            f"asked to run on CPUs {format_cpu_list(cpus)}, the kernel set {format_cpu_list(got)}",
            RuntimeWarning,
            stacklevel=2,
        )
    return got


def current_affinity() -> list[int]:
    """CPUs the calling thread may run on."""
    return sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
