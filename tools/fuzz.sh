#!/usr/bin/env bash
# Fuzzing of the .aio reader (docs/reliability.md): three libFuzzer targets built with clang
# -fsanitize=fuzzer,address,undefined against the ASan library of tools/sanitize.sh (build/asan,
# configured here if missing): fuzz_parse (parse_model on bytes), fuzz_run (load + a zero-input
# run at every level) seeded from tests/fuzz/make_corpus.py, and fuzz_graph (structure-aware:
# generated valid models, differential checks).
#
#   tools/fuzz.sh                 # CI: the three targets side by side for FUZZ_SECONDS (60) each
#   tools/fuzz.sh --long          # the recorded run: FUZZ_RUNS (1,000,000) inputs per target, in turn
#   tools/fuzz.sh --repro FILE..  # run crash files through the file targets
#
# A crash leaves its input in build/fuzz/artifacts/; minimise it (-minimize_crash=1), copy it to
# tests/fuzz/regressions/ and add a case to tests/cpp/test_fuzz_regressions.cpp.
# Needs clang with libFuzzer (Debian: apt-get install -y clang) and python3 with numpy.
set -euo pipefail
cd "$(dirname "$0")/.."
MODE=${1:-short}
SECONDS_PER=${FUZZ_SECONDS:-60}
RUNS=${FUZZ_RUNS:-1000000}
OUT=build/fuzz
command -v clang++ >/dev/null || { echo "fuzz.sh: clang++ not found (apt-get install -y clang)" >&2; exit 1; }

if [[ ! -f build/asan/csrc/liballinone_core.a ]] || ! grep -q "CMAKE_CXX_COMPILER:[A-Z]*=.*clang++$" build/asan/CMakeCache.txt; then
  tools/sanitize.sh asan-build >/dev/null  # the instrumented library
fi
cmake --build build/asan --target allinone_core >/dev/null
mkdir -p "$OUT/artifacts" "$OUT/seeds"
for t in fuzz_parse fuzz_run fuzz_graph; do
  clang++ -std=c++17 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
    -Icsrc -Itests/fuzz "tests/fuzz/$t.cpp" build/asan/csrc/liballinone_core.a -lpthread -o "$OUT/$t"
done
python3 tests/fuzz/make_corpus.py "$OUT/seeds" >/dev/null
cp tests/fuzz/regressions/* "$OUT/seeds/" 2>/dev/null || true

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
COMMON=(-rss_limit_mb=2048 -timeout=10 -print_final_stats=1 -artifact_prefix="$OUT/artifacts/")
if [[ $MODE == --repro ]]; then
  shift
  for t in fuzz_parse fuzz_run; do "$OUT/$t" "${COMMON[@]}" -max_len=16384 "$@"; done
  exit 0
fi
run_one() {  # target, limit flags...
  local t=$1
  shift
  local corpus="$OUT/corpus_$t" seeds=("$OUT/seeds") len=16384
  mkdir -p "$corpus"  # kept between runs: a later run starts where the last one ended
  if [[ $t == fuzz_graph ]]; then seeds=() len=1024; fi
  "$OUT/$t" "${COMMON[@]}" -max_len=$len "$@" "$corpus" "${seeds[@]}" 2>"$OUT/$t.log"
}
report() {  # target, status, seconds
  if [[ $2 != 0 ]]; then
    tail -60 "$OUT/$1.log"
    echo "fuzz.sh: $1 FAILED (exit $2; crash input in $OUT/artifacts/)" >&2
    return 1
  fi
  local n
  n=$(grep -o "stat::number_of_executed_units: *[0-9]*" "$OUT/$1.log" | grep -o "[0-9]*$")
  echo "$1: $n inputs in $3 s, no crash ($(grep -o "cov: [0-9]* ft: [0-9]*" "$OUT/$1.log" | tail -1))"
}

start=$(date +%s)
fail=0
if [[ $MODE == --long ]]; then
  for t in fuzz_parse fuzz_run fuzz_graph; do
    s0=$(date +%s)
    st=0
    run_one $t -runs="$RUNS" || st=$?
    report $t $st $(($(date +%s) - s0)) || fail=1
  done
else
  declare -A pid
  for t in fuzz_parse fuzz_run fuzz_graph; do
    run_one $t -max_total_time="$SECONDS_PER" &
    pid[$t]=$!
  done
  for t in fuzz_parse fuzz_run fuzz_graph; do
    st=0
    wait "${pid[$t]}" || st=$?
    report $t $st $(($(date +%s) - start)) || fail=1
  done
fi
echo "fuzz.sh: $(($(date +%s) - start)) s"
exit $fail
