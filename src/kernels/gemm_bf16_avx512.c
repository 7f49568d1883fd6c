/* gemm_bf16_avx512.c — the bf16 GEMM micro-kernel for AVX-512 BF16: a 12 x 32 tile of C in 24
 * zmm accumulators, as the float kernel (gemm_avx512.c), but each step takes two values of k:
 * vdpbf16ps adds a pair of bf16 products to each float lane, so one instruction does the
 * multiply-adds of two FMAs (measured on AMD Zen 4 with scripts/mac-rate.c: 103-113 G against
 * 53-55 G multiply-adds/s on one core). Built with -mavx512bf16; only called when CPUID
 * reports it (with AVX512VL, for the 256-bit half vector). */
#include <immintrin.h>

#include "kernels/gemm_kernels.h"
#include "kernels/tile_store_avx512.h"

#define MR 12
#define NR 32

static inline __m512bh as_pairs(__m512i words) { return (__m512bh)words; }

#if defined(__GNUC__)
#define INLINE static inline __attribute__((always_inline))
#else
#define INLINE static inline
#endif

/* The pairs' products of the tile's first `used` rows (4, 8 or 12 once inlined: a panel of 4
 * rows does a third of the work of 12), with `wide` (incept_tile_width_avx512) vectors of B a step. */
INLINE void multiply(const int used, int kp, const uint32_t *const row[MR], const uint32_t *b,
                     int wide, __m512 acc[MR][2])
{
    if (wide == 0) { /* at most 8 columns: one 256-bit vector (incept_tile_width_avx512 says why) */
        __m256 half[MR];
#pragma GCC unroll 12
        for (int r = 0; r < MR; r++)
            half[r] = _mm256_setzero_ps();
        for (int k = 0; k < kp; k++) {
            __m256bh b0 = (__m256bh)_mm256_loadu_si256((const __m256i *)(b + k * NR));
#pragma GCC unroll 12
            for (int r = 0; r < used; r++)
                half[r] = _mm256_dpbf16_ps(half[r], (__m256bh)_mm256_set1_epi32((int)row[r][k]), b0);
        }
#pragma GCC unroll 12
        for (int r = 0; r < used; r++)
            acc[r][0] = incept_widen_avx512(half[r]);
    } else if (wide == 2) { /* 17-24 columns: the second vector half wide */
        __m256 half[MR];
#pragma GCC unroll 12
        for (int r = 0; r < MR; r++)
            half[r] = _mm256_setzero_ps();
        for (int k = 0; k < kp; k++) {
            __m512bh b0 = as_pairs(_mm512_loadu_si512(b + k * NR));
            __m256bh b1 = (__m256bh)_mm256_loadu_si256((const __m256i *)(b + k * NR + 16));
#pragma GCC unroll 12
            for (int r = 0; r < used; r++) {
                const int ak = (int)row[r][k];
                acc[r][0] = _mm512_dpbf16_ps(acc[r][0], as_pairs(_mm512_set1_epi32(ak)), b0);
                half[r] = _mm256_dpbf16_ps(half[r], (__m256bh)_mm256_set1_epi32(ak), b1);
            }
        }
#pragma GCC unroll 12
        for (int r = 0; r < used; r++)
            acc[r][1] = incept_widen_avx512(half[r]);
    } else if (wide == 3) {
        for (int k = 0; k < kp; k++) {
            __m512bh b0 = as_pairs(_mm512_loadu_si512(b + k * NR));
            __m512bh b1 = as_pairs(_mm512_loadu_si512(b + k * NR + 16));
#pragma GCC unroll 12
            for (int r = 0; r < used; r++) {
                __m512bh ar = as_pairs(_mm512_set1_epi32((int)row[r][k]));
                acc[r][0] = _mm512_dpbf16_ps(acc[r][0], ar, b0);
                acc[r][1] = _mm512_dpbf16_ps(acc[r][1], ar, b1);
            }
        }
    } else {
        for (int k = 0; k < kp; k++) {
            __m512bh b0 = as_pairs(_mm512_loadu_si512(b + k * NR));
#pragma GCC unroll 12
            for (int r = 0; r < used; r++)
                acc[r][0] = _mm512_dpbf16_ps(acc[r][0], as_pairs(_mm512_set1_epi32((int)row[r][k])), b0);
        }
    }
}

static void kernel_bf16_avx512(int kp, const uint32_t *a, int lda, const uint32_t *b, float *c,
                               int ldc, int rows, int cols, int accumulate, const float *bias,
                               int relu)
{
    __m512 acc[MR][2];
#pragma GCC unroll 12
    for (int r = 0; r < MR; r++)
        acc[r][0] = acc[r][1] = _mm512_setzero_ps();
    const uint32_t *row[MR]; /* rows past the last repeat it; their results are not stored */
    for (int r = 0; r < MR; r++)
        row[r] = a + (long)(r < rows ? r : rows - 1) * lda;
    const int wide = incept_tile_width_avx512(cols);
    if (rows <= 4)
        multiply(4, kp, row, b, wide, acc);
    else if (rows <= 8)
        multiply(8, kp, row, b, wide, acc);
    else
        multiply(MR, kp, row, b, wide, acc);
    incept_tile_store_avx512(acc, rows, cols, c, ldc, accumulate, bias, relu);
}

const incept_gemm_bf16_isa incept_gemm_bf16_avx512 = {"avx512bf16", MR, NR, kernel_bf16_avx512};
