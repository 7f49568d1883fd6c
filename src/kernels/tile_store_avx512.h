/* tile_store_avx512.h — the epilogue the AVX-512 micro-kernels (float and bf16) share: a tile's
 * accumulators (two vectors a row, MR rows) into C, + C itself when accumulating, + bias[r],
 * max(0, .) when relu, with masked loads and stores for the columns past `cols`. Included only
 * by files built with -mavx512f. */
#ifndef INCEPT_KERNELS_TILE_STORE_AVX512_H
#define INCEPT_KERNELS_TILE_STORE_AVX512_H

#include <immintrin.h>

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
