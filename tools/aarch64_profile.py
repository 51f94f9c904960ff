"""Where the aarch64 instructions of one inference go: counts per function under qemu-user.

Runs benchmarks/aarch64_insns_driver (built by benchmarks/aarch64_insns.py in --build) on one
model and level at two run counts under ``qemu-aarch64 -cpu cortex-a72`` with the plugin
tools/insn_profile.c, which attributes every translation block's instructions to its file
offset; the difference of the two runs, divided by the run difference, is one inference with
loading and packing dropped out. Offsets become function names through the library's symbol
table (inlined code counts in the function it was inlined into).

    python benchmarks/aarch64_insns.py --models resnet20 --levels 0   # builds, exports models
    python tools/aarch64_profile.py build/aarch64/insns_models/resnet20.aio 3
"""

from __future__ import annotations

import argparse
import bisect
import subprocess
import tempfile
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SYSROOT = "/usr/aarch64-linux-gnu"


def build_plugin(out: Path) -> Path:
    src = ROOT / "tools" / "insn_profile.c"
    if not out.exists() or out.stat().st_mtime < src.stat().st_mtime:
        subprocess.run(["gcc", "-shared", "-fPIC", "-O2", "-o", str(out), str(src)], check=True)
    return out


def profile(plugin: Path, exe: Path, args: list[str], cpu: str) -> dict[tuple[str, int], int]:
    """Instructions per (file, offset of a block's first instruction)."""
    with tempfile.NamedTemporaryFile(suffix=".txt") as f:
        p = subprocess.run(
            ["qemu-aarch64", "-L", SYSROOT, "-cpu", cpu, "-plugin", f"{plugin},out={f.name}"]
            + [str(exe), *args],
            capture_output=True,
            text=True,
            check=False,
        )
        if p.returncode != 0:
            raise SystemExit(f"aarch64_profile: {p.stderr.strip()}")
        counts: dict[tuple[str, int], int] = defaultdict(int)
        for line in Path(f.name).read_text().splitlines():
            off, n, path = line.split(maxsplit=2)
            counts[(path, int(off, 16))] += int(n)
    return counts


class Symbols:
    """Function of a file offset, from nm (offsets of text equal addresses in these libraries)."""

    def __init__(self, path: str) -> None:
        self.starts: list[int] = []
        self.names: list[str] = []
        try:
            out = subprocess.run(
                ["aarch64-linux-gnu-nm", "-C", "--defined-only", "-n", path],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
        except (subprocess.CalledProcessError, FileNotFoundError):
            out = ""
        for line in out.splitlines():
            parts = line.split(maxsplit=2)
            if len(parts) == 3 and parts[1] in "tTwW":
                self.starts.append(int(parts[0], 16))
                self.names.append(parts[2])

    def name(self, off: int) -> str:
        i = bisect.bisect_right(self.starts, off) - 1
        return self.names[i] if i >= 0 else f"?{off:x}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model")
    ap.add_argument("level", type=int)
    ap.add_argument("--build", default=str(ROOT / "build" / "aarch64"))
    ap.add_argument("--cpu", default="cortex-a72")
    ap.add_argument("--n1", type=int, default=1)
    ap.add_argument("--n2", type=int, default=2)
    ap.add_argument("--winograd", default="1")
    ap.add_argument("--top", type=int, default=40)
    ap.add_argument("--width", type=int, default=110, help="truncate names to this many chars")
    ap.add_argument(
        "--blocks", default=None, help="also list the blocks of functions containing this text"
    )
    args = ap.parse_args()
    build = Path(args.build)
    plugin = build_plugin(build / "insn_profile.so")
    exe = build / "aarch64_insns_driver"
    runs = []
    for n in (args.n1, args.n2):
        runs.append(
            profile(plugin, exe, [args.model, str(args.level), str(n), args.winograd], args.cpu)
        )
    syms: dict[str, Symbols] = {}
    per_fn: dict[str, float] = defaultdict(float)
    per_block: dict[tuple[str, int], float] = defaultdict(float)
    for sign, counts in ((-1, runs[0]), (1, runs[1])):
        for (path, off), n in counts.items():
            if path.startswith("/") and path not in syms:
                syms[path] = Symbols(path)
            lib = Path(path).name
            fn = syms[path].name(off) if path in syms else path
            per_fn[f"{lib}: {fn}"] += sign * n / (args.n2 - args.n1)
            if args.blocks and args.blocks in fn:
                per_block[(fn, off)] += sign * n / (args.n2 - args.n1)
    total = sum(per_fn.values())
    print(f"{total / 1e6:.2f} M instructions per inference ({args.model}, level {args.level})")
    for fn, n in sorted(per_fn.items(), key=lambda kv: -kv[1])[: args.top]:
        if abs(n) < 1000:
            break
        print(f"{n / 1e6:8.3f} M {100 * n / total:5.1f} %  {fn[: args.width]}")
    for (fn, off), n in sorted(per_block.items(), key=lambda kv: kv[0][1]):
        if abs(n) >= 1000:
            print(f"  block {off:x} {n / 1e6:8.3f} M  {fn[: args.width // 2]}")


if __name__ == "__main__":
    main()
