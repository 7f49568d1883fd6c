/* qgemm_avx2.c — the int8 micro-kernel for AVX2, for CPUs without VNNI: vpmaddwd on 16-bit
 * values, which is exact (vpmaddubsw would saturate its pair sums at 32767). A word of packed
 * activations holds one column's 4 depths as bytes; masking and shifting each 16-bit half gives
 * the even depths (0, 2) and the odd ones (1, 3) as 16-bit pairs, and the same shifts,
 * arithmetic, widen the channel's 4 weights, so two vpmaddwd sum a column's 4 products with no
 * shuffles. The 8-row panel is done as two 4 x 16 tiles (8 accumulators of 16 registers).
 * Measured on one core (forced on the AVX-512 machine): 30-40 G MAC/s on GoogLeNet's shapes.
 * That was 1.3-1.5x the float AVX2 kernel while that one kept its accumulators in memory; fixed,
 * the float kernel does 37-40 G MAC/s, and on an AVX2-only Zen 3 GoogLeNet in int8 runs at
 * 0.88-0.97x of fp32 (README, Performance). Also the input packers, exactly the scalar rule 8
 * floats at a time. Built with -mavx2. */
#include <immintrin.h>
#include <string.h>

#include "kernels/qgemm_kernels.h"

#define MR INCEPT_QGEMM_PANEL_ROWS
#define NR 16

static inline __m256i weights_of(const signed char *a)
{
    int32_t four;
    memcpy(&four, a, sizeof four);
    return _mm256_set1_epi32(four);
}

static inline __m256i column_mask(int cols)
{
    const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(cols), lanes);
}

static inline void store_row(float *c, __m256i acc, int cols, float scale, float bias, int relu)
{
    __m256 v = _mm256_mul_ps(_mm256_cvtepi32_ps(acc), _mm256_set1_ps(scale));
    v = _mm256_add_ps(v, _mm256_set1_ps(bias));
    if (relu) /* max(0, v): a NaN stays NaN, as in the scalar kernel */
        v = _mm256_max_ps(_mm256_setzero_ps(), v);
    if (cols >= 8)
        _mm256_storeu_ps(c, v);
    else if (cols > 0)
        _mm256_maskstore_ps(c, column_mask(cols), v);
}

static void kernel_avx2(int quads, const signed char *a, const uint32_t *b, float *c, int ldc, int rows,
                        int cols, const float *scale, const float *bias, int relu)
{
    const __m256i low_bytes = _mm256_set1_epi32(0x00ff00ff);
    for (int half = 0; half * 4 < rows; half++) {
        const signed char *ah = a + half * 16;
        __m256i acc[4][2];
        for (int r = 0; r < 4; r++)
            acc[r][0] = acc[r][1] = _mm256_setzero_si256();
        if (cols > 8) {
            for (int q = 0; q < quads; q++) {
                const __m256i b0 = _mm256_loadu_si256((const __m256i *)(b + q * NR));
                const __m256i b1 = _mm256_loadu_si256((const __m256i *)(b + q * NR + 8));
                const __m256i even0 = _mm256_and_si256(b0, low_bytes), odd0 = _mm256_srli_epi16(b0, 8);
                const __m256i even1 = _mm256_and_si256(b1, low_bytes), odd1 = _mm256_srli_epi16(b1, 8);
                const signed char *aq = ah + q * MR * 4;
#pragma GCC unroll 4
                for (int r = 0; r < 4; r++) {
                    const __m256i w = weights_of(aq + 4 * r);
                    const __m256i w_even = _mm256_srai_epi16(_mm256_slli_epi16(w, 8), 8);
                    const __m256i w_odd = _mm256_srai_epi16(w, 8);
                    acc[r][0] = _mm256_add_epi32(acc[r][0], _mm256_add_epi32(_mm256_madd_epi16(even0, w_even),
                                                                             _mm256_madd_epi16(odd0, w_odd)));
                    acc[r][1] = _mm256_add_epi32(acc[r][1], _mm256_add_epi32(_mm256_madd_epi16(even1, w_even),
                                                                             _mm256_madd_epi16(odd1, w_odd)));
                }
            }
        } else {
            for (int q = 0; q < quads; q++) {
                const __m256i b0 = _mm256_loadu_si256((const __m256i *)(b + q * NR));
                const __m256i even0 = _mm256_and_si256(b0, low_bytes), odd0 = _mm256_srli_epi16(b0, 8);
                const signed char *aq = ah + q * MR * 4;
#pragma GCC unroll 4
                for (int r = 0; r < 4; r++) {
                    const __m256i w = weights_of(aq + 4 * r);
                    const __m256i w_even = _mm256_srai_epi16(_mm256_slli_epi16(w, 8), 8);
                    const __m256i w_odd = _mm256_srai_epi16(w, 8);
                    acc[r][0] = _mm256_add_epi32(acc[r][0], _mm256_add_epi32(_mm256_madd_epi16(even0, w_even),
                                                                             _mm256_madd_epi16(odd0, w_odd)));
                }
            }
        }
        for (int r = 0; r < 4 && half * 4 + r < rows; r++) {
            const int row = half * 4 + r;
            store_row(c + (long)row * ldc, acc[r][0], cols, scale[row], bias[row], relu);
            if (cols > 8)
                store_row(c + (long)row * ldc + 8, acc[r][1], cols - 8, scale[row], bias[row], relu);
        }
    }
}

/* The scalar rule (qgemm_kernels.h) 8 values at a time, less the zero point: clamp to
 * [-zero_point, 255 - zero_point], round in the current mode. */
static inline __m256i quantize8(__m256 x, __m256 inv_scale, __m256 lo, __m256 hi)
{
    __m256 t = _mm256_max_ps(_mm256_mul_ps(x, inv_scale), lo); /* t > lo ? t : lo (NaN to lo) */
    return _mm256_cvtps_epi32(_mm256_min_ps(t, hi));           /* t < hi ? t : hi, nearbyint */
}

static inline __m256 load8(const float *x, int count)
{
    return count >= 8 ? _mm256_loadu_ps(x) : _mm256_maskload_ps(x, column_mask(count));
}

static void pack_avx2(const float *x, size_t stride, int rows, int count, float inv_scale, float zero_point,
                      uint32_t *dst, int dst_stride)
{
    const __m256 inv = _mm256_set1_ps(inv_scale), lo = _mm256_set1_ps(-zero_point);
    const __m256 hi = _mm256_set1_ps(255.0f - zero_point);
    /* the zero point into all 4 bytes at once: each byte's sum is in [0, 255], so adding the
     * parts (some negative) as 32-bit integers leaves no borrow in the total */
    const __m256i zero_bytes = _mm256_set1_epi32((int)((uint32_t)zero_point * 0x01010101u));
    for (int r = 0; r < rows; r += 4, dst += dst_stride) {
        const float *row0 = x + r * stride, *row1 = r + 1 < rows ? row0 + stride : row0;
        const float *row2 = r + 2 < rows ? row0 + 2 * stride : row0, *row3 = r + 3 < rows ? row0 + 3 * stride : row0;
        for (int j = 0; j < count; j += 8) {
            const int left = count - j;
            __m256i q0 = quantize8(load8(row0 + j, left), inv, lo, hi);
            __m256i q1 = quantize8(load8(row1 + j, left), inv, lo, hi);
            __m256i q2 = quantize8(load8(row2 + j, left), inv, lo, hi);
            __m256i q3 = quantize8(load8(row3 + j, left), inv, lo, hi);
            __m256i word = _mm256_add_epi32(_mm256_add_epi32(q0, zero_bytes), _mm256_slli_epi32(q1, 8));
            word = _mm256_add_epi32(word, _mm256_add_epi32(_mm256_slli_epi32(q2, 16), _mm256_slli_epi32(q3, 24)));
            if (left >= 8)
                _mm256_storeu_si256((__m256i *)(dst + j), word);
            else
                _mm256_maskstore_epi32((int *)(dst + j), column_mask(left), word);
        }
    }
}

static void quantize_row_avx2(const float *x, int count, float inv_scale, float zero_point, unsigned char *dst)
{
    const __m256 inv = _mm256_set1_ps(inv_scale), lo = _mm256_set1_ps(-zero_point);
    const __m256 hi = _mm256_set1_ps(255.0f - zero_point);
    const __m256i zero = _mm256_set1_epi32((int)zero_point);
    int j = 0;
    for (; j + 16 <= count; j += 16) {
        __m256i q0 = _mm256_add_epi32(quantize8(_mm256_loadu_ps(x + j), inv, lo, hi), zero);
        __m256i q1 = _mm256_add_epi32(quantize8(_mm256_loadu_ps(x + j + 8), inv, lo, hi), zero);
        /* 16-bit packing works within 128-bit lanes: put the quarters back in order */
        __m256i words = _mm256_permute4x64_epi64(_mm256_packs_epi32(q0, q1), 0xd8);
        __m128i bytes = _mm_packus_epi16(_mm256_castsi256_si128(words), _mm256_extracti128_si256(words, 1));
        _mm_storeu_si128((__m128i *)(dst + j), bytes);
    }
    for (; j < count; j++) /* the same rule, one value at a time */
        dst[j] = (unsigned char)incept_qgemm_quantize(x[j], inv_scale, zero_point);
}

const incept_qgemm_kernels incept_qgemm_avx2 = {"avx2", NR, kernel_avx2, pack_avx2, quantize_row_avx2};
