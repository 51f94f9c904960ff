"""Instructions per inference on aarch64, per function, under qemu-user (tools/insn_profile.c).

Runs the aarch64_insns driver (benchmarks/aarch64_insns.py builds it) at two inference counts
with the profiling plugin, attributes each translated block's count to the function of
liballinone.so (or the other file) that holds it, and prints the per-inference difference, the
largest first. A block's count goes to the function of its first instruction: blocks do not
cross functions.

    gcc -shared -fPIC -O2 -o build/insn_profile.so tools/insn_profile.c
    python tools/insn_profile.py build/aarch64/insns_models/resnet18.aio 0
"""

from __future__ import annotations

import argparse
import bisect
import collections
import subprocess
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SYSROOT = "/usr/aarch64-linux-gnu"


def symbols(lib: Path) -> tuple[list[int], list[str]]:
    out = subprocess.run(
        ["aarch64-linux-gnu-nm", "-C", "--defined-only", "-n", str(lib)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    addrs, names = [], []
    for line in out.splitlines():
        parts = line.split(" ", 2)
        if len(parts) == 3 and parts[1] in "tTwW":
            addrs.append(int(parts[0], 16))
            names.append(parts[2])
    return addrs, names


def profile(args: argparse.Namespace, runs: int) -> collections.Counter[tuple[str, int]]:
    with tempfile.NamedTemporaryFile(suffix=".txt") as f:
        cmd = ["qemu-aarch64", "-L", SYSROOT, "-cpu", args.cpu]
        cmd += ["-plugin", f"{args.plugin},out={f.name}", str(args.driver)]
        cmd += [str(args.model), str(args.level), str(runs), args.winograd]
        subprocess.run(cmd, check=True, capture_output=True)
        counts: collections.Counter[tuple[str, int]] = collections.Counter()
        for line in Path(f.name).read_text().splitlines():
            if line.startswith("insns "):
                continue
            c, off, path = line.split(" ", 2)
            counts[(path, int(off, 16))] += int(c)
        return counts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model")
    ap.add_argument("level", type=int)
    ap.add_argument("--build", default=str(ROOT / "build" / "aarch64"))
    ap.add_argument("--plugin", default=str(ROOT / "build" / "insn_profile.so"))
    ap.add_argument("--cpu", default="cortex-a72")
    ap.add_argument("--winograd", default="1")
    ap.add_argument("--top", type=int, default=30)
    ap.add_argument("--blocks", default=None, help="also list this function's hottest blocks")
    args = ap.parse_args()
    build = Path(args.build)
    args.driver = build / "aarch64_insns_driver"
    lib = build / "lib" / "csrc" / "capi" / "liballinone.so"
    addrs, names = symbols(lib)
    c1, c2 = profile(args, 1), profile(args, 3)
    per_fn: collections.Counter[str] = collections.Counter()
    blocks: collections.Counter[int] = collections.Counter()
    for (path, off), n in (c2 - c1).items():
        if "liballinone.so" in Path(path).name and addrs:
            i = bisect.bisect_right(addrs, off) - 1
            name = names[i] if i >= 0 else "?"
            if args.blocks and args.blocks in name:
                blocks[off] += n
        else:
            name = Path(path).name
        per_fn[name] += n
    # c2 - c1 drops negative entries; the total is the plain difference
    total = sum(c2.values()) - sum(c1.values())
    print(f"total {total / 2 / 1e6:.2f} M per inference")
    for name, n in per_fn.most_common(args.top):
        print(f"{n / 2 / 1e6:9.2f} M  {100 * n / total:5.1f} %  {name[:110]}")
    for off, n in blocks.most_common(args.top):
        print(f"{n / 2 / 1e6:9.2f} M  block at {off:#x} (addr2line -e {lib.name} -i)")


if __name__ == "__main__":
    main()
