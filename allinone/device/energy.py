"""Energy sources, found the way frequency sources are: each says why it is not available here.

- ``powercap``: RAPL package zones (``/sys/class/powercap/intel-rapl:N/energy_uj``, cumulative
  µJ, root-only since CVE-2020-8694). The counter wraps at ``max_energy_range_uj``.
- ``hwmon``: ``energy*_input`` (cumulative µJ) or else ``power*_input`` (µW, sampled and
  integrated) of any hwmon device.
- ``ina3221``: the Jetson power monitor. JetPack 4: the ``ina3221x`` IIO driver,
  ``in_powerK_input`` in mW with ``rail_name_K``. JetPack 5/6: the ``ina3221`` hwmon driver,
  ``inK_input`` mV x ``currK_input`` mA with ``inK_label`` (no power file). The total is the
  ``VDD_IN`` (or ``POM_5V_IN``) rail where present, else the sum of the rails.

:class:`EnergyMeter` measures one block of work: joules, seconds and mean watts. CPU time per
inference comes from getrusage (:func:`cpu_time_s`) and is available everywhere.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol


class EnergyUnavailable(RuntimeError):
    """This energy source cannot work here; the message says why."""


class EnergySource(Protocol):
    name: str
    cumulative: bool  # True: read() is energy in J (a counter); False: read() is power in W

    def describe(self) -> str: ...
    def read(self) -> float: ...


def _int(path: Path) -> int:
    try:
        return int(path.read_text().split()[0])
    except PermissionError as exc:
        raise EnergyUnavailable(f"{path}: permission denied (root only)") from exc
    except (OSError, ValueError, IndexError) as exc:
        raise EnergyUnavailable(f"{path}: unreadable ({exc})") from exc


def _text(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError:
        return ""


class PowercapSource:
    """Sum of the RAPL package zones' energy counters, each unwrapped with its own range."""

    name = "powercap"
    cumulative = True

    def __init__(self, root: str = "/sys") -> None:
        base = Path(root) / "class/powercap"
        if not base.is_dir():
            raise EnergyUnavailable(f"powercap not available here: {base} does not exist")
        # Top-level zones only (intel-rapl:0, not intel-rapl:0:0): subzones are inside them.
        zones = sorted(p for p in base.glob("intel-rapl:*") if p.name.count(":") == 1)
        zones = [z for z in zones if (z / "energy_uj").exists()]
        if not zones:
            raise EnergyUnavailable(f"powercap not available here: no intel-rapl:N zone in {base}")
        self.zones = zones
        self._range = [_int(z / "max_energy_range_uj") for z in zones]
        self._last = [_int(z / "energy_uj") for z in zones]  # raises if root-only
        self._total_uj = 0

    def describe(self) -> str:
        names = ", ".join(f"{z.name} ({_text(z / 'name')})" for z in self.zones)
        return f"powercap RAPL energy_uj of {names}"

    def read(self) -> float:
        """Joules since construction, across counter wrap-arounds (one wrap per read at most)."""
        for i, z in enumerate(self.zones):
            e = _int(z / "energy_uj")
            delta = e - self._last[i]
            if delta < 0:  # wrapped: the counter restarted from 0 after max_energy_range_uj
                delta += self._range[i]
            self._total_uj += delta
            self._last[i] = e
        return self._total_uj / 1e6


@dataclass
class _Channel:
    path: Path
    scale: float  # file units -> W (power) or J (energy)
    label: str


class HwmonSource:
    """hwmon energy counters (energy*_input, µJ) if any device has them, else power*_input (µW)."""

    name = "hwmon"

    def __init__(self, root: str = "/sys") -> None:
        base = Path(root) / "class/hwmon"
        if not base.is_dir():
            raise EnergyUnavailable(f"hwmon not available here: {base} does not exist")
        energy: list[_Channel] = []
        power: list[_Channel] = []
        for dev in sorted(base.glob("hwmon*")):
            dev_name = _text(dev / "name") or dev.name
            if dev_name.startswith("ina3221"):
                continue  # the Jetson rails: the ina3221 source adds them up properly
            for f in sorted(dev.glob("energy*_input")):
                energy.append(_Channel(f, 1e-6, f"{dev_name}/{f.name}"))
            for f in sorted(dev.glob("power*_input")):
                power.append(_Channel(f, 1e-6, f"{dev_name}/{f.name}"))
        self.cumulative = bool(energy)
        self.channels = energy or power
        if not self.channels:
            raise EnergyUnavailable(
                f"hwmon not available here: no energy*_input or power*_input under {base}"
            )
        self.read()  # unreadable files fail now, with the reason

    def describe(self) -> str:
        what = "energy" if self.cumulative else "power"
        return f"hwmon {what}: " + ", ".join(c.label for c in self.channels)

    def read(self) -> float:
        return sum(_int(c.path) * c.scale for c in self.channels)


class Ina3221Source:
    """Jetson INA3221 rails: total input power in W (sampled, not a counter)."""

    name = "ina3221"
    cumulative = False
    TOTAL_RAILS = ("VDD_IN", "POM_5V_IN")

    def __init__(self, root: str = "/sys") -> None:
        drivers = Path(root) / "bus/i2c/drivers"
        self.rails: dict[str, tuple[Path, Path | None]] = {}  # label -> (power or mV, mA)
        self.layout = ""
        # JetPack 4: ina3221x IIO, in_powerK_input in mW.
        for dev in sorted(drivers.glob("ina3221x/*/iio:device*")):
            for k in range(3):
                label = _text(dev / f"rail_name_{k}")
                p = dev / f"in_power{k}_input"
                if label and p.exists():
                    self.rails[label] = (p, None)
            self.layout = "JetPack 4 ina3221x (IIO)"
        # JetPack 5/6: ina3221 hwmon, inK_input mV and currK_input mA (channels 1-3).
        if not self.rails:
            for dev in sorted(drivers.glob("ina3221/*/hwmon/hwmon*")):
                for k in (1, 2, 3):
                    label = _text(dev / f"in{k}_label")
                    v, c = dev / f"in{k}_input", dev / f"curr{k}_input"
                    if label and label != "NC" and v.exists() and c.exists():
                        self.rails[label] = (v, c)
                self.layout = "JetPack 5/6 ina3221 (hwmon)"
        if not self.rails:
            raise EnergyUnavailable(
                "ina3221 not available here: no ina3221x IIO or ina3221 hwmon rails under "
                f"{drivers}"
            )
        total = [r for r in self.TOTAL_RAILS if r in self.rails]
        self.used = total[:1] or sorted(self.rails)
        self.read()

    def describe(self) -> str:
        return f"ina3221 {self.layout}: {' + '.join(self.used)}"

    def read(self) -> float:
        watts = 0.0
        for label in self.used:
            a, b = self.rails[label]
            watts += _int(a) / 1e3 if b is None else _int(a) * _int(b) / 1e6
        return watts


_ENERGY = {"powercap": PowercapSource, "hwmon": HwmonSource, "ina3221": Ina3221Source}


@dataclass
class EnergyDetection:
    source: EnergySource | None
    tried: list[tuple[str, str]] = field(default_factory=list)

    def report(self) -> str:
        return "\n".join(f"  {name:9s} {why}" for name, why in self.tried)

    def summary(self) -> str:
        """The chosen source, or why none: for run contexts and /metrics."""
        if self.source is not None:
            return self.source.describe()
        return "none (" + "; ".join(why for _, why in self.tried) + ")"


def detect_energy(root: str = "/sys", only: str | None = None) -> EnergyDetection:
    """Tries powercap, then the Jetson rails, then hwmon; keeps every reason."""
    det = EnergyDetection(source=None)
    order = [only] if only else ["powercap", "ina3221", "hwmon"]
    for kind in order:
        if kind not in _ENERGY:
            raise ValueError(f"unknown energy source {kind!r} (have {', '.join(_ENERGY)})")
        try:
            src = _ENERGY[kind](root)
        except EnergyUnavailable as exc:
            det.tried.append((kind, str(exc)))
            continue
        if det.source is None:
            det.source = src
            det.tried.append((kind, f"chosen: {src.describe()}"))
        else:
            det.tried.append((kind, f"also available: {src.describe()}"))
    return det


def cpu_time_s() -> float:
    """CPU seconds (user + system) of this process, all threads (getrusage)."""
    try:
        import resource
    except ImportError:  # not POSIX
        return time.process_time()
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


@dataclass
class Measurement:
    seconds: float
    cpu_s: float
    joules: float | None  # None without an energy source

    @property
    def watts(self) -> float | None:
        return None if self.joules is None or self.seconds <= 0 else self.joules / self.seconds


class EnergyMeter:
    """Measures one block of work: ``with meter: ...`` then :attr:`last`. With a power source
    (not a counter) a thread samples it every `period_s` and integrates by trapezoids."""

    def __init__(self, source: EnergySource | None, period_s: float = 0.02) -> None:
        self.source = source
        self.period_s = period_s
        self.last: Measurement | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._joules = 0.0

    def _sample(self) -> None:
        assert self.source is not None
        t_prev, p_prev = self._t0, self._p0
        while not self._stop.wait(self.period_s):
            t, p = time.perf_counter(), self.source.read()
            self._joules += 0.5 * (p + p_prev) * (t - t_prev)
            t_prev, p_prev = t, p
        self._tail = (t_prev, p_prev)

    def __enter__(self) -> EnergyMeter:
        self._joules = 0.0
        if self.source is not None and not self.source.cumulative:
            self._p0 = self.source.read()
        elif self.source is not None:
            self._e0 = self.source.read()
        self._t0, self._cpu0 = time.perf_counter(), cpu_time_s()
        if self.source is not None and not self.source.cumulative:
            self._stop.clear()
            self._thread = threading.Thread(target=self._sample, name="aio-energy", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        t1, cpu1 = time.perf_counter(), cpu_time_s()
        joules: float | None = None
        if self.source is not None:
            if self.source.cumulative:
                joules = self.source.read() - self._e0
            else:
                self._stop.set()
                assert self._thread is not None
                self._thread.join()
                self._thread = None
                # The last stretch, from the last sample to the end of the block, at the last
                # power read (the sampler may have stopped a little after t1: clamp).
                t_last, p_last = self._tail
                joules = self._joules + p_last * max(0.0, t1 - t_last)
                if t_last > t1:
                    joules -= p_last * (t_last - t1)
        self.last = Measurement(seconds=t1 - self._t0, cpu_s=cpu1 - self._cpu0, joules=joules)


def per_inference(m: Measurement, count: int) -> dict[str, float | None]:
    """JSON fields for a block of `count` inferences."""
    n = max(count, 1)
    return {
        "cpu_ms_per_inference": m.cpu_s * 1e3 / n,
        "joules_per_inference": None if m.joules is None else m.joules / n,
        "mean_watts": m.watts,
    }


def is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


class LevelMeter:
    """Wraps a runner ``(level, f_mhz) -> ms`` (the trace and live benches' runners) and adds up,
    per level, inferences, CPU time (getrusage) and energy: a counter read around each run, or a
    power source read after each run times its duration. ``summary()`` gives per-level
    CPU ms, joules per inference and mean watts (None without a sensor)."""

    def __init__(self, runner: Any, source: EnergySource | None) -> None:
        self.runner = runner
        self.source = source
        self.emulated = getattr(runner, "emulated", False)
        self._acc: dict[int, list[float]] = {}  # level -> [count, cpu_s, joules, seconds]

    def __call__(self, level: int, f_mhz: float) -> float:
        cpu0 = cpu_time_s()
        e0 = self.source.read() if self.source is not None and self.source.cumulative else 0.0
        t0 = time.perf_counter()
        ms = self.runner(level, f_mhz)
        secs = time.perf_counter() - t0
        joules = 0.0
        if self.source is not None:
            joules = (
                self.source.read() - e0 if self.source.cumulative else self.source.read() * secs
            )
        acc = self._acc.setdefault(int(level), [0, 0.0, 0.0, 0.0])
        acc[0] += 1
        acc[1] += cpu_time_s() - cpu0
        acc[2] += joules
        acc[3] += secs
        return ms

    def summary(self) -> dict[str, dict[str, float | int | None]]:
        out: dict[str, dict[str, float | int | None]] = {}
        for level in sorted(self._acc):
            n, cpu, joules, secs = self._acc[level]
            has = self.source is not None
            out[str(level)] = {
                "inferences": int(n),
                "cpu_ms_per_inference": cpu * 1e3 / n,
                "joules_per_inference": joules / n if has else None,
                "mean_watts": joules / secs if has and secs > 0 else None,
            }
        return out
