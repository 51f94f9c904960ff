#!/usr/bin/env bash
# aarch64 check: cross-compiles the library, the C++ tests and examples/cpp_app with Debian's
# g++-aarch64-linux-gnu, runs the tests under qemu-user (ctest, through
# CMAKE_CROSSCOMPILING_EMULATOR), then checks that every level of a model gives the same outputs on
# aarch64 as on this x86-64 host: the demo model, and the zoo's ResNet-20 (32x32), MobileNetV2,
# and the format-2 nets MobileNetV3-Small (squeeze-excite, hardswish, 5x5 depthwise),
# EfficientNet-B0 (SiLU, sigmoid gates, 5x5 depthwise at stride 2), the YOLO-style net (concat,
# nearest resize at scales 2 and 4, SPPF) and the U-Net (bilinear resize, softmax), at 64x64 input
# to keep the emulated runs short, exported with random weights.
#
# Kernels on aarch64: the NEON (ASIMD, ARMv8.0) kernels (csrc/kernels/*_neon.cpp), which every
# aarch64 CPU runs; aio_get_isa() says "neon". The C++ kernel tests run every kernel for each ISA
# the CPU has (for_each_isa: scalar and neon here). The zoo models run on aarch64 with the NEON
# kernels at 1 and 2 worker threads (the pool and the tiling are ISA-independent; test_concurrency
# also runs a 2-thread pool under qemu) and with AIO_FORCE_ISA=scalar, which must still lower the
# kernel set to the portable path; all are compared with the x86-64 outputs at the tolerance the
# x86 path meets against PyTorch (max |diff| <= 1e-4 max |ref| per level, tests/test_engine.py).
# The zoo models need torch and allinone importable on this (x86-64) side, for the export.
#
#   tools/aarch64_check.sh            # needs g++-aarch64-linux-gnu and qemu-user installed
#   tools/aarch64_check.sh --install  # apt-get installs them first (root, Debian/Ubuntu)
#
# Env: BUILD (default build/aarch64), MODEL (default allinone/data/demo.aio; if absent, the tiny
# model test_capi writes). Takes ~6 minutes on 2 busy cores from scratch (cross build, the C++
# tests under qemu, the zoo export and its emulated runs).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
BUILD=${BUILD:-build/aarch64}
JOBS=${JOBS:-2}
SYSROOT=/usr/aarch64-linux-gnu

if [[ "${1:-}" == "--install" ]]; then
  if ! command -v aarch64-linux-gnu-g++ >/dev/null || ! command -v qemu-aarch64 >/dev/null; then
    echo "== installing g++-aarch64-linux-gnu qemu-user (apt-get) =="
    apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q g++-aarch64-linux-gnu qemu-user >/dev/null
  fi
fi
for tool in aarch64-linux-gnu-g++ aarch64-linux-gnu-gcc qemu-aarch64; do
  if ! command -v "$tool" >/dev/null; then
    echo "aarch64_check: $tool not found; apt-get install g++-aarch64-linux-gnu qemu-user" \
      "(or run with --install)" >&2
    exit 2
  fi
done

mkdir -p "$BUILD"
TOOLCHAIN="$ROOT/$BUILD/aarch64-toolchain.cmake"
cat >"$TOOLCHAIN" <<TC
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)
set(CMAKE_FIND_ROOT_PATH $SYSROOT)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
set(CMAKE_CROSSCOMPILING_EMULATOR qemu-aarch64 -L $SYSROOT)
TC
QEMU=(qemu-aarch64 -L "$SYSROOT")

echo "== aarch64: configure + build (library, C++ tests) =="
cmake -S . -B "$BUILD/lib" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_TOOLCHAIN_FILE="$TOOLCHAIN" \
  -DALLINONE_BUILD_TESTS=ON -DALLINONE_BUILD_PYTHON=OFF -DALLINONE_INSTALL=ON \
  -DCMAKE_INSTALL_PREFIX="$ROOT/$BUILD/prefix" >/dev/null
cmake --build "$BUILD/lib" -j"$JOBS"
aarch64-linux-gnu-readelf -h "$BUILD/lib/csrc/capi/liballinone.so" | grep -q "AArch64" \
  || { echo "aarch64_check: liballinone.so is not an aarch64 binary" >&2; exit 1; }

echo "== aarch64: C++ tests under qemu-aarch64 =="
ctest --test-dir "$BUILD/lib" --output-on-failure

echo "== aarch64: install, build examples/cpp_app against the installed package =="
cmake --install "$BUILD/lib" >/dev/null
cmake -S examples/cpp_app -B "$BUILD/app" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_TOOLCHAIN_FILE="$TOOLCHAIN" -Dallinone_DIR="$ROOT/$BUILD/prefix/lib/cmake/allinone" \
  >/dev/null
cmake --build "$BUILD/app" -j"$JOBS"

MODEL=${MODEL:-allinone/data/demo.aio}
if [[ ! -f "$MODEL" ]]; then
  echo "($MODEL absent: using the tiny model test_capi writes)"
  MODEL="$BUILD/tiny.aio"
  "${QEMU[@]}" "$BUILD/lib/tests/cpp/test_capi" --write-model "$MODEL"
fi
TRACE=allinone/data/traces/rpi4_thermal_throttle.csv
[[ -f "$TRACE" ]] || TRACE=../shared/traces/rpi4_thermal_throttle.csv

echo "== aarch64: c_app and cpp_app under qemu ($MODEL) =="
"${QEMU[@]}" "$BUILD/app/c_app" "$MODEL"
# Under qemu the latencies are emulation-of-emulation and mean nothing; this shows it runs.
"${QEMU[@]}" "$BUILD/app/cpp_app" "$MODEL" "$TRACE" --steps 40 --runs 2 --slices 4

echo "== same outputs as x86-64? (every level, fixed input) =="
cmake -S . -B "$BUILD/native" -G Ninja -DCMAKE_BUILD_TYPE=Release -DALLINONE_BUILD_TESTS=OFF \
  -DALLINONE_BUILD_PYTHON=OFF -DALLINONE_INSTALL=ON \
  -DCMAKE_INSTALL_PREFIX="$ROOT/$BUILD/native-prefix" \
  >/dev/null
cmake --build "$BUILD/native" -j"$JOBS" --target allinone
cmake --install "$BUILD/native" >/dev/null
cmake -S examples/cpp_app -B "$BUILD/native-app" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$ROOT/$BUILD/native-prefix" >/dev/null
cmake --build "$BUILD/native-app" -j"$JOBS" --target c_app
"${QEMU[@]}" "$BUILD/app/c_app" "$MODEL" --dump >"$BUILD/out_aarch64.txt"
AIO_FORCE_ISA=scalar "$BUILD/native-app/c_app" "$MODEL" --dump >"$BUILD/out_x86_scalar.txt"
"$BUILD/native-app/c_app" "$MODEL" --dump >"$BUILD/out_x86_best.txt"
NATIVE_ISA=$("$BUILD/native-app/c_app" "$MODEL" | sed -n 's/.*, \([a-z0-9]*\) kernels).*/\1/p')

# Tolerances as before the NEON kernels: they sum in another order than x86's kernels, but the
# demo model's sums are short (2.4e-7 against x86's scalar kernels when this was written).
python3 - "$BUILD" "$NATIVE_ISA" <<'PY'
import sys

build, native_isa = sys.argv[1], sys.argv[2]

def load(name):
    rows = {}
    with open(f"{build}/{name}") as f:
        for line in f:
            head, vals = line.split(":", 1)
            rows[head] = [float(v) for v in vals.split()]
    return rows

arm = load("out_aarch64.txt")
ok = True
for name, label, tol in (("out_x86_scalar.txt", "x86-64 scalar", 1e-5),
                         ("out_x86_best.txt", f"x86-64 {native_isa}", 1e-4)):
    ref = load(name)
    if ref.keys() != arm.keys():
        print(f"aarch64 vs {label}: different levels"); ok = False; continue
    worst = 0.0
    for k in ref:
        scale = max(max(abs(v) for v in ref[k]), 1e-30)
        worst = max(worst, max(abs(a - b) for a, b in zip(arm[k], ref[k])) / scale)
    verdict = "OK" if worst <= tol else "FAIL"
    ok &= worst <= tol
    print(f"aarch64 (neon) vs {label}: {len(ref)} levels, max |diff| / max |ref| = {worst:.2e}"
          f" (tolerance {tol:g}) {verdict}")
sys.exit(0 if ok else 1)
PY

echo "== CPU extensions as detected under qemu (aio_get_isa_features) =="
# qemu's cortex-a72 is ARMv8.0 (none); its max CPU has fp16, dotprod and i8mm.
A72=$("${QEMU[@]}" -cpu cortex-a72 "$BUILD/lib/tests/cpp/test_capi" --isa)
MAX=$("${QEMU[@]}" -cpu max "$BUILD/lib/tests/cpp/test_capi" --isa)
echo "  -cpu cortex-a72: $A72"
echo "  -cpu max:        $MAX"
[[ "$A72" == "neon " && "$MAX" == "neon fp16,dotprod,i8mm" ]] \
  || { echo "aarch64_check: unexpected ISA / extensions" >&2; exit 1; }

echo "== zoo models: every level on aarch64 (neon 1 and 2 threads, forced scalar) vs x86-64 =="
ZOO="$ROOT/$BUILD/zoo"
mkdir -p "$ZOO"
# Python runs from $ZOO, not the repository root: there the source tree (no compiled _core) would
# shadow an installed allinone. A developer build is found through PYTHONPATH instead.
PY=(python3)
if ! (cd "$ZOO" && python3 -c "import torch, allinone._core") 2>/dev/null; then
  PY=(env "PYTHONPATH=$ROOT${PYTHONPATH:+:$PYTHONPATH}" python3)
fi
if ! (cd "$ZOO" && "${PY[@]}" -c "import torch, allinone._core") 2>/dev/null; then
  echo "aarch64_check: the zoo comparison did NOT run: torch or allinone is not" \
    "importable here (pip install \".[train]\", or tools/dev_build.sh)"
  # In CI that is a failure, not a pass with a check left out.
  [[ "${CI:-}" == "true" ]] && exit 1
  exit 0
fi
(cd "$ZOO" && "${PY[@]}" - "$ZOO") <<'PY'
import sys
from pathlib import Path

import torch

from allinone import zoo
from allinone.exporter import export

out = Path(sys.argv[1])
for name, shape, kw in (("resnet20", (3, 32, 32), {"num_classes": 10}),
                        ("mobilenet_v2", (3, 64, 64), {}),
                        ("mobilenet_v3_small", (3, 64, 64), {}),
                        ("efficientnet_b0", (3, 64, 64), {}),
                        ("yolo_small", (3, 64, 64), {}),
                        ("unet_small", (3, 64, 64), {})):
    if (out / f"{name}.aio").exists():
        continue
    torch.manual_seed(0)
    model = zoo.get(name, in_channels=3, **kw).eval()
    for m in model.modules():  # random BN statistics, so that folding matters
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    export(model, str(out / f"{name}.aio"), torch.randn(1, *shape),
           levels=(1.0, 0.75, 0.5, 0.25), round_to=8, name=name)
PY
DRIVER=benchmarks/aarch64_insns_driver.c
aarch64-linux-gnu-gcc -O2 -o "$BUILD/dump_aarch64" "$DRIVER" -Icsrc/include \
  -L"$BUILD/lib/csrc/capi" -lallinone -Wl,-rpath,"$ROOT/$BUILD/lib/csrc/capi"
gcc -O2 -o "$BUILD/dump_x86" "$DRIVER" -Icsrc/include -L"$BUILD/native-prefix/lib" -lallinone \
  -Wl,-rpath,"$ROOT/$BUILD/native-prefix/lib"
ZOO_MODELS="resnet20 mobilenet_v2 mobilenet_v3_small efficientnet_b0 yolo_small unet_small"
for name in $ZOO_MODELS; do
  m="$ZOO/$name.aio"
  "$BUILD/dump_x86" "$m" --dump 1 >"$ZOO/$name.x86.txt"
  "${QEMU[@]}" "$BUILD/dump_aarch64" "$m" --dump 1 >"$ZOO/$name.neon1.txt"
  "${QEMU[@]}" "$BUILD/dump_aarch64" "$m" --dump 2 >"$ZOO/$name.neon2.txt"
  AIO_FORCE_ISA=scalar "${QEMU[@]}" "$BUILD/dump_aarch64" "$m" --dump 1 >"$ZOO/$name.scalar1.txt"
done
python3 - "$ZOO" $ZOO_MODELS <<'PY'
import sys

zoo, names = sys.argv[1], sys.argv[2:]


def load(path):
    isa, rows = None, {}
    with open(path) as f:
        for line in f:
            if line.startswith("# isa "):
                isa = line.split()[2]
                continue
            head, vals = line.split(":", 1)
            rows[head] = [float(v) for v in vals.split()]
    return isa, rows


ok = True
for name in names:
    x86_isa, ref = load(f"{zoo}/{name}.x86.txt")
    for run, want_isa, label in (("neon1", "neon", "neon, 1 thread"),
                                 ("neon2", "neon", "neon, 2 threads"),
                                 ("scalar1", "scalar", "AIO_FORCE_ISA=scalar")):
        isa, arm = load(f"{zoo}/{name}.{run}.txt")
        if isa != want_isa:
            print(f"{name}: aarch64 {label} ran the {isa} kernels, expected {want_isa}")
            ok = False
            continue
        if arm.keys() != ref.keys():
            print(f"{name}: aarch64 {label}: different levels")
            ok = False
            continue
        worst = 0.0
        for k in ref:
            scale = max(max(abs(v) for v in ref[k]), 1e-30)
            worst = max(worst, max(abs(a - b) for a, b in zip(arm[k], ref[k])) / scale)
        good = worst <= 1e-4
        ok &= good
        print(f"{name:18s} aarch64 {label:20s} vs x86-64 {x86_isa}: {len(ref)} levels, "
              f"max |diff| / max |ref| = {worst:.2e} (tolerance 1e-04) {'OK' if good else 'FAIL'}")
sys.exit(0 if ok else 1)
PY
echo "aarch64_check: passed (NEON kernels on aarch64; AIO_FORCE_ISA=scalar lowers them)"
