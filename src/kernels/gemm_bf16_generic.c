/* gemm_bf16_generic.c — the portable bf16 GEMM micro-kernel: the tile of the AVX-512 BF16 one
 * (so both read the same packed panels), in plain C. Each bf16 pair widens to two floats, whose
 * products are exact in float (8-bit by 8-bit significands), added to the lane's sum odd one
 * first, as vdpbf16ps does (which also flushes subnormal inputs and results to zero: the two
 * agree bit for bit on normal values). The reference the AVX-512 kernel is tested against, and
 * the kernel on CPUs without AVX-512 BF16 (where a bf16 session is slower than a float one). */
#include "kernels/bf16.h"
#include "kernels/gemm_kernels.h"

#define MR 12
#define NR 32

static void kernel_bf16_generic(int kp, const uint32_t *a, int lda, const uint32_t *b, float *c,
                                int ldc, int rows, int cols, int accumulate, const float *bias,
                                int relu)
{
    float acc[MR][NR] = {{0}};
    const int width = cols <= 16 ? 16 : NR;
    for (int k = 0; k < kp; k++)
        for (int r = 0; r < rows; r++) {
            const uint32_t w = a[(long)r * lda + k];
            const float even = incept_bf16_float((uint16_t)w), odd = incept_bf16_float((uint16_t)(w >> 16));
            for (int j = 0; j < width; j++) {
                const uint32_t x = b[k * NR + j];
                acc[r][j] += odd * incept_bf16_float((uint16_t)(x >> 16));
                acc[r][j] += even * incept_bf16_float((uint16_t)x);
            }
        }
    incept_tile_store(acc[0], NR, rows, cols, c, ldc, accumulate, bias, relu);
}

const incept_gemm_bf16_isa incept_gemm_bf16_generic = {"generic", MR, NR, kernel_bf16_generic};
