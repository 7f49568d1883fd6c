/* gemm_avx2.c — SGEMM micro-kernel for AVX2 + FMA: a 6 x 16 tile of C in 12 ymm accumulators.
 * Built with -mavx2 -mfma; only called when CPUID reports both.
 *
 * The accumulators are twelve named variables, not an array: with an array indexed by a
 * run-time row count in the store code, gcc 12 kept the array in memory and wrote all twelve
 * back to the stack on every step of k (12 stores per 12 FMAs), and the kernel ran at a third
 * of the FMA rate (27 against 80 GFLOP/s on one Zen 3 core). Here the loop body holds 12
 * accumulators, two B vectors and one broadcast: 15 of the 16 ymm registers. */
#include <immintrin.h>

#include "kernels/gemm_kernels.h"

#define MR 6
#define NR 16

#if defined(__GNUC__)
#define INLINE static inline __attribute__((always_inline))
#else
#define INLINE static inline
#endif

/* The tile's products: row r of A is a_row[r][k * step] (step 1: A in place, row-major;
 * step MR: a packed panel), accumulated over k into acc[2r], acc[2r + 1]. */
INLINE void multiply(int kc, const float *const a_row[MR], int step, const float *b, __m256 acc[2 * MR])
{
    __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
    __m256 c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
    const float *a0 = a_row[0], *a1 = a_row[1], *a2 = a_row[2], *a3 = a_row[3], *a4 = a_row[4],
                *a5 = a_row[5];
    for (int k = 0; k < kc; k++, b += NR) {
        const __m256 b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps(b + 8);
        const long at = (long)k * step;
        __m256 ar = _mm256_broadcast_ss(a0 + at);
        c00 = _mm256_fmadd_ps(ar, b0, c00), c01 = _mm256_fmadd_ps(ar, b1, c01);
        ar = _mm256_broadcast_ss(a1 + at);
        c10 = _mm256_fmadd_ps(ar, b0, c10), c11 = _mm256_fmadd_ps(ar, b1, c11);
        ar = _mm256_broadcast_ss(a2 + at);
        c20 = _mm256_fmadd_ps(ar, b0, c20), c21 = _mm256_fmadd_ps(ar, b1, c21);
        ar = _mm256_broadcast_ss(a3 + at);
        c30 = _mm256_fmadd_ps(ar, b0, c30), c31 = _mm256_fmadd_ps(ar, b1, c31);
        ar = _mm256_broadcast_ss(a4 + at);
        c40 = _mm256_fmadd_ps(ar, b0, c40), c41 = _mm256_fmadd_ps(ar, b1, c41);
        ar = _mm256_broadcast_ss(a5 + at);
        c50 = _mm256_fmadd_ps(ar, b0, c50), c51 = _mm256_fmadd_ps(ar, b1, c51);
    }
    acc[0] = c00, acc[1] = c01, acc[2] = c10, acc[3] = c11, acc[4] = c20, acc[5] = c21;
    acc[6] = c30, acc[7] = c31, acc[8] = c40, acc[9] = c41, acc[10] = c50, acc[11] = c51;
}

static void kernel_avx2(int kc, const float *a, int lda, const float *b, float *c, int ldc,
                        int rows, int cols, int accumulate, const float *bias, int relu)
{
    __m256 acc[2 * MR];
    const float *a_row[MR];
    if (lda) { /* rows past the last repeat it; their results are not stored */
        for (int r = 0; r < MR; r++)
            a_row[r] = a + (long)(r < rows ? r : rows - 1) * lda;
        multiply(kc, a_row, 1, b, acc);
    } else {
        for (int r = 0; r < MR; r++)
            a_row[r] = a + r;
        multiply(kc, a_row, MR, b, acc);
    }
    if (cols == NR) {
        const __m256 zero = _mm256_setzero_ps();
        for (int r = 0; r < rows; r++) {
            float *row = c + (long)r * ldc;
            __m256 lo = acc[2 * r], hi = acc[2 * r + 1];
            if (accumulate) {
                lo = _mm256_add_ps(lo, _mm256_loadu_ps(row));
                hi = _mm256_add_ps(hi, _mm256_loadu_ps(row + 8));
            }
            if (bias) {
                const __m256 br = _mm256_set1_ps(bias[r]);
                lo = _mm256_add_ps(lo, br);
                hi = _mm256_add_ps(hi, br);
            }
            if (relu) { /* max(0, v): a NaN stays NaN, as in the scalar path */
                lo = _mm256_max_ps(zero, lo);
                hi = _mm256_max_ps(zero, hi);
            }
            _mm256_storeu_ps(row, lo);
            _mm256_storeu_ps(row + 8, hi);
        }
        return;
    }
    float tile[NR];
    for (int r = 0; r < rows; r++) {
        float *row = c + (long)r * ldc;
        _mm256_storeu_ps(tile, acc[2 * r]);
        _mm256_storeu_ps(tile + 8, acc[2 * r + 1]);
        for (int j = 0; j < cols; j++) {
            float v = accumulate ? row[j] + tile[j] : tile[j];
            if (bias)
                v += bias[r];
            row[j] = relu && v < 0.0f ? 0.0f : v;
        }
    }
}

const incept_gemm_isa incept_gemm_avx2 = {"avx2", MR, NR, kernel_avx2};
