"""Fake sysfs trees for the device tests, built from the files real boards expose (cpufreq
policies, devfreq devices, powercap, hwmon, the Jetson INA3221 layouts), and a "kernel" that
applies clock writes to the read-back files after a delay, as a driver would.

The kernel is a thread of its own process (``python fake_sysfs.py ROOT DELAY``), not of the
test's: a Python thread shares the GIL with the runs being timed, and on a loaded host it holds
the GIL while descheduled, which added milliseconds to runs of a fraction of one."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text + "\n")


def make_cpufreq(
    root: Path,
    policy: int,
    cpus: list[int],
    freqs_khz: list[int],
    *,
    governor: str = "schedutil",
    userspace: bool = True,
    capacity: int | None = None,
) -> Path:
    """A policyN directory (and cpuN/cpu_capacity when given) running at its maximum."""
    d = root / "devices/system/cpu/cpufreq" / f"policy{policy}"
    lo, hi = min(freqs_khz), max(freqs_khz)
    govs = "performance powersave schedutil" + (" userspace" if userspace else "")
    files = {
        "related_cpus": " ".join(map(str, cpus)),
        "affected_cpus": " ".join(map(str, cpus)),
        "cpuinfo_min_freq": str(lo),
        "cpuinfo_max_freq": str(hi),
        "cpuinfo_cur_freq": str(hi),
        "scaling_cur_freq": str(hi),
        "scaling_min_freq": str(lo),
        "scaling_max_freq": str(hi),
        "scaling_governor": governor,
        "scaling_available_governors": govs,
        "scaling_available_frequencies": " ".join(map(str, sorted(freqs_khz))),
        "scaling_driver": "cpufreq-dt",
    }
    if userspace:
        files["scaling_setspeed"] = "<unsupported>"
    for leaf, text in files.items():
        write(d / leaf, text)
    if capacity is not None:
        for c in cpus:
            write(root / f"devices/system/cpu/cpu{c}/cpu_capacity", str(capacity))
    return d


def make_devfreq(root: Path, name: str, freqs_hz: list[int], *, userspace: bool = False) -> Path:
    """A /sys/class/devfreq/<name> device (a directory here, a symlink on a device). With
    `userspace` it runs the userspace governor, whose userspace/set_freq exists only then."""
    d = root / "class/devfreq" / name
    lo, hi = min(freqs_hz), max(freqs_hz)
    govs = "nvhost_podgov performance simple_ondemand" + (" userspace" if userspace else "")
    for leaf, text in {
        "cur_freq": str(hi),
        "target_freq": str(hi),
        "min_freq": str(lo),
        "max_freq": str(hi),
        "governor": "userspace" if userspace else "nvhost_podgov",
        "available_governors": govs,
        "available_frequencies": " ".join(map(str, sorted(freqs_hz))),
        "polling_interval": "50",
    }.items():
        write(d / leaf, text)
    if userspace:
        write(d / "userspace/set_freq", str(hi))
    return d


def _int(p: Path) -> int | None:
    try:
        return int(p.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


class FakeKernel:
    """``with FakeKernel(root):`` runs :class:`KernelLoop` in a child process."""

    def __init__(self, root: Path, delay_s: float = 0.02) -> None:
        self.cmd = [sys.executable, __file__, str(root), str(delay_s)]
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> FakeKernel:
        self.proc = subprocess.Popen(self.cmd, stdout=subprocess.PIPE)
        assert self.proc.stdout is not None
        assert self.proc.stdout.readline().strip() == b"ready"
        return self

    def __exit__(self, *exc: object) -> None:
        assert self.proc is not None
        self.proc.terminate()
        self.proc.communicate(timeout=10)  # reaps it and closes the pipe


class KernelLoop:
    """Applies clock requests after `delay_s`: under the userspace governor, the set speed
    clamped to [min, max]; under any other, the max limit (a busy CPU). Writes the result to the
    read-back files (cpuinfo_cur_freq/scaling_cur_freq, devfreq cur_freq)."""

    def __init__(self, root: Path, delay_s: float = 0.02) -> None:
        self.root = root
        self.delay_s = delay_s
        self._stop = threading.Event()
        self._pending: dict[Path, tuple[int, float]] = {}
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _want(self, d: Path, gov: str, setspeed: str, lo: str, hi: str) -> int | None:
        mn, mx = _int(d / lo), _int(d / hi)
        if mn is None or mx is None:
            return None
        try:
            governor = (d / gov).read_text().strip()
        except OSError:
            return None
        sp = _int(d / setspeed)
        if governor == "userspace" and sp:
            return max(mn, min(sp, mx))
        return max(mn, mx)

    def _loop(self) -> None:
        while not self._stop.wait(0.002):
            now = time.monotonic()
            domains = [
                (d, self._want(d, "scaling_governor", "scaling_setspeed", "scaling_min_freq",
                               "scaling_max_freq"), ("cpuinfo_cur_freq", "scaling_cur_freq"))
                for d in (self.root / "devices/system/cpu/cpufreq").glob("policy*")
            ] + [
                (d, self._want(d, "governor", "userspace/set_freq", "min_freq", "max_freq"),
                 ("cur_freq",))
                for d in (self.root / "class/devfreq").glob("*")
            ]  # fmt: skip
            for d, want, outs in domains:
                if want is None:
                    continue
                if _int(d / outs[0]) == want:
                    self._pending.pop(d, None)
                    continue
                seen = self._pending.get(d)
                if seen is None or seen[0] != want:
                    self._pending[d] = (want, now)
                elif now - seen[1] >= self.delay_s:
                    for leaf in outs:
                        (d / leaf).write_text(f"{want}\n")
                    self._pending.pop(d, None)


def make_powercap(root: Path, energy_uj: int, max_range_uj: int) -> Path:
    z = root / "class/powercap/intel-rapl:0"
    write(z / "name", "package-0")
    write(z / "energy_uj", str(energy_uj))
    write(z / "max_energy_range_uj", str(max_range_uj))
    write(root / "class/powercap/intel-rapl:0:0/name", "core")  # a subzone: not summed
    write(root / "class/powercap/intel-rapl:0:0/energy_uj", "5")
    return z


def make_ina3221_jp4(root: Path, rails: dict[str, int]) -> Path:
    """JetPack 4: /sys/bus/i2c/drivers/ina3221x/6-0040/iio:device0, in_powerK_input in mW."""
    d = root / "bus/i2c/drivers/ina3221x/6-0040/iio:device0"
    for k, (label, mw) in enumerate(rails.items()):
        write(d / f"rail_name_{k}", label)
        write(d / f"in_power{k}_input", str(mw))
    return d


def make_ina3221_jp5(root: Path, rails: dict[str, tuple[int, int]]) -> Path:
    """JetPack 5/6: .../drivers/ina3221/1-0040/hwmon/hwmon3, inK_input mV and currK_input mA."""
    d = root / "bus/i2c/drivers/ina3221/1-0040/hwmon/hwmon3"
    write(d / "name", "ina3221")
    for k, (label, (mv, ma)) in enumerate(rails.items(), start=1):
        write(d / f"in{k}_label", label)
        write(d / f"in{k}_input", str(mv))
        write(d / f"curr{k}_input", str(ma))
    return d


if __name__ == "__main__":
    loop = KernelLoop(Path(sys.argv[1]), float(sys.argv[2]))
    loop.start()
    print("ready", flush=True)
    loop._thread.join()  # until terminated
