/* bf16.h — bfloat16, the top 16 bits of an IEEE float (8 exponent bits, 7 of mantissa), as a
 * bf16 session's convolutions multiply: weights and inputs rounded to it, products summed in
 * float. Conversion rounds to nearest even in plain C (every kernel sees the same bits, with no
 * MXCSR or denormal mode in the way); a NaN stays a (quiet) NaN. Pairs: the micro-kernels read
 * two bf16 values of consecutive k as one 32-bit word, the even k in the low half (the order of
 * AVX-512 BF16's vdpbf16ps). */
#ifndef INCEPT_KERNELS_BF16_H
#define INCEPT_KERNELS_BF16_H

#include <stdint.h>
#include <string.h>

static inline uint16_t incept_bf16_round(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    if ((u & 0x7fffffffu) > 0x7f800000u)
        return (uint16_t)((u >> 16) | 0x40u);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

static inline float incept_bf16_float(uint16_t h)
{
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* The word of two bf16 values: `even` (k = 2p) low, `odd` (k = 2p + 1) high. */
static inline uint32_t incept_bf16_pair(float even, float odd)
{
    return (uint32_t)incept_bf16_round(even) | (uint32_t)incept_bf16_round(odd) << 16;
}

/* Row-major bf16 rows of depth k padded to even (pairs never straddle rows). */
static inline int incept_bf16_row_length(int k) { return k + (k & 1); }

#endif
