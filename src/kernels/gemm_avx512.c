/* gemm_avx512.c — SGEMM micro-kernel for AVX-512F: a 12 x 32 tile of C in 24 zmm accumulators,
 * B read as up to two vectors per step (fewer, or a half, for a narrow last panel) and A
 * broadcast from memory. Partial tiles at the right edge use masked loads and stores. Built with
 * -mavx512f -mfma; only called when CPUID reports it. */
#include <immintrin.h>

#include "kernels/gemm_kernels.h"
#include "kernels/tile_store_avx512.h"

#define MR 12
#define NR 32

#if defined(__GNUC__)
#define INLINE static inline __attribute__((always_inline))
#else
#define INLINE static inline
#endif

/* The products of the tile's first `used` rows (a compile-time 4, 8 or 12 once inlined, so a
 * tile of 4 rows does a third of the multiplies of 12, not all of them: 64 output channels are
 * five panels of 12 and one of 4), with `wide` (incept_tile_width_avx512) vectors of B a step.
 * Row r of A is row[r][k * step] (step 1: A in place; MR: a packed panel). */
INLINE void multiply(const int used, int kc, const float *const row[MR], int step, const float *b,
                     int wide, __m512 acc[MR][2])
{
    if (wide == 0) { /* at most 8 columns: one 256-bit vector (half the cost of 512 on Zen 4) */
        __m256 half[MR];
#pragma GCC unroll 12
        for (int r = 0; r < MR; r++)
            half[r] = _mm256_setzero_ps();
        for (int k = 0; k < kc; k++) {
            __m256 b0 = _mm256_loadu_ps(b + k * NR);
#pragma GCC unroll 12
            for (int r = 0; r < used; r++)
                half[r] = _mm256_fmadd_ps(_mm256_set1_ps(row[r][(long)k * step]), b0, half[r]);
        }
#pragma GCC unroll 12
        for (int r = 0; r < used; r++)
            acc[r][0] = incept_widen_avx512(half[r]);
    } else if (wide == 2) { /* 17-24 columns: the second vector half wide */
        __m256 half[MR];
#pragma GCC unroll 12
        for (int r = 0; r < MR; r++)
            half[r] = _mm256_setzero_ps();
        for (int k = 0; k < kc; k++) {
            __m512 b0 = _mm512_loadu_ps(b + k * NR);
            __m256 b1 = _mm256_loadu_ps(b + k * NR + 16);
#pragma GCC unroll 12
            for (int r = 0; r < used; r++) {
                const float ak = row[r][(long)k * step];
                acc[r][0] = _mm512_fmadd_ps(_mm512_set1_ps(ak), b0, acc[r][0]);
                half[r] = _mm256_fmadd_ps(_mm256_set1_ps(ak), b1, half[r]);
            }
        }
#pragma GCC unroll 12
        for (int r = 0; r < used; r++)
            acc[r][1] = incept_widen_avx512(half[r]);
    } else if (wide == 3) {
        for (int k = 0; k < kc; k++) {
            __m512 b0 = _mm512_loadu_ps(b + k * NR), b1 = _mm512_loadu_ps(b + k * NR + 16);
#pragma GCC unroll 12
            for (int r = 0; r < used; r++) {
                __m512 ar = _mm512_set1_ps(row[r][(long)k * step]);
                acc[r][0] = _mm512_fmadd_ps(ar, b0, acc[r][0]);
                acc[r][1] = _mm512_fmadd_ps(ar, b1, acc[r][1]);
            }
        }
    } else {
        for (int k = 0; k < kc; k++) {
            __m512 b0 = _mm512_loadu_ps(b + k * NR);
#pragma GCC unroll 12
            for (int r = 0; r < used; r++)
                acc[r][0] = _mm512_fmadd_ps(_mm512_set1_ps(row[r][(long)k * step]), b0, acc[r][0]);
        }
    }
}

static void kernel_avx512(int kc, const float *a, int lda, const float *b, float *c, int ldc,
                          int rows, int cols, int accumulate, const float *bias, int relu)
{
    __m512 acc[MR][2];
#pragma GCC unroll 12
    for (int r = 0; r < MR; r++)
        acc[r][0] = acc[r][1] = _mm512_setzero_ps();
    const float *row[MR]; /* rows past the last repeat it; their results are not stored */
    for (int r = 0; r < MR; r++)
        row[r] = lda ? a + (long)(r < rows ? r : rows - 1) * lda : a + r;
    const int step = lda ? 1 : MR, wide = incept_tile_width_avx512(cols);
    if (rows <= 4)
        multiply(4, kc, row, step, b, wide, acc);
    else if (rows <= 8)
        multiply(8, kc, row, step, b, wide, acc);
    else
        multiply(MR, kc, row, step, b, wide, acc);
    incept_tile_store_avx512(acc, rows, cols, c, ldc, accumulate, bias, relu);
}

const incept_gemm_isa incept_gemm_avx512 = {"avx512", MR, NR, kernel_avx512};
