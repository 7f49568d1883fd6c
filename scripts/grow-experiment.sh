#!/usr/bin/env bash
# grow-experiment.sh — the experiment of issue "grow" in one command, on Fashion-MNIST: the
# hand-designed models/fashion.incept and its width/depth variants, networks grown by `incept
# grow` at several multiply-add budgets, and plain convolutional nets (stacked 3x3 convolutions,
# batch-normalized, no Inception modules) at several widths, each trained with the same recipe
# and seed; then evaluated on the test set and timed. Writes DIR/results.csv (family, model,
# parameters, multiply-adds, measured inference ms at batch 1 on one thread, test top-1) and
# DIR/pareto.png (top-1 against multiply-adds, a front per family).
#
#   scripts/grow-experiment.sh [--quick] [--out DIR] [--epochs E] [--threads T]
#
# Full: 5 models per family, 3 epochs each (the built-in recipe's lr 0.1, cosine, 200 warm-up
# steps, flips, batch 128, seed 0, shortened from its 11 epochs so that 15 trainings fit in about
# an hour on two cores). --quick: 2 models per family, 30 steps each (a test that it runs; its
# accuracies mean nothing). Needs Debian's dataset-fashion-mnist; the plot needs a build with
# plotting (cairo).
set -euo pipefail
cd "$(dirname "$0")/.."
INCEPT=${INCEPT:-build/incept}
out=grow-experiment quick=0 epochs=3 threads=$(nproc 2>/dev/null || echo 2)
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=1 ;;
    --out) out=$2; shift ;;
    --epochs) epochs=$2; shift ;;
    --threads) threads=$2; shift ;;
    *) echo "usage: $0 [--quick] [--out DIR] [--epochs E] [--threads T]" >&2; exit 2 ;;
  esac
  shift
done
if [ ! -e /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then
  echo "grow-experiment: SKIPPED: Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)" >&2
  exit 77
fi
mkdir -p "$out"
if [ "$quick" = 1 ]; then
  train=(--steps 30) grow=(--steps 10 --sample 32) bench=(--seconds 1)
  hand=("width=0.5" "width=1") budgets=(3000000 11207008) plain=(8 16)
else
  train=(--epochs "$epochs") grow=(--steps 400 --sample 256) bench=(--seconds 3)
  hand=("width=0.5" "width=0.75" "width=1" "width=1.25" "depth=mixed_4b=0")
  budgets=(3000000 5000000 7500000 11207008 15000000) plain=(8 12 16 24 32)
fi
recipe=(--batch 128 --lr 0.1 --schedule cosine --warmup 200 --crop-pad 0 --seed 0 --threads "$threads")

# A plain net of width W: one 3x3 convolution at 28x28, two at 14x14 (2W), two at 7x7 (4W).
plain_net() {
  local w=$1
  cat <<EOF
# plain convolutional net, width $w: stacked 3x3 convolutions, no Inception modules
input data 1 28 28
conv c1 $w 3x3 pad 1 relu bn
maxpool p1 3x3 stride 2 ceil
conv c2 $((2 * w)) 3x3 pad 1 relu bn
conv c3 $((2 * w)) 3x3 pad 1 relu bn
maxpool p2 3x3 stride 2 ceil
conv c4 $((4 * w)) 3x3 pad 1 relu bn
conv c5 $((4 * w)) 3x3 pad 1 relu bn
globalavgpool gp
flatten flat
dropout drop 0.2
fc classifier 10
EOF
}

# One model: train, evaluate, cost, time; a CSV row. Arguments: family, name, model file, knobs...
measure() {
  local family=$1 name=$2 model=$3
  shift 3
  echo "grow-experiment: $family $name: training" >&2
  "$INCEPT" train "$model" "$@" "${recipe[@]}" "${train[@]}" --out "$out/$name.weights" 2> "$out/$name.log"
  local top1 totals params madds ms
  top1=$("$INCEPT" eval "$model" "$@" --weights "$out/$name.weights" --threads "$threads" | sed -n 's/^eval: top1=\([0-9.]*\).*/\1/p')
  totals=$("$INCEPT" summary "$model" "$@" | tail -1)
  params=$(echo "$totals" | sed -n 's/^total: \([0-9,]*\) parameters.*/\1/p' | tr -d ,)
  madds=$(echo "$totals" | sed -n 's/.* parameters, \([0-9,]*\) multiply-adds.*/\1/p' | tr -d ,)
  ms=$("$INCEPT" bench "$model" "$@" --weights "$out/$name.weights" --batch 1 --threads 1 "${bench[@]}" | sed -n 's/.*median_ms=\([0-9.]*\).*/\1/p')
  echo "$family,$name,$params,$madds,$ms,$top1" >> "$out/results.csv"
  echo "grow-experiment: $family $name: $params parameters, $madds multiply-adds, $ms ms, top-1 $top1" >&2
}

echo "family,model,parameters,multiply_adds,ms,top1" > "$out/results.csv"
for knob in "${hand[@]}"; do
  key=${knob%%=*} value=${knob#*=}
  measure hand "fashion_${key}_${value//[=,]/_}" models/fashion.incept "--$key" "$value"
done
for budget in "${budgets[@]}"; do
  echo "grow-experiment: growing within $budget multiply-adds" >&2
  "$INCEPT" grow --budget "$budget" "${grow[@]}" --seed 0 --threads "$threads" --out "$out/grown_$budget.incept" 2> "$out/grown_$budget.grow.log"
  measure grown "grown_$budget" "$out/grown_$budget.incept"
done
for w in "${plain[@]}"; do
  plain_net "$w" > "$out/plain_$w.incept"
  measure plain "plain_$w" "$out/plain_$w.incept"
done
if "$INCEPT" pareto "$out/results.csv" --out "$out/pareto.png"; then :; else
  echo "grow-experiment: no plot (a build without plotting?); the CSV is $out/results.csv" >&2
fi
cat "$out/results.csv"
