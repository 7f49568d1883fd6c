#!/usr/bin/env bash
# run.sh — builds the libFuzzer harnesses (clang, ASan + UBSan, build-fuzz/) and runs each for
# SECONDS (default 60) on its seed corpus (fuzz/corpus/NAME, read only; what the run finds goes to
# build-fuzz/corpus/NAME; fuzz/corpus/weights/seed.weights is written by the fuzz_weights_seed
# target). Exits 1 on any finding: a crash, a leak, undefined behaviour, a timeout
# (10 s per input) or an input that takes more than 2 GB; the input is left in build-fuzz/findings/
# for a regression test under tests/. Usage: fuzz/run.sh [SECONDS] [HARNESS...]; with FUZZ_RUNS=N
# set, each harness runs N inputs from seed 1 instead (reproducible: what scripts/test.sh runs).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
shift || true
harnesses=("$@")
[ ${#harnesses[@]} -gt 0 ] || harnesses=(fuzz_onnx fuzz_description fuzz_weights fuzz_checkpoint fuzz_image fuzz_dataset fuzz_tensor)
jobs=$(nproc 2>/dev/null || echo 2)
CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DINCEPT_FUZZ=ON > /dev/null
cmake --build build-fuzz -j"$jobs" --target "${harnesses[@]}" > /dev/null
mkdir -p build-fuzz/findings
status=0
for h in "${harnesses[@]}"; do
  name=${h#fuzz_}
  corpus=build-fuzz/corpus/$name
  mkdir -p "$corpus" fuzz/corpus/"$name"
  budget=(-max_total_time="$seconds")
  [ -z "${FUZZ_RUNS:-}" ] || budget=(-runs="$FUZZ_RUNS" -seed=1)
  if [ -n "${FUZZ_RUNS:-}" ]; then echo "== $h: $FUZZ_RUNS inputs from seed 1"; else echo "== $h: $seconds s"; fi
  rm -rf "$corpus" && mkdir -p "$corpus" # each run from the committed seeds alone
  if ! ASAN_OPTIONS=detect_leaks=1:intercept_tls_get_addr=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
      build-fuzz/fuzz/"$h" "$corpus" fuzz/corpus/"$name" "${budget[@]}" -timeout=10 \
      -rss_limit_mb=2048 -max_len=65536 -artifact_prefix=build-fuzz/findings/"$name"- \
      -print_final_stats=1 2> build-fuzz/"$h".log; then
    echo "fuzz/run.sh: $h found a problem; its input is in build-fuzz/findings/ (log: build-fuzz/$h.log):"
    grep -E "ERROR|SUMMARY|runtime error" build-fuzz/"$h".log | head -5 || true
    status=1
  fi
  grep -E "stat::number_of_executed_units|stat::peak_rss_mb" build-fuzz/"$h".log | tr '\n' ' ' || true
  echo
done
exit $status
