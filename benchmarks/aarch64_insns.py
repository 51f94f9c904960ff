"""Instructions per inference on aarch64, counted under qemu-user (no ARM hardware needed).

Cross-builds the library for aarch64 (or reuses ``--build``), exports the zoo models ResNet-18
(224), MobileNetV2 (224) and ResNet-20 (32x32) with four nested levels (random weights, seeded, as
``benchmarks/latency.py``), and runs every level on one thread under ``qemu-aarch64 -cpu
cortex-a72`` with the instruction-counting TCG plugin (``../shared/tools/insn_count.c``). The
count per inference is (count(N2) - count(N1)) / (N2 - N1): loading and weight packing drop out.
It is a proxy for the work issued, not a time: it sees neither cache misses nor pipeline stalls.

    python benchmarks/aarch64_insns.py                       # all models, all levels
    python benchmarks/aarch64_insns.py --models resnet20 --json out.json
    python benchmarks/aarch64_insns.py --no-winograd          # the engine's winograd=0 path
    python benchmarks/aarch64_insns.py --models mobilenet_v3_small mobilenet_v3_large \
        efficientnet_b0 yolo_small --size 96 --vs-scalar   # the format-2 operators, NEON vs scalar

The format-2 models (squeeze-excite, hardswish / SiLU, 5x5 depthwise, concatenation, resize,
softmax) export at their nominal input size (``zoo.INPUT_SIZE``) or at ``--size`` (square), which
keeps their emulated runs short; ``--vs-scalar`` counts every level again with
``AIO_FORCE_ISA=scalar`` (the portable kernels) and prints both.

Needs g++-aarch64-linux-gnu, qemu-user, and torch on this (x86-64) side for the export.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SYSROOT = "/usr/aarch64-linux-gnu"
MODELS = ("resnet18", "mobilenet_v2", "resnet20")
# The format-2 models (issue 20), exported here at --size or their nominal input size.
NEW_OP_MODELS = (
    "mobilenet_v3_small",
    "mobilenet_v3_large",
    "efficientnet_b0",
    "yolo_small",
    "unet_small",
)
# ncnn's fp32 NEON counts with the same plugin and -cpu (issue 17): commit a4d2ea1, Caffe-style
# nets with 0.7 % (ResNet-18) and 4 % (MobileNetV2) more MACs than ours.
NCNN_L0 = {"resnet18": 244.0e6, "mobilenet_v2": 104.4e6}

TOOLCHAIN = f"""set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)
set(CMAKE_FIND_ROOT_PATH {SYSROOT})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
set(CMAKE_CROSSCOMPILING_EMULATOR qemu-aarch64 -L {SYSROOT})
"""


def run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, check=True, text=True, **kw)


def build_library(build: Path, jobs: int) -> Path:
    """Configures (once) and builds the aarch64 library; returns the folder of liballinone.so."""
    lib = build / "lib"
    if not (lib / "build.ninja").exists():
        build.mkdir(parents=True, exist_ok=True)
        tc = build / "aarch64-toolchain.cmake"
        tc.write_text(TOOLCHAIN)
        run(
            [
                "cmake",
                "-S",
                str(ROOT),
                "-B",
                str(lib),
                "-G",
                "Ninja",
                "-DCMAKE_BUILD_TYPE=Release",
                f"-DCMAKE_TOOLCHAIN_FILE={tc.resolve()}",
                "-DALLINONE_BUILD_TESTS=ON",
                "-DALLINONE_BUILD_PYTHON=OFF",
            ],
            stdout=subprocess.DEVNULL,
        )
    run(
        ["cmake", "--build", str(lib), "-j", str(jobs), "--target", "allinone"],
        stdout=subprocess.DEVNULL,
    )
    return lib / "csrc" / "capi"


def build_driver(build: Path, libdir: Path) -> Path:
    exe = build / "aarch64_insns_driver"
    src = ROOT / "benchmarks" / "aarch64_insns_driver.c"
    run(
        [
            "aarch64-linux-gnu-gcc",
            "-O2",
            "-Wall",
            "-Wextra",
            "-o",
            str(exe),
            str(src),
            f"-I{ROOT / 'csrc' / 'include'}",
            f"-L{libdir}",
            "-lallinone",
            f"-Wl,-rpath,{libdir.resolve()}",
        ]
    )
    return exe


def find_plugin(build: Path, given: str | None) -> Path:
    """The counting plugin: --plugin, $AIO_INSN_PLUGIN, or built from ../shared/tools."""
    for p in (given, os.environ.get("AIO_INSN_PLUGIN")):
        if p:
            return Path(p)
    out = build / "insn_count.so"
    if not out.exists():
        src = ROOT.parent / "shared" / "tools" / "insn_count.c"
        if not src.exists():
            sys.exit(f"aarch64_insns: no plugin; pass --plugin (source: {src})")
        run(["gcc", "-shared", "-fPIC", "-O2", "-o", str(out), str(src)])
    return out


def load_latency_module():
    spec = importlib.util.spec_from_file_location("aio_latency", ROOT / "benchmarks" / "latency.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up there
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))  # the allinone package of this checkout
    spec.loader.exec_module(mod)
    return mod


def count(
    plugin: Path, cpu: str, exe: Path, args: list[str], env: dict[str, str]
) -> tuple[int, str]:
    """Guest instructions of one run, and the driver's stdout."""
    p = subprocess.run(
        ["qemu-aarch64", "-L", SYSROOT, "-cpu", cpu, "-plugin", str(plugin), str(exe), *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    m = re.search(r"insns (\d+)", p.stderr)
    if p.returncode != 0 or not m:
        sys.exit(f"aarch64_insns: {exe.name} {' '.join(args)} failed: {p.stderr.strip()}")
    return int(m.group(1)), p.stdout


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", default=str(ROOT / "build" / "aarch64"), help="aarch64 build dir")
    ap.add_argument("--no-build", action="store_true", help="reuse the library as it is")
    ap.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS + NEW_OP_MODELS)
    ap.add_argument(
        "--size", type=int, default=None, help="square input size of the format-2 models"
    )
    ap.add_argument("--vs-scalar", action="store_true", help="also count with AIO_FORCE_ISA=scalar")
    ap.add_argument("--levels", nargs="+", type=int, default=[0, 1, 2, 3])
    ap.add_argument("--cpu", default="cortex-a72", help="qemu -cpu (cortex-a72: ARMv8.0)")
    ap.add_argument("--plugin", default=None, help="insn_count.so (default: build it)")
    ap.add_argument("--n1", type=int, default=1)
    ap.add_argument("--n2", type=int, default=3)
    ap.add_argument("--no-winograd", action="store_true", help="engine option winograd=0")
    ap.add_argument("--isa", default=None, help="AIO_FORCE_ISA for the runs (e.g. scalar)")
    ap.add_argument("--json", default=None, help="write the rows here")
    ap.add_argument("-j", "--jobs", type=int, default=2)
    args = ap.parse_args()

    for tool in ("aarch64-linux-gnu-gcc", "qemu-aarch64"):
        if not shutil.which(tool):
            sys.exit(
                f"aarch64_insns: {tool} not found (apt-get install g++-aarch64-linux-gnu qemu-user)"
            )
    build = Path(args.build)
    libdir = build / "lib" / "csrc" / "capi"
    if not args.no_build:
        libdir = build_library(build, args.jobs)
    exe = build_driver(build, libdir)
    plugin = find_plugin(build, args.plugin)
    env = dict(os.environ)
    env.pop("AIO_FORCE_ISA", None)
    if args.isa:
        env["AIO_FORCE_ISA"] = args.isa

    models_dir = build / "insns_models"
    models_dir.mkdir(parents=True, exist_ok=True)
    latency = None
    wino = "0" if args.no_winograd else "1"
    rows = []
    isa = features = ""
    scalar_env = dict(env, AIO_FORCE_ISA="scalar")
    for name in args.models:
        path = models_dir / f"{name}.aio"
        if name in NEW_OP_MODELS:
            # Exported as latency.py exports its cases, at this input size (one folder per size).
            latency = latency or load_latency_module()
            from allinone.zoo import INPUT_SIZE

            h, w = (args.size, args.size) if args.size else INPUT_SIZE[name]
            path = models_dir / f"{h}x{w}" / f"{name}.aio"
            latency.CASES[name] = ((3, h, w), {})
        if not path.exists():
            latency = latency or load_latency_module()
            path.parent.mkdir(parents=True, exist_ok=True)
            latency.build_model(name, path.parent)

        def per_inference(
            level: int, run_env: dict[str, str], path: Path = path
        ) -> tuple[float, str]:
            a = [str(path), str(level)]
            c1, _ = count(plugin, args.cpu, exe, [*a, str(args.n1), wino], run_env)
            c2, out = count(plugin, args.cpu, exe, [*a, str(args.n2), wino], run_env)
            return (c2 - c1) / (args.n2 - args.n1), out

        for level in args.levels:
            t0 = time.time()
            per, out = per_inference(level, env)
            fields = out.split()
            isa, flops, features = fields[1], int(fields[3]), fields[5].replace("-", "")
            macs = flops / 2
            row = {
                "model": name,
                "level": level,
                "macs": macs,
                "insns": per,
                "insns_per_mac": per / macs if macs else 0.0,
            }
            line = (
                f"{name:13s} L{level}  MACs {macs / 1e6:9.1f} M  insns {per / 1e6:9.1f} M  "
                f"per MAC {per / macs:.3f}"
            )
            if args.vs_scalar:
                scalar, _ = per_inference(level, scalar_env)
                row["insns_scalar"] = scalar
                line += f"  scalar {scalar / 1e6:9.1f} M ({scalar / per:.2f}x)"
            rows.append(row)
            print(f"{line}  ({time.time() - t0:.0f} s)", flush=True)

    print(
        f"\nisa {isa} (extensions: {features or 'none'}), qemu -cpu {args.cpu}, 1 thread, "
        f"winograd {'off' if wino == '0' else 'on'}"
    )
    if args.vs_scalar:
        print("| model | level | MACs | scalar | per MAC | NEON | per MAC | scalar / NEON |")
        print("|---|---|---|---|---|---|---|---|")
        for r in rows:
            m, sc = r["macs"], r["insns_scalar"]
            print(
                f"| {r['model']} | L{r['level']} | {m / 1e6:.1f} M | {sc / 1e6:.1f} M | "
                f"{sc / m:.3f} | {r['insns'] / 1e6:.1f} M | {r['insns_per_mac']:.3f} | "
                f"{sc / r['insns']:.2f}x |"
            )
    else:
        print("| model | level | MACs | instructions | per MAC | ncnn fp32 (L0) |")
        print("|---|---|---|---|---|---|")
        for r in rows:
            ncnn = NCNN_L0.get(r["model"]) if r["level"] == 0 else None
            ncnn_s = f"{ncnn / 1e6:.1f} M" if ncnn else ""
            print(
                f"| {r['model']} | L{r['level']} | {r['macs'] / 1e6:.1f} M | "
                f"{r['insns'] / 1e6:.1f} M | {r['insns_per_mac']:.3f} | {ncnn_s} |"
            )
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {
                    "cpu": args.cpu,
                    "isa": isa,
                    "isa_features": features,
                    "threads": 1,
                    "winograd": wino == "1",
                    "rows": rows,
                },
                indent=2,
            )
            + "\n"
        )


if __name__ == "__main__":
    main()
