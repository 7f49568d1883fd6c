/* qgemm_kernels.h — the int8 GEMM's micro-kernels, one per instruction set, the layouts they
 * share, and the table that picks one at run time from CPUID (qgemm.c).
 *
 * Weights (packed once by incept_qgemm_prepare): row panels of INCEPT_QGEMM_PANEL_ROWS output
 * channels; within a panel, for each quad of depth (k = 4q .. 4q+3), each row's 4 signed bytes
 * (k ascending), so one 32-bit load is the 4 taps of one channel. Rows past m and depth past k
 * are zero weights (so whatever the activations hold there adds nothing).
 *
 * Activations (packed per call): column panels of nr columns; for each quad, nr 32-bit words,
 * word j holding column j's 4 unsigned bytes (byte t = depth 4q + t, lowest byte first), which
 * is vpdpbusd's layout for 16 columns per zmm. Words past the panel's columns are written up to
 * a multiple of 16; no kernel reads further.
 *
 * A kernel computes one panel of rows x one panel of columns over the whole depth, in exact
 * 32-bit integer sums, then stores C[r][j] = (float)acc * scale[r] + bias[r] (ReLU when asked:
 * negatives to 0, NaN kept), the multiply and the add rounded separately, so every kernel
 * stores the same bits. Only rows < `rows` and columns < `cols` of C are written. */
#ifndef INCEPT_KERNELS_QGEMM_KERNELS_H
#define INCEPT_KERNELS_QGEMM_KERNELS_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>

#define INCEPT_QGEMM_PANEL_ROWS 8 /* rows of a packed weight panel: every kernel's MR */
#define INCEPT_QGEMM_MAX_NR 48    /* the widest column panel of any kernel */

typedef void (*incept_qgemm_micro_kernel)(int quads, const signed char *a, const uint32_t *b,
                                          float *c, int ldc, int rows, int cols,
                                          const float *scale, const float *bias, int relu);

/* Quantizes `rows` rows of floats (row r at x + r * stride), `count` columns each, into packed
 * words: rows 4q .. 4q+3 become bytes 0 .. 3 of dst[q * dst_stride + j], j < count (no word
 * past count is written). In a last quad with fewer than 4 rows the missing bytes are
 * copies of row 4q (their weights are zero). */
typedef void (*incept_qgemm_packer)(const float *x, size_t stride, int rows, int count, float inv_scale,
                                    float zero_point, uint32_t *dst, int dst_stride);

/* Quantizes `count` floats into bytes (the strips of qgemm.c). */
typedef void (*incept_qgemm_row_quantizer)(const float *x, int count, float inv_scale, float zero_point,
                                           unsigned char *dst);

typedef struct {
    const char *name; /* "avx512vnni", "avx2", "generic" */
    int nr;           /* columns of a packed panel: a multiple of 16, at most INCEPT_QGEMM_MAX_NR */
    incept_qgemm_micro_kernel kernel;
    incept_qgemm_packer pack;
    incept_qgemm_row_quantizer quantize_row;
} incept_qgemm_kernels;

extern const incept_qgemm_kernels incept_qgemm_generic;
#if defined(__x86_64__) || defined(__i386__)
#define INCEPT_HAVE_X86_QKERNELS 1
extern const incept_qgemm_kernels incept_qgemm_avx2;
extern const incept_qgemm_kernels incept_qgemm_avx512vnni;
#endif

const incept_qgemm_kernels *incept_qgemm_current(void);

/* The input code of one value: clamp(nearbyint(x * inv_scale) + zero_point, 0, 255), NaN to 0
 * (zero_point an integer in [0, 255]). Computed as the vector kernels do, which is the same
 * number: t = x * inv_scale clamped to [-zero_point, 255 - zero_point] first (a NaN becomes the
 * lower end, as max(t, lo) gives its second operand on NaN), then rounded in the current
 * rounding mode (cvtps2dq, nearbyintf), then the zero point added as an integer (exact, no
 * clamp needed after). Clamping before rounding changes nothing: both ends are integers. */
static inline uint32_t incept_qgemm_quantize(float x, float inv_scale, float zero_point)
{
    float t = x * inv_scale;
    t = t > -zero_point ? t : -zero_point;
    t = t < 255.0f - zero_point ? t : 255.0f - zero_point;
    return (uint32_t)((int32_t)nearbyintf(t) + (int32_t)zero_point);
}

#endif
