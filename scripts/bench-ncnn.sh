#!/usr/bin/env bash
# bench-ncnn.sh — incept against ncnn's benchncnn on GoogLeNet at batch 1, alternated in the same
# minutes: ROUNDS rounds per thread count, each an `incept bench` median (4 s) then benchncnn's
# average of 40 loops, and the ratio of the medians. First and last it prints the machine's state
# (built-in GoogLeNet, batch 1, one thread: ~22.6 ms is the fast state, ~29-31 ms the slow one).
#
#   NCNN_BENCH=/tmp/ncnn/build/benchmark/benchncnn scripts/bench-ncnn.sh [ROUNDS] [THREADS...]
#
# benchncnn is built as ../shared/README.md says; its googlenet.param is the same Table 1 network.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
shift || true
threads=("$@")
[ ${#threads[@]} -gt 0 ] || threads=(1 2)
model=../shared/reference/data/googlenet.onnx
ncnn=${NCNN_BENCH:-}
[ -x build/incept ] || { echo "bench-ncnn: build/incept is missing: build first (see README)" >&2; exit 1; }
[ -f "$model" ] || { echo "bench-ncnn: $model is missing (needs ../shared beside the checkout)" >&2; exit 1; }
[ -n "$ncnn" ] && [ -x "$ncnn" ] || { echo "bench-ncnn: set NCNN_BENCH to benchncnn (../shared/README.md)" >&2; exit 1; }
models=$(dirname "$ncnn")/../../src/benchmark/models

state() { build/incept bench models/googlenet.incept --batch 1 --threads 1 --seconds 4 | tail -n 1 |
          sed -n 's/.*median_ms=\([0-9.]*\).*/\1/p'; }
median() { tr ' ' '\n' | grep . | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

echo "state before: $(state) ms"
declare -A ours theirs
for r in $(seq "$rounds"); do
  for t in "${threads[@]}"; do
    a=$(build/incept bench "$model" --batch 1 --threads "$t" --seconds 4 | tail -n 1 |
        sed -n 's/.*median_ms=\([0-9.]*\).*/\1/p')
    b=$(cd "$models" && "$ncnn" 40 "$t" 0 -1 0 param=googlenet.param shape=[224,224,3] 2>&1 |
        sed -n 's/.*googlenet.*avg = *\([0-9.]*\).*/\1/p' | head -n 1)
    echo "round $r, $t thread(s): incept $a ms, ncnn $b ms"
    ours[$t]="${ours[$t]:-} $a" theirs[$t]="${theirs[$t]:-} $b"
  done
done
echo "state after: $(state) ms"
for t in "${threads[@]}"; do
  a=$(median <<<"${ours[$t]}") b=$(median <<<"${theirs[$t]}")
  awk -v t="$t" -v a="$a" -v b="$b" 'BEGIN { printf "%s thread(s): incept %s ms, ncnn %s ms (medians): %.2fx\n", t, a, b, b / a }'
done
