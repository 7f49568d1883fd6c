#!/bin/sh
# torchvision_full.sh — the full-size torchvision models (googlenet, inception_v3, resnet18,
# densenet121, squeezenet1_1, mobilenet_v2; random weights, opsets 11, 13 and 17) exported by
# scripts/make_torchvision_fixtures.py --full into OUT_DIR, then checked by test_torchvision
# against PyTorch's logits (1e-5 of max |logit| exact, 1e-4 default). Needs Debian's
# python3-torch, python3-torchvision and python3-onnx; exit 77 (ctest: skipped) without them.
# Usage: torchvision_full.sh TEST_TORCHVISION_BINARY OUT_DIR
TEST=${1:?usage: torchvision_full.sh TEST_TORCHVISION_BINARY OUT_DIR}
OUT=${2:?usage: torchvision_full.sh TEST_TORCHVISION_BINARY OUT_DIR}
cd "$(dirname "$0")/.." || exit 1
if ! /usr/bin/python3 -c "import torch, torchvision, onnx" 2>/dev/null; then
    echo "SKIPPED: the full-size torchvision models need python3-torch, python3-torchvision and"
    echo "python3-onnx (apt-get install python3-torchvision python3-onnx); the small ones in"
    echo "tests/fixtures/torchvision ran in test_torchvision"
    exit 77
fi
if [ ! -f "$OUT/cases.txt" ] || [ scripts/make_torchvision_fixtures.py -nt "$OUT/cases.txt" ]; then
    /usr/bin/python3 scripts/make_torchvision_fixtures.py --full "$OUT" || exit 1
fi
exec "$TEST" "$OUT"
