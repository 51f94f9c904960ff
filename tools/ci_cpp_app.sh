#!/usr/bin/env bash
# CI for the C API as a device app sees it: build and `cmake --install` the library to a temporary
# prefix, check what was installed (public headers, liballinone, allinoneConfig.cmake; only aio_*
# symbols exported; headers compile as strict C99 and C++11), build examples/cpp_app against it
# with find_package(allinone), and run both apps on a model and a frequency trace.
#
#   tools/ci_cpp_app.sh        (~1 minute on 2 cores from scratch)
# Env: BUILD (default build/ci-cpp-app), MODEL (default allinone/data/demo.aio; if absent, the
# tiny model test_capi writes), TRACE (default the rpi4 thermal-throttle trace).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
BUILD=${BUILD:-build/ci-cpp-app}
JOBS=${JOBS:-2}
PREFIX=$(mktemp -d "${TMPDIR:-/tmp}/allinone-prefix.XXXXXX")
trap 'rm -rf "$PREFIX"' EXIT

echo "== build + install the C API to $PREFIX =="
cmake -S . -B "$BUILD/lib" -G Ninja -DCMAKE_BUILD_TYPE=Release -DALLINONE_BUILD_PYTHON=OFF \
  -DALLINONE_BUILD_TESTS=ON -DALLINONE_INSTALL=ON -DCMAKE_INSTALL_PREFIX="$PREFIX" >/dev/null
cmake --build "$BUILD/lib" -j"$JOBS" --target allinone test_capi
cmake --install "$BUILD/lib" >/dev/null

echo "== installed files =="
(cd "$PREFIX" && find . -type f -o -type l | sort)
LIBDIR=$(dirname "$(find "$PREFIX" -name 'liballinone.so' | head -1)")
for f in include/allinone/allinone.h include/allinone/allinone.hpp; do
  [[ -f "$PREFIX/$f" ]] || { echo "missing $f" >&2; exit 1; }
done
[[ -f "$LIBDIR/cmake/allinone/allinoneConfig.cmake" ]] ||
  { echo "missing allinoneConfig.cmake" >&2; exit 1; }
if (cd "$PREFIX/include" && find . -type f | grep -v '^./allinone/allinone.h\(pp\)\?$'); then
  echo "internal headers were installed (above)" >&2; exit 1
fi

echo "== exported symbols: only the C API =="
# ELF dynamic symbols defined by the library (T/D/B/...), excluding undefined ones.
SYMS=$(nm -D --defined-only "$LIBDIR/liballinone.so" | awk '{print $NF}')
leaked=$(echo "$SYMS" | grep -v '^aio_' || true)
if [[ -n "$leaked" ]]; then echo "non-API symbols exported:" >&2; echo "$leaked" >&2; exit 1; fi
echo "$(echo "$SYMS" | grep -c '^aio_') aio_* functions, nothing else"

echo "== headers compile as strict C99 and C++11 =="
echo '#include "allinone/allinone.h"' |
  cc -std=c99 -Wall -Wextra -Wpedantic -Werror -fsyntax-only -I"$PREFIX/include" -x c -
echo '#include "allinone/allinone.hpp"' |
  c++ -std=c++11 -Wall -Wextra -Wpedantic -Wshadow -Werror -fsyntax-only -I"$PREFIX/include" \
    -x c++ -

echo "== examples/cpp_app with find_package(allinone) =="
cmake -S examples/cpp_app -B "$BUILD/app" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$PREFIX" -DCMAKE_C_FLAGS=-Werror -DCMAKE_CXX_FLAGS=-Werror >/dev/null
cmake --build "$BUILD/app" -j"$JOBS"

MODEL=${MODEL:-allinone/data/demo.aio}
if [[ ! -f "$MODEL" ]]; then
  echo "($MODEL absent: using the tiny model test_capi writes)"
  MODEL="$BUILD/tiny.aio"
  "$BUILD/lib/tests/cpp/test_capi" --write-model "$MODEL"
fi
TRACE=${TRACE:-allinone/data/traces/rpi4_thermal_throttle.csv}
[[ -f "$TRACE" ]] || TRACE=../shared/traces/rpi4_thermal_throttle.csv

echo "== c_app $MODEL =="
"$BUILD/app/c_app" "$MODEL"
echo "== cpp_app $MODEL $TRACE =="
"$BUILD/app/cpp_app" "$MODEL" "$TRACE" --steps 200 --runs 5
echo "ci_cpp_app: passed"
