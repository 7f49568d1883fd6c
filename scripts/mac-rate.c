/* mac-rate.c — the peak multiply-add rate of one core for fp32 FMA (vfmadd231ps) and bf16 dot
 * products (vdpbf16ps, two bf16 products a lane into fp32), each with 12 independent zmm
 * accumulators so that neither waits on its own latency. The question it answers: does bf16
 * buy compute on this CPU, or only memory traffic? Needs AVX512_BF16.
 *
 *   gcc -O2 scripts/mac-rate.c -o /tmp/mac-rate && /tmp/mac-rate */
#include <immintrin.h>
#include <stdio.h>
#include <time.h>

#define INSTRUCTIONS 240000000L
#define ACCUMULATORS 12

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

__attribute__((target("avx512f"))) static float fp32_loop(void)
{
    __m512 acc[ACCUMULATORS];
    __m512 x = _mm512_set1_ps(1.0f), y = _mm512_set1_ps(0.5f);
    for (int k = 0; k < ACCUMULATORS; k++)
        acc[k] = _mm512_set1_ps((float)k); /* distinct: no two chains merge */
    for (long i = 0; i < INSTRUCTIONS / ACCUMULATORS; i++) {
#pragma GCC unroll 12 /* the accumulators stay in registers */
        for (int k = 0; k < ACCUMULATORS; k++)
            acc[k] = _mm512_fmadd_ps(x, y, acc[k]);
        __asm__ volatile("" : "+v"(x), "+v"(y)); /* opaque operands: nothing folds */
    }
    for (int k = 1; k < ACCUMULATORS; k++)
        acc[0] = _mm512_add_ps(acc[0], acc[k]);
    return _mm512_reduce_add_ps(acc[0]);
}

__attribute__((target("avx512f,avx512bf16"))) static float bf16_loop(void)
{
    __m512 acc[ACCUMULATORS];
    __m512bh x = (__m512bh)_mm512_set1_epi16(0x3f80), y = (__m512bh)_mm512_set1_epi16(0x3f00);
    for (int k = 0; k < ACCUMULATORS; k++)
        acc[k] = _mm512_set1_ps((float)k); /* distinct: no two chains merge */
    for (long i = 0; i < INSTRUCTIONS / ACCUMULATORS; i++) {
#pragma GCC unroll 12
        for (int k = 0; k < ACCUMULATORS; k++)
            acc[k] = _mm512_dpbf16_ps(acc[k], x, y);
        __asm__ volatile("" : "+v"(x), "+v"(y));
    }
    for (int k = 1; k < ACCUMULATORS; k++)
        acc[0] = _mm512_add_ps(acc[0], acc[k]);
    return _mm512_reduce_add_ps(acc[0]);
}

int main(void)
{
    if (!__builtin_cpu_supports("avx512bf16")) {
        fprintf(stderr, "mac-rate: this CPU has no AVX512_BF16\n");
        return 1;
    }
    for (int round = 0; round < 3; round++) {
        double t0 = now();
        float a = fp32_loop();
        double t1 = now();
        float b = bf16_loop();
        double t2 = now();
        printf("fp32 FMA: %.2f G instructions/s, %.1f G multiply-adds/s; bf16 dot: %.2f G "
               "instructions/s, %.1f G multiply-adds/s (checks %g %g)\n",
               INSTRUCTIONS / (t1 - t0) * 1e-9, 16.0 * INSTRUCTIONS / (t1 - t0) * 1e-9,
               INSTRUCTIONS / (t2 - t1) * 1e-9, 32.0 * INSTRUCTIONS / (t2 - t1) * 1e-9, (double)a,
               (double)b);
    }
    return 0;
}
