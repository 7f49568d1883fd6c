/* qgemm_generic.c — the portable int8 micro-kernel and input packer, plain C: the reference
 * the AVX2 and AVX-512 VNNI kernels are tested against bit for bit, and the kernel on CPUs
 * without them. Layouts: qgemm_kernels.h. */
#include "kernels/qgemm_kernels.h"

#define MR INCEPT_QGEMM_PANEL_ROWS
#define NR 16

static void kernel_generic(int quads, const signed char *a, const uint32_t *b, float *c, int ldc,
                           int rows, int cols, const float *scale, const float *bias, int relu)
{
    int32_t acc[MR][NR] = {{0}};
    for (int q = 0; q < quads; q++) {
        /* the quad's 4 bytes of each column apart, so the loops below vectorize over columns */
        int32_t depth[4][NR];
        for (int t = 0; t < 4; t++)
            for (int j = 0; j < NR; j++)
                depth[t][j] = (int32_t)(b[(long)q * NR + j] >> 8 * t & 255);
        const signed char *aq = a + (long)q * MR * 4;
        for (int r = 0; r < MR; r++)
            for (int t = 0; t < 4; t++)
                for (int j = 0; j < NR; j++)
                    acc[r][j] += aq[4 * r + t] * depth[t][j];
    }
    for (int r = 0; r < rows; r++)
        for (int j = 0; j < cols; j++) {
            float v = (float)acc[r][j] * scale[r];
            v = v + bias[r]; /* its own statement: never contracted into a fused multiply-add */
            c[(long)r * ldc + j] = relu && v < 0.0f ? 0.0f : v;
        }
}

static void pack_generic(const float *x, size_t stride, int rows, int count, float inv_scale,
                         float zero_point, uint32_t *dst, int dst_stride)
{
    for (int r = 0; r < rows; r += 4, dst += dst_stride) {
        const float *row0 = x + r * stride, *row1 = r + 1 < rows ? row0 + stride : row0;
        const float *row2 = r + 2 < rows ? row0 + 2 * stride : row0, *row3 = r + 3 < rows ? row0 + 3 * stride : row0;
        for (int j = 0; j < count; j++)
            dst[j] = incept_qgemm_quantize(row0[j], inv_scale, zero_point) |
                     incept_qgemm_quantize(row1[j], inv_scale, zero_point) << 8 |
                     incept_qgemm_quantize(row2[j], inv_scale, zero_point) << 16 |
                     incept_qgemm_quantize(row3[j], inv_scale, zero_point) << 24;
    }
}

static void quantize_row_generic(const float *x, int count, float inv_scale, float zero_point,
                                 unsigned char *dst)
{
    for (int j = 0; j < count; j++)
        dst[j] = (unsigned char)incept_qgemm_quantize(x[j], inv_scale, zero_point);
}

const incept_qgemm_kernels incept_qgemm_generic = {"generic", NR, kernel_generic, pack_generic,
                                                   quantize_row_generic};
