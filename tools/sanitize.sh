#!/usr/bin/env bash
# Sanitizer CI (docs/reliability.md): the C++ tests under AddressSanitizer + UndefinedBehaviorSanitizer
# (leaks included), the Python tests of the native paths against an ASan+UBSan _core (LD_PRELOAD of
# the ASan runtime; leak detection off there, see the doc), and the concurrency test under
# ThreadSanitizer. Any report fails the run.
#
#   tools/sanitize.sh            # both; build/asan and build/tsan
#   tools/sanitize.sh asan|tsan  # one of them
#   tools/sanitize.sh asan-build # build/asan only, no tests (tools/fuzz.sh links against it)
#   SANITIZE_EXCLUDE=REGEX       # ctest -E: skip tests (only while a reported bug awaits its fix)
#
# Prefers clang (Debian package `clang`): its ASan build also carries libFuzzer coverage
# (-fsanitize=fuzzer-no-link) so tools/fuzz.sh links its targets against the same library without
# a second build. Falls back to gcc (no fuzzing then). Env: JOBS (default: nproc).
set -euo pipefail
cd "$(dirname "$0")/.."
JOBS=${JOBS:-$(nproc)}
WHAT=${1:-all}

if command -v clang++ >/dev/null && clang++ -print-runtime-dir >/dev/null 2>&1; then
  CXX=clang++
  RT=$(clang++ -print-runtime-dir)
  # clang links the sanitizer runtime statically into executables only; the C API .so (linked with
  # --no-undefined) needs the shared runtime, so everything uses it (rpath: no LD_LIBRARY_PATH).
  EXTRA_CXX="-fsanitize=fuzzer-no-link"
  LINK_SO="-shared-libsan"
  LINK_EXE="-shared-libsan -Wl,-rpath,$RT"
  LIBASAN=$(clang++ -print-file-name=libclang_rt.asan-x86_64.so)
else
  CXX=g++
  EXTRA_CXX="" LINK_SO="" LINK_EXE=""
  # libstdc++ preloaded with it: python3 does not link it, so without it ASan resolves no real
  # __cxa_throw at start-up and the first C++ exception crossing into Python aborts.
  LIBASAN="$(g++ -print-file-name=libasan.so) $(g++ -print-file-name=libstdc++.so)"
fi
# The Python module needs pybind11's CMake files (CI's venv has pybind11 only in pip's isolated
# build environment: install it; without it the Python step is skipped, with a note).
PY_ARGS=(-DALLINONE_BUILD_PYTHON=OFF)
if [[ $WHAT == all || $WHAT == asan ]] && { python3 -c "import pybind11" 2>/dev/null ||
    python3 -m pip install --quiet "pybind11>=2.13" >/dev/null 2>&1; }; then
  PY_ARGS=(-DALLINONE_BUILD_PYTHON=ON -Dpybind11_DIR="$(python3 -m pybind11 --cmakedir)")
fi

configure() {  # dir sanitizer extra-cxx-flags shared-link exe-link capi [cmake args...]
  local dir=$1
  # A cache from another compiler cannot be reconfigured in place.
  if [[ -f $dir/CMakeCache.txt ]] && ! grep -q "CMAKE_CXX_COMPILER:[A-Z]*=.*$CXX\$" "$dir/CMakeCache.txt"; then
    rm -rf "$dir"
  fi
  cmake -S . -B "$dir" -G Ninja -DCMAKE_CXX_COMPILER="$CXX" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DALLINONE_BUILD_TESTS=ON -DALLINONE_INSTALL=OFF -DALLINONE_BUILD_CAPI="$6" \
    -DALLINONE_SANITIZE="$2" -DCMAKE_CXX_FLAGS="$3" -DCMAKE_SHARED_LINKER_FLAGS="$4" \
    -DCMAKE_MODULE_LINKER_FLAGS="$4" -DCMAKE_EXE_LINKER_FLAGS="$5" "${@:7}" >/dev/null
}

if [[ $WHAT == all || $WHAT == asan || $WHAT == asan-build ]]; then
  echo "== ASan+UBSan ($CXX): build/asan"
  configure build/asan address,undefined "-fno-sanitize-recover=undefined $EXTRA_CXX" \
    "$LINK_SO" "$LINK_EXE" ON "${PY_ARGS[@]}"
  cmake --build build/asan -j"$JOBS"
  [[ $WHAT == asan-build ]] && exit 0
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1:detect_stack_use_after_return=1 \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --test-dir build/asan --output-on-failure -j"$JOBS" -E "${SANITIZE_EXCLUDE:-^\$}"

  so=(build/asan/csrc/bindings/_core*.so)
  if [[ -f ${so[0]} ]]; then
    echo "== pytest (native paths) against the ASan+UBSan _core"
    # A private copy of the package holds the instrumented module, so the tree's own _core (which
    # other processes may have loaded) is left alone; pytest runs from there so it imports it.
    stage=build/asan/py
    rm -rf "$stage" && mkdir -p "$stage"
    cp -r allinone "$stage/" && rm -f "$stage"/allinone/_core*.so && cp "${so[0]}" "$stage/allinone/"
    root=$(pwd)
    # detect_leaks=0: CPython never frees its interpreter state, and suppressing that hides ours.
    (cd "$stage" && LD_PRELOAD="$LIBASAN" PYTHONPATH="$root/$stage" \
      ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
      python3 -m pytest -q -p no:cacheprovider \
      "$root"/tests/test_bad_inputs.py "$root"/tests/test_format.py "$root"/tests/test_engine.py \
      "$root"/tests/test_governor.py "$root"/tests/test_dvfs.py)
  else
    echo "== pytest under ASan skipped: pybind11 not available"
  fi
fi

if [[ $WHAT == all || $WHAT == tsan ]]; then
  echo "== TSan ($CXX): build/tsan, test_concurrency"
  configure build/tsan thread "" "" "" OFF
  cmake --build build/tsan -j"$JOBS" --target test_concurrency
  TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 AIO_CONCURRENCY_MS=${AIO_CONCURRENCY_MS:-500} \
    build/tsan/tests/cpp/test_concurrency
fi
echo "sanitize.sh: no sanitizer reports"
