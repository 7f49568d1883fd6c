/* tile_store_avx512.h — what the AVX-512 micro-kernels (float and bf16) share: how many vectors
 * of B a tile's columns take, the widening of a 256-bit sum into an accumulator, and the
 * epilogue: a tile's accumulators (two vectors a row, MR rows) into C, + C itself when
 * accumulating, + bias[r], max(0, .) when relu, with masked loads and stores for the columns
 * past `cols`. Included only by files built with -mavx512f. */
#ifndef INCEPT_KERNELS_TILE_STORE_AVX512_H
#define INCEPT_KERNELS_TILE_STORE_AVX512_H

#include <immintrin.h>

/* The vectors of B a step for `cols` columns: 0 half a vector, 1 one, 2 one and a half, 3 two.
 * On cores that split a 512-bit FMA in two (Zen 4) a 256-bit one costs half: 49 columns (a 7x7
 * plane, or 28x28's Winograd tiles) are panels of 32 and 17, 196 (14x14) six of 32 and one of 4. */
static inline int incept_tile_width_avx512(int cols) { return cols > 24 ? 3 : cols > 16 ? 2 : cols > 8; }

/* A 256-bit sum as an accumulator, its upper half zero. */
static inline __m512 incept_widen_avx512(__m256 half)
{
    return _mm512_castpd_ps(_mm512_insertf64x4(_mm512_setzero_pd(), _mm256_castps_pd(half), 0));
}

static inline __attribute__((always_inline)) void
incept_tile_store_avx512(__m512 (*acc)[2], int rows, int cols, float *c, int ldc, int accumulate,
                         const float *bias, int relu)
{
    __mmask16 m0 = cols >= 16 ? 0xffff : (__mmask16)((1u << cols) - 1);
    __mmask16 m1 = cols >= 32 ? 0xffff : cols > 16 ? (__mmask16)((1u << (cols - 16)) - 1) : 0;
    for (int r = 0; r < rows; r++) {
        float *row = c + (long)r * ldc;
        if (accumulate) {
            acc[r][0] = _mm512_add_ps(acc[r][0], _mm512_maskz_loadu_ps(m0, row));
            acc[r][1] = _mm512_add_ps(acc[r][1], _mm512_maskz_loadu_ps(m1, row + 16));
        }
        if (bias) {
            const __m512 br = _mm512_set1_ps(bias[r]);
            acc[r][0] = _mm512_add_ps(acc[r][0], br);
            acc[r][1] = _mm512_add_ps(acc[r][1], br);
        }
        if (relu) { /* max(0, v): a NaN stays NaN, as in the scalar path */
            acc[r][0] = _mm512_max_ps(_mm512_setzero_ps(), acc[r][0]);
            acc[r][1] = _mm512_max_ps(_mm512_setzero_ps(), acc[r][1]);
        }
        _mm512_mask_storeu_ps(row, m0, acc[r][0]);
        _mm512_mask_storeu_ps(row + 16, m1, acc[r][1]);
    }
}

#endif
