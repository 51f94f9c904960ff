#!/usr/bin/env bash
# aarch64 check: cross-compiles the library, the C++ tests and examples/cpp_app with Debian's
# g++-aarch64-linux-gnu, runs the tests under qemu-user (ctest, through
# CMAKE_CROSSCOMPILING_EMULATOR), then checks that every level of a model gives the same outputs on aarch64 as on this x86-64 host.
#
# Kernels on aarch64: there are no NEON kernels yet. platform.cpp selects the portable scalar path
# on every non-x86 CPU (the *_avx2/*_avx512 files are compiled only for x86-64), and the check says
# so: it prints the kernel set the library reports (aio_get_isa()).
#
#   tools/aarch64_check.sh            # needs g++-aarch64-linux-gnu and qemu-user installed
#   tools/aarch64_check.sh --install  # apt-get installs them first (root, Debian/Ubuntu)
#
# Env: BUILD (default build/aarch64), MODEL (default allinone/data/demo.aio; if absent, the tiny
# model test_capi writes). Takes ~2 minutes on 2 cores.
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

# Tolerances: scalar vs scalar differs only by the compilers' instruction choice (e.g. FMA
# contraction on aarch64); SIMD kernels also sum in another order.
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
    print(f"aarch64 (scalar) vs {label}: {len(ref)} levels, max |diff| / max |ref| = {worst:.2e}"
          f" (tolerance {tol:g}) {verdict}")
sys.exit(0 if ok else 1)
PY
echo "aarch64_check: passed (aarch64 runs the portable scalar kernels; no NEON kernels yet)"
