"""Setting a clock through sysfs: pin a cpufreq policy or a devfreq device to one frequency, wait
until it reads back, and restore exactly what was there.

Pinning (docs/device.md, /sys file semantics from the kernel's cpufreq and devfreq docs):

- cpufreq: the ``userspace`` governor and ``scaling_setspeed`` where the policy offers both,
  otherwise ``scaling_min_freq = scaling_max_freq`` under whatever governor runs;
- devfreq: the ``userspace`` governor and ``userspace/set_freq`` where offered, otherwise
  ``min_freq = max_freq``.

Limits are written in the order that keeps min <= max after every write, because kernels before
the 2019 QoS rework (Jetson JetPack 4 runs 4.9) refuse min > max with EINVAL.

Every file that will be written is opened for writing first (nothing is written) so that a tree
that is not writable fails before the first change, with a message that names the file and the
permission. :class:`PinSession` saves the original state to a file before the first write and
restores it on success, on an exception and on SIGINT/SIGTERM; :func:`restore_state_file` undoes a
session that was killed (``allinone sweep --restore STATE.json``).
"""

from __future__ import annotations

import errno
import json
import os
import signal
import stat
import threading
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

STATE_VERSION = 1


class ClockError(RuntimeError):
    """A clock cannot be pinned or restored here; the message names the file and why."""


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def _read_int(path: Path) -> int | None:
    text = _read(path)
    if text is None:
        return None
    try:
        return int(text.split()[0])
    except (ValueError, IndexError):
        return None  # "<unknown>", "<unsupported>"


def _who() -> str:
    return f"uid {os.geteuid()}" if hasattr(os, "geteuid") else "this user"


def explain_write_error(path: Path, exc: OSError) -> str:
    """One message naming the file, its permission and what to do."""
    try:
        st = path.stat()
        mode = f"mode {stat.S_IMODE(st.st_mode):04o}, owner uid {st.st_uid}"
    except OSError:
        mode = "mode unknown"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return (
            f"cannot write {path}: permission denied ({mode}; running as {_who()}). "
            "Run as root (sudo), or measure without touching the clock: --emulate"
        )
    if exc.errno == errno.EROFS:
        return (
            f"cannot write {path}: read-only file system (sysfs mounted read-only, e.g. in a "
            "container). Use --emulate"
        )
    if exc.errno == errno.ENOENT:
        return f"cannot write {path}: no such file (this driver does not offer it)"
    if exc.errno == errno.EINVAL:
        return f"{path}: the kernel refused the value (EINVAL: not a valid setting here)"
    return f"cannot write {path}: {exc.strerror or exc}"


def check_writable(paths: list[Path]) -> None:
    """Opens each file for writing without writing; raises ClockError naming the first that
    cannot be written. Nothing is changed."""
    for p in paths:
        try:
            fd = os.open(p, os.O_WRONLY)
        except OSError as exc:
            raise ClockError(explain_write_error(p, exc)) from exc
        os.close(fd)


def write_value(path: Path, value: str) -> None:
    """Writes one sysfs value; raises ClockError with the reason."""
    try:
        with open(path, "w") as f:
            f.write(value)
    except OSError as exc:
        raise ClockError(explain_write_error(path, exc)) from exc


@dataclass
class _Names:
    """The file names of one kind of clock (cpufreq and devfreq name the same things apart)."""

    kind: str
    per_mhz: int  # file units per MHz: kHz (cpufreq) or Hz (devfreq)
    governor: str
    governors: str
    min: str
    max: str
    setspeed: str
    current: tuple[str, ...]
    available: str
    hw_min: str
    hw_max: str


CPUFREQ = _Names(
    "cpufreq", 1000, "scaling_governor", "scaling_available_governors", "scaling_min_freq",
    "scaling_max_freq", "scaling_setspeed", ("cpuinfo_cur_freq", "scaling_cur_freq"),
    "scaling_available_frequencies", "cpuinfo_min_freq", "cpuinfo_max_freq",
)  # fmt: skip
DEVFREQ = _Names(
    "devfreq", 1_000_000, "governor", "available_governors", "min_freq", "max_freq",
    "userspace/set_freq", ("cur_freq",), "available_frequencies", "", "",
)  # fmt: skip


class SysfsClock:
    """One clock domain that can be pinned: a cpufreq policy directory or a devfreq device
    directory. ``method`` is "userspace" or "clamp" (min = max)."""

    def __init__(self, path: str | Path, names: _Names, label: str) -> None:
        self.path = Path(path)
        self.names = names
        self.label = label
        if not (self.path / names.max).exists():
            raise ClockError(f"{self.path}: not a {names.kind} directory (no {names.max})")
        govs = (_read(self.path / names.governors) or "").split()
        # cpufreq always has scaling_setspeed (reading "<unsupported>" under other governors).
        # devfreq creates userspace/set_freq only while the userspace governor runs, so a device
        # under another governor is pinned by min = max, which changes no governor at all.
        self.method = (
            "userspace"
            if "userspace" in govs and (self.path / names.setspeed).exists()
            else "clamp"
        )

    @property
    def kind(self) -> str:
        return self.names.kind

    def _f(self, leaf: str) -> Path:
        return self.path / leaf

    def describe(self) -> str:
        how = (
            f"userspace governor + {self.names.setspeed}"
            if self.method == "userspace"
            else f"{self.names.min} = {self.names.max}"
        )
        return f"{self.label} at {self.path}, pinned by {how}"

    def available_mhz(self) -> list[float]:
        """The clocks the driver offers (its table), else its hardware min and max."""
        text = _read(self._f(self.names.available))
        if text:
            vals = sorted({int(v) for v in text.split() if v.isdigit()})
            if vals:
                return [v / self.names.per_mhz for v in vals]
        lo = _read_int(self._f(self.names.hw_min)) if self.names.hw_min else None
        hi = _read_int(self._f(self.names.hw_max)) if self.names.hw_max else None
        lo = lo or _read_int(self._f(self.names.min))
        hi = hi or _read_int(self._f(self.names.max))
        return sorted({v / self.names.per_mhz for v in (lo, hi) if v})

    def current_mhz(self) -> float | None:
        """The clock as the hardware reports it (cpuinfo_cur_freq, devfreq cur_freq), falling back
        to scaling_cur_freq (the governor's last request); None when nothing is readable."""
        for leaf in self.names.current:
            v = _read_int(self._f(leaf))
            if v:
                return v / self.names.per_mhz
        return None

    def current_file(self) -> str:
        for leaf in self.names.current:
            if _read_int(self._f(leaf)):
                return leaf
        return ""

    # ------------------------------------------------------------------------ state
    def files_to_write(self) -> list[Path]:
        n = self.names
        files = [self._f(n.min), self._f(n.max)]
        if self.method == "userspace":
            files += [self._f(n.governor), self._f(n.setspeed)]
        return files

    def save(self) -> dict[str, Any]:
        """What restore() needs: governor, limits and (under userspace) the set speed."""
        n = self.names
        files: dict[str, str] = {}
        for leaf in (n.governor, n.min, n.max):
            v = _read(self._f(leaf))
            if v is None:
                raise ClockError(f"cannot read {self._f(leaf)}: needed to restore it later")
            files[leaf] = v
        if files[n.governor] == "userspace":
            v = _read(self._f(n.setspeed))
            if v is not None and v.isdigit():
                files[n.setspeed] = v
        return {"kind": n.kind, "path": str(self.path), "label": self.label, "files": files}

    def _set_limits(self, lo: int, hi: int) -> None:
        """min = lo, max = hi, in the order that never has min > max in between."""
        n = self.names
        cur_max = _read_int(self._f(n.max)) or 0
        if lo > cur_max:
            write_value(self._f(n.max), str(hi))
            write_value(self._f(n.min), str(lo))
        else:
            write_value(self._f(n.min), str(lo))
            write_value(self._f(n.max), str(hi))

    def pin(self, mhz: float) -> None:
        """Asks for `mhz`: setspeed under the userspace governor, or min = max."""
        n = self.names
        value = int(round(mhz * n.per_mhz))
        if self.method == "userspace":
            if _read(self._f(n.governor)) != "userspace":
                write_value(self._f(n.governor), "userspace")
            write_value(self._f(n.setspeed), str(value))
        else:
            self._set_limits(value, value)

    def restore(self, saved: dict[str, Any]) -> None:
        """Writes back what save() returned: limits, governor, set speed."""
        n = self.names
        files = saved["files"]
        self._set_limits(int(files[n.min]), int(files[n.max]))
        if _read(self._f(n.governor)) != files[n.governor]:
            write_value(self._f(n.governor), files[n.governor])
        if n.setspeed in files:
            write_value(self._f(n.setspeed), files[n.setspeed])

    def wait_for(self, mhz: float, timeout_s: float = 2.0, tolerance: float = 0.01) -> float | None:
        """Polls the read-back clock until it is within `tolerance` of `mhz`; returns the last
        reading (None if unreadable). The caller warns when it never got there."""
        deadline = time.monotonic() + timeout_s
        got = self.current_mhz()
        while got is None or abs(got - mhz) > tolerance * mhz:
            if time.monotonic() >= deadline:
                return got
            time.sleep(0.005)
            got = self.current_mhz()
        return got


def cpufreq_clock(root: str = "/sys", policy: int | None = None) -> SysfsClock:
    """The policy `policy` (policyN), or the one with the highest maximum clock."""
    base = Path(root) / "devices/system/cpu/cpufreq"
    if not base.is_dir():
        raise ClockError(
            f"cpufreq not available here: {base} does not exist (a VM?); "
            "measure without a clock: --emulate --freqs MHZ,..."
        )
    dirs = sorted(base.glob("policy[0-9]*"), key=lambda p: int(p.name[6:]))
    if not dirs:
        raise ClockError(
            f"cpufreq not available here: no policy* under {base}; "
            "measure without a clock: --emulate --freqs MHZ,..."
        )
    if policy is None:
        chosen = max(dirs, key=lambda p: _read_int(p / "cpuinfo_max_freq") or 0)
    else:
        chosen = base / f"policy{policy}"
        if not chosen.is_dir():
            raise ClockError(f"cpufreq: no policy{policy} under {base}")
    return SysfsClock(chosen, CPUFREQ, f"cpufreq {chosen.name}")


def devfreq_clock(root: str = "/sys", device: str = "") -> SysfsClock:
    """devfreq device `device` (its name under /sys/class/devfreq), or the first one there."""
    base = Path(root) / "class/devfreq"
    if not base.is_dir():
        raise ClockError(f"devfreq not available here: {base} does not exist")
    names = sorted(p.name for p in base.iterdir())
    if not names:
        raise ClockError(f"devfreq not available here: no device under {base}")
    name = device or names[0]
    if name not in names:
        raise ClockError(f"devfreq: no device {name!r} under {base} (have: {', '.join(names)})")
    return SysfsClock(base / name, DEVFREQ, f"devfreq {name}")


def open_clock(spec: str, root: str = "/sys") -> SysfsClock:
    """``cpufreq[:POLICY]`` or ``devfreq[:DEVICE]``."""
    kind, _, arg = spec.partition(":")
    if kind == "cpufreq":
        return cpufreq_clock(root, int(arg) if arg else None)
    if kind == "devfreq":
        return devfreq_clock(root, arg)
    raise ValueError(f"a clock to pin is cpufreq[:POLICY] or devfreq[:DEVICE], not {spec!r}")


class EmulatedClock:
    """No clock is touched: pin() only records the frequency that the emulator then imposes by
    busy-waiting. For machines without a writable clock; everything it measures is EMULATED."""

    kind = "emulated"
    method = "emulated"
    label = "emulated clock"

    def __init__(self, freqs_mhz: list[float]) -> None:
        if not freqs_mhz:
            raise ValueError("an emulated sweep needs frequencies (--freqs MHZ,...)")
        self._freqs = sorted(float(f) for f in freqs_mhz)
        self._mhz = self._freqs[-1]

    def describe(self) -> str:
        return "EMULATED clock (busy-waiting; nothing written)"

    def available_mhz(self) -> list[float]:
        return list(self._freqs)

    def current_mhz(self) -> float:
        return self._mhz

    def current_file(self) -> str:
        return ""

    def files_to_write(self) -> list[Path]:
        return []

    def save(self) -> dict[str, Any]:
        return {"kind": "emulated"}

    def pin(self, mhz: float) -> None:
        self._mhz = float(mhz)

    def restore(self, saved: dict[str, Any]) -> None:
        self._mhz = self._freqs[-1]

    def wait_for(self, mhz: float, timeout_s: float = 0.0, tolerance: float = 0.0) -> float:
        return self._mhz


# ------------------------------------------------------------------------------ sessions
class Interrupted(BaseException):  # noqa: N818 (a signal, like KeyboardInterrupt)
    """SIGTERM (or SIGINT) arrived during a pinning session; the session restored the clocks."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"interrupted by signal {signum}")
        self.signum = signum


def default_state_path() -> Path:
    """Where a session records the original state: $XDG_RUNTIME_DIR or the temp directory."""
    base = os.environ.get("XDG_RUNTIME_DIR") or os.environ.get("TMPDIR") or "/tmp"
    return Path(base) / "allinone-sweep-state.json"


def _clock_from_saved(saved: dict[str, Any]) -> SysfsClock:
    names = CPUFREQ if saved["kind"] == "cpufreq" else DEVFREQ
    return SysfsClock(saved["path"], names, saved.get("label", saved["kind"]))


def restore_state_file(path: str | Path) -> list[str]:
    """Restores every clock recorded in a state file (a session that was killed) and deletes the
    file. Returns what was restored, one line per clock."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ClockError(f"{path}: not a readable sweep state file ({exc})") from exc
    if not isinstance(data, dict) or data.get("version") != STATE_VERSION:
        raise ClockError(f"{path}: not a version-{STATE_VERSION} sweep state file")
    done = []
    for saved in data.get("clocks", []):
        _clock_from_saved(saved).restore(saved)
        done.append(f"restored {saved['path']}: {saved['files']}")
    path.unlink()
    return done


class PinSession:
    """Owns the clocks for one sweep: checks they are writable, records their state in
    `state_path` before the first write, and restores them on exit, whatever the exit (success,
    exception, SIGINT, SIGTERM: the signal handlers raise :class:`Interrupted` in the main
    thread so the ``with`` block unwinds). A state file left by an earlier session that was
    killed blocks a new one until it is restored (``allinone sweep --restore``)."""

    def __init__(self, clocks: list[Any], state_path: str | Path | None = None) -> None:
        self.clocks = clocks
        self.state_path = Path(state_path) if state_path else default_state_path()
        self._saved: list[dict[str, Any]] = []
        self._old_handlers: dict[int, Any] = {}
        self.live = any(c.kind != "emulated" for c in clocks)

    def __enter__(self) -> PinSession:
        if not self.live:
            return self
        if self.state_path.exists():
            raise ClockError(
                f"{self.state_path} exists: an earlier sweep did not restore its clocks. Run "
                f"`allinone sweep --restore {self.state_path}` first"
            )
        check_writable([f for c in self.clocks for f in c.files_to_write()])
        self._saved = [c.save() for c in self.clocks]
        state = {
            "version": STATE_VERSION,
            "pid": os.getpid(),
            "created": time.time(),
            "clocks": self._saved,
        }
        tmp = self.state_path.with_name(self.state_path.name + ".tmp")
        tmp.write_text(json.dumps(state, indent=2))
        os.replace(tmp, self.state_path)  # complete before the first write to a clock
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._old_handlers[sig] = signal.signal(sig, self._on_signal)
        return self

    @staticmethod
    def _on_signal(signum: int, _frame: FrameType | None) -> None:
        raise Interrupted(signum)

    def restore(self) -> None:
        """Restores every clock; the state file is removed only when all succeeded."""
        errors = []
        for clock, saved in zip(self.clocks, self._saved, strict=False):
            try:
                clock.restore(saved)
            except ClockError as exc:
                errors.append(str(exc))
        if errors:
            raise ClockError(
                "could not restore: " + "; ".join(errors) + f" (state kept in {self.state_path})"
            )
        self.state_path.unlink(missing_ok=True)

    def __exit__(self, *exc: object) -> None:
        if not self.live:
            return
        try:
            # A second signal while restoring must not cut the restore short.
            for sig in self._old_handlers:
                signal.signal(sig, signal.SIG_IGN)
            self.restore()
        finally:
            for sig, old in self._old_handlers.items():
                signal.signal(sig, old)
            self._old_handlers.clear()


def pin_and_wait(clock: Any, mhz: float, timeout_s: float = 2.0) -> tuple[float | None, bool]:
    """Pins and waits for the read-back; warns (never silently) when the clock did not get there.
    Returns (clock read back, settled)."""
    clock.pin(mhz)
    got = clock.wait_for(mhz, timeout_s)
    settled = got is not None and abs(got - mhz) <= 0.01 * mhz
    if not settled:
        seen = "unreadable" if got is None else f"{got:.0f} MHz"
        warnings.warn(
            f"{clock.label}: asked for {mhz:.0f} MHz, the clock reads {seen} after {timeout_s} s "
            "(firmware floor, thermal cap or a driver that rounds); measured anyway, at the "
            "clock read back",
            RuntimeWarning,
            stacklevel=2,
        )
    return got, settled
