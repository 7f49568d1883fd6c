/* gemm_avx2.c — SGEMM micro-kernel for AVX2 + FMA: a 6 x 16 tile of C in 12 ymm accumulators.
 * Built with -mavx2 -mfma; only called when CPUID reports both. */
#include <immintrin.h>

#include "kernels/gemm_kernels.h"

#define MR 6
#define NR 16

static void kernel_avx2(int kc, const float *a, int lda, const float *b, float *c, int ldc,
                        int rows, int cols, int accumulate, const float *bias, int relu)
{
    __m256 acc[MR][2];
#pragma GCC unroll 6
    for (int r = 0; r < MR; r++)
        acc[r][0] = acc[r][1] = _mm256_setzero_ps();
    if (lda) {
        const float *row[MR]; /* rows past the last repeat it; their results are not stored */
        for (int r = 0; r < MR; r++)
            row[r] = a + (long)(r < rows ? r : rows - 1) * lda;
        for (int k = 0; k < kc; k++) {
            __m256 b0 = _mm256_loadu_ps(b + k * NR), b1 = _mm256_loadu_ps(b + k * NR + 8);
#pragma GCC unroll 6
            for (int r = 0; r < MR; r++) {
                __m256 ar = _mm256_broadcast_ss(row[r] + k);
                acc[r][0] = _mm256_fmadd_ps(ar, b0, acc[r][0]);
                acc[r][1] = _mm256_fmadd_ps(ar, b1, acc[r][1]);
            }
        }
    }
    for (int k = 0; k < kc && !lda; k++) {
        __m256 b0 = _mm256_loadu_ps(b + k * NR), b1 = _mm256_loadu_ps(b + k * NR + 8);
#pragma GCC unroll 6
        for (int r = 0; r < MR; r++) {
            __m256 ar = _mm256_broadcast_ss(a + k * MR + r);
            acc[r][0] = _mm256_fmadd_ps(ar, b0, acc[r][0]);
            acc[r][1] = _mm256_fmadd_ps(ar, b1, acc[r][1]);
        }
    }
    if (cols == NR) {
        const __m256 zero = _mm256_setzero_ps();
        for (int r = 0; r < rows; r++) {
            float *row = c + (long)r * ldc;
            if (accumulate) {
                acc[r][0] = _mm256_add_ps(acc[r][0], _mm256_loadu_ps(row));
                acc[r][1] = _mm256_add_ps(acc[r][1], _mm256_loadu_ps(row + 8));
            }
            if (bias) {
                const __m256 br = _mm256_set1_ps(bias[r]);
                acc[r][0] = _mm256_add_ps(acc[r][0], br);
                acc[r][1] = _mm256_add_ps(acc[r][1], br);
            }
            if (relu) { /* max(0, v): a NaN stays NaN, as in the scalar path */
                acc[r][0] = _mm256_max_ps(zero, acc[r][0]);
                acc[r][1] = _mm256_max_ps(zero, acc[r][1]);
            }
            _mm256_storeu_ps(row, acc[r][0]);
            _mm256_storeu_ps(row + 8, acc[r][1]);
        }
        return;
    }
    float tile[NR];
    for (int r = 0; r < rows; r++) {
        float *row = c + (long)r * ldc;
        _mm256_storeu_ps(tile, acc[r][0]);
        _mm256_storeu_ps(tile + 8, acc[r][1]);
        for (int j = 0; j < cols; j++) {
            float v = accumulate ? row[j] + tile[j] : tile[j];
            if (bias)
                v += bias[r];
            row[j] = relu && v < 0.0f ? 0.0f : v;
        }
    }
}

const incept_gemm_isa incept_gemm_avx2 = {"avx2", MR, NR, kernel_avx2};
