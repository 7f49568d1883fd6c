#!/usr/bin/env bash
# bench-peers.sh — times incept beside its peers on the same GoogLeNet, in the same minute, and
# prints each peer's throughput and incept's ratio to it. This machine is shared and noisy, so
# incept runs before and after the peers and the ratio uses the mean of its two runs.
#
#   scripts/bench-peers.sh [--batch N] [--threads T] [--seconds S]
#
# Peers: OpenCV DNN and PyTorch through ../shared/bench/peers.py (Debian python3-opencv and
# python3-torch), and ncnn's benchncnn when NCNN_BENCH points at it (batch 1 only; see
# ../shared/README.md for building it). Missing peers are reported and skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
batch=1 threads=2 seconds=5
while [ $# -gt 0 ]; do
  case "$1" in
    --batch) batch=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    *) echo "usage: $0 [--batch N] [--threads T] [--seconds S]" >&2; exit 2 ;;
  esac
done
shared=../shared
model=$shared/reference/data/googlenet.onnx
[ -x build/incept ] || { echo "bench-peers: build/incept is missing: build first (see README)" >&2; exit 1; }
[ -f "$model" ] || { echo "bench-peers: $model is missing (needs ../shared beside the checkout)" >&2; exit 1; }

incept_img_s() {
  build/incept bench "$model" --batch "$batch" --threads "$threads" --seconds "$seconds" |
    tail -n 1 | tee -a /dev/stderr | sed -n 's/.* img_s=\([0-9.]*\).*/\1/p'
}

first=$(incept_img_s)
declare -A peers
if /usr/bin/python3 -c 'import cv2, torch' 2>/dev/null; then
  while read -r line; do
    echo "$line" >&2
    name=$(sed -n 's/^peer=\([a-z]*\) .*/\1/p' <<<"$line")
    rate=$(sed -n 's/.* img_s=\([0-9.]*\).*/\1/p' <<<"$line")
    [ -n "$name" ] && peers[$name]=$rate
  done < <(/usr/bin/python3 "$shared/bench/peers.py" --batch "$batch" --threads "$threads" --reps 20 2>/dev/null)
else
  echo "bench-peers: skipping OpenCV and PyTorch (apt-get install python3-opencv python3-torch)" >&2
fi
if [ -n "${NCNN_BENCH:-}" ] && [ -x "$NCNN_BENCH" ] && [ "$batch" = 1 ]; then
  models=$(dirname "$NCNN_BENCH")/../../src/benchmark/models
  ms=$(cd "$models" 2>/dev/null && "$NCNN_BENCH" 20 "$threads" 0 -1 0 param=googlenet.param shape=[224,224,3] 2>&1 |
       tee /dev/stderr | sed -n 's/.*googlenet.*avg = *\([0-9.]*\).*/\1/p' | head -n 1)
  [ -n "$ms" ] && peers[ncnn]=$(awk -v ms="$ms" 'BEGIN { printf "%.2f", 1000 / ms }')
else
  echo "bench-peers: skipping ncnn (set NCNN_BENCH=/path/to/benchncnn; batch 1 only)" >&2
fi
second=$(incept_img_s)
mean=$(awk -v a="$first" -v b="$second" 'BEGIN { printf "%.2f", (a + b) / 2 }')
printf '\nGoogLeNet, batch %s, %s thread(s)\n%-8s %10s %8s\n' "$batch" "$threads" engine img/s ratio
printf '%-8s %10s %8s\n' incept "$mean" 1.00
for name in "${!peers[@]}"; do
  awk -v n="$name" -v r="${peers[$name]}" -v m="$mean" 'BEGIN { printf "%-8s %10.2f %7.2fx\n", n, r, m / r }'
done
