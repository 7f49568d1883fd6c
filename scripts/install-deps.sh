#!/usr/bin/env bash
# install-deps.sh — installs what incept builds and tests with, from Debian 12 packages.
# Idempotent and non-interactive; run as root (or it uses sudo when present).
set -euo pipefail
packages=(
  build-essential cmake pkg-config clang   # compilers (gcc and clang), build system
  libgomp1                                 # OpenMP runtime (gcc); clang's comes with libomp-14-dev
  libomp-14-dev                            # OpenMP for the clang sanitizer build
  libprotobuf-c-dev protobuf-c-compiler    # ONNX parsing: C code generated from onnx.proto
  libonnx-dev                              # ships onnx.proto
  zlib1g-dev                               # CRC-32 of weights files, gzip'd idx datasets
  libjpeg62-turbo-dev libpng-dev           # images in: JPEG and PNG
  libclang-rt-14-dev                       # clang's ASan/UBSan runtime for the sanitizer build
  dataset-fashion-mnist                    # the default training data of incept train
  libcairo2-dev                            # incept train --plot (the command line only)
  graphviz                                 # renders incept summary --dot (checked by test_graph)
  libonnx-testdata                         # ONNX backend node tests (ctest onnx_conformance)
  libopenmpi-dev openmpi-bin               # data-parallel training: mpirun -np N incept train
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
