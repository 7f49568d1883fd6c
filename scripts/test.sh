#!/usr/bin/env bash
# test.sh — builds everything and runs every test, three times: a gcc release build with -Werror
# (installed into a scratch prefix and used through pkg-config and find_package too), the same
# without image decoding, dataset files and plotting, then a clang build under AddressSanitizer and
# UndefinedBehaviorSanitizer; between them, the test of
# sessions shared across threads under ThreadSanitizer and a short, reproducible run of each fuzz
# harness (fuzz/run.sh: INCEPT_FUZZ_RUNS inputs from seed 1, default 20000). The last line
# printed is ctest's summary of the ASan run (earlier failures stop the script before it).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
jobs=$(nproc 2>/dev/null || echo 2)

# ctest does not print a skipped test's own message, so say here what will be skipped and why
note_skips() {
  [ -n "${INCEPT_REFERENCE_DIR:-}" ] || [ -d ../shared/reference ] ||
    echo "test.sh: ../shared/reference is missing: test_reference will be SKIPPED (it compares with PyTorch's tensors there)"
  [ -n "${ONNX_TESTDATA:-}" ] || [ -d /usr/share/libonnx-testdata/data/node ] ||
    echo "test.sh: /usr/share/libonnx-testdata is missing: onnx_conformance will be SKIPPED"
  return 0
}

echo "== release build (gcc, -Wall -Wextra -Werror) =="
CC=gcc cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DINCEPT_WERROR=ON
cmake --build build -j"$jobs"
note_skips
ctest --test-dir build --output-on-failure

echo "== minimal build (gcc, -Werror): no image decoding, dataset files or plotting (libjpeg, libpng, cairo left out) =="
CC=gcc cmake -S . -B build-minimal -DCMAKE_BUILD_TYPE=Release -DINCEPT_WERROR=ON -DINCEPT_WITH_IMAGES=OFF \
  -DINCEPT_WITH_DATASETS=OFF -DINCEPT_WITH_PLOT=OFF
cmake --build build-minimal -j"$jobs"
echo "test.sh: the minimal build decodes no images and reads no dataset files: test_images, test_data and test_mpi will be SKIPPED there"
ctest --test-dir build-minimal --output-on-failure

echo "== thread sanitizer build (clang, TSan, -Werror): test_threads =="
CC=clang cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DINCEPT_WERROR=ON -DINCEPT_TSAN=ON
cmake --build build-tsan -j"$jobs" --target test_threads
# ignore_noninstrumented_modules: libomp is not built with TSan, so its own mutexes look racy to
# it (TSan's own advice for OpenMP programs); races in our code are still reported
TSAN_OPTIONS=halt_on_error=1:ignore_noninstrumented_modules=1 ctest --test-dir build-tsan -R '^test_threads$' --output-on-failure

echo "== fuzzing (clang, libFuzzer, ASan + UBSan): ${INCEPT_FUZZ_RUNS:-20000} inputs per harness =="
FUZZ_RUNS=${INCEPT_FUZZ_RUNS:-20000} bash fuzz/run.sh

echo "== sanitizer build (clang, ASan + UBSan, -Werror) =="
CC=clang cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DINCEPT_WERROR=ON -DINCEPT_SANITIZE=ON
cmake --build build-asan -j"$jobs"
note_skips
# intercept_tls_get_addr=0: clang 14's LeakSanitizer takes a malloc'd block that happens to sit
# at a certain page offset for a pre-2.25 glibc TLS header and crashes its tracer at exit
# (google/sanitizers#1322, fixed in later LLVM releases); leaks are still checked everywhere else
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:intercept_tls_get_addr=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  LSAN_OPTIONS=suppressions="$PWD/tests/lsan.supp" INCEPT_CLI="$PWD/build-asan/incept" ctest --test-dir build-asan --output-on-failure
