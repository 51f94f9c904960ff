#!/usr/bin/env bash
# Developer build: C++ library, C++ tests and allinone/_core*.so in place (for PYTHONPATH=.).
# Serialised with a lock so several people building in one tree do not collide.
set -euo pipefail
cd "$(dirname "$0")/.."
exec 9>/tmp/allinone-dev-build.lock
flock 9
BUILD=${BUILD:-build/dev}
cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=${BUILD_TYPE:-Release} \
  -DALLINONE_BUILD_PYTHON=ON -DALLINONE_BUILD_TESTS=ON \
  -Dpybind11_DIR="$(python3 -m pybind11 --cmakedir)" ${CMAKE_ARGS:-} >/dev/null
cmake --build "$BUILD" -j2
# Rename into place: overwriting a loaded .so in place crashes processes that have it mapped.
for so in "$BUILD"/csrc/bindings/_core*.so; do
  cp -f "$so" "allinone/.$(basename "$so").tmp" && mv -f "allinone/.$(basename "$so").tmp" "allinone/$(basename "$so")"
done
echo "built: $(ls allinone/_core*.so)"
