/* gemm_generic.c — the portable SGEMM micro-kernel, plain C that compilers vectorize for the
 * baseline instruction set. Always built; the reference the CPU-specific kernels are tested
 * against, and the kernel on CPUs without AVX2. */
#include "kernels/gemm_kernels.h"

#define MR 4
#define NR 16

static void kernel_generic(int kc, const float *a, int lda, const float *b, float *c, int ldc,
                           int rows, int cols, int accumulate, const float *bias, int relu)
{
    float acc[MR][NR] = {{0}};
    for (int k = 0; k < kc; k++)
        for (int r = 0; r < MR; r++) {
            float ar = lda ? (r < rows ? a[(long)r * lda + k] : 0.0f) : a[k * MR + r];
            for (int j = 0; j < NR; j++)
                acc[r][j] += ar * b[k * NR + j];
        }
    incept_tile_store(acc[0], NR, rows, cols, c, ldc, accumulate, bias, relu);
}

const incept_gemm_isa incept_gemm_generic = {"generic", MR, NR, kernel_generic};
