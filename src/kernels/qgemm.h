/* qgemm.h — the int8 convolution GEMM: C[M, N] (float) = scale[m] * (W[M, K] . X[K, N]) + bias[m]
 * (ReLU when asked), W the weights quantized to signed 8 bits per output channel (symmetric,
 * [-127, 127]), X the im2col matrix of the input quantized to unsigned 8 bits with one scale and
 * zero point for the tensor (x = scale * (q - zero_point)), the products summed exactly in 32-bit
 * integers. Micro-kernels per instruction set (AVX-512 VNNI's vpdpbusd, AVX2, portable) give
 * the same integers; the float epilogue is the same code. Ops decide what to quantize; this
 * decides how to multiply. */
#ifndef INCEPT_KERNELS_QGEMM_H
#define INCEPT_KERNELS_QGEMM_H

#include <stddef.h>

#include "kernels/kernels.h"

/* One tensor's 8-bit code: x = scale * (q - zero_point), q in [0, 255]. A value x codes as
 * q = clamp(nearbyint(x * (1 / scale)) + zero_point, 0, 255) (rounding to nearest even in the
 * default mode; a NaN codes as 0), the same bits in every kernel (qgemm_kernels.h). */
typedef struct {
    float scale;
    int zero_point;
} incept_quant;

/* The code for values observed in [lo, hi] (0 always representable: a padding zero is exact):
 * the range widened to hold 0, scale = (hi - lo) / 255 (1 if that is 0 or not finite), and
 * zero_point = round(-lo / scale) in [0, 255]. */
incept_quant incept_quant_range(float lo, float hi);

/* A weight row's scale (max |w| / 127; 1 for a row of zeros) and a weight's code under it
 * (nearest, in [-127, 127]; NaN 0): what incept_qgemm_prepare does to every row, and what a
 * quantized ONNX export writes. */
float incept_quant_weight_scale(const float *row, int k);
int incept_quant_weight(float w, float scale);

/* A convolution's weights, quantized and laid out for the micro-kernels (incept_qgemm_prepare):
 * per output channel m, scale[m] = input scale * weight scale of m, and bias[m] the float bias
 * less the input zero point's contribution (zero_point * input scale * weight scale * sum of the
 * row's quantized weights), so the kernels need no correction of their own. */
typedef struct {
    int m, k;          /* rows (output channels) and depth (channels x kernel taps) */
    signed char *data; /* packed: the layout is the kernels' (qgemm.c) */
    float *scale, *bias;
    float weight_max;  /* largest |w| of all rows (for reports) */
} incept_qgemm_weights;

/* Bytes of the packed weights for m x k (data), to allocate once per model. */
size_t incept_qgemm_weights_bytes(int m, int k);
/* Quantizes w[M, K] (row stride ldw; bias may be NULL) for inputs coded by `input`, into *out
 * whose data, scale and bias point to incept_qgemm_weights_bytes(m, k) bytes and m floats each.
 * Row m symmetric: weight scale max|w| / 127 (1 for a row of zeros), q = clamp(nearbyint(w /
 * weight scale), -127, 127). */
void incept_qgemm_prepare(int m, int k, const float *w, int ldw, const float *bias, incept_quant input,
                          incept_qgemm_weights *out);

/* Bytes of workspace incept_qgemm_conv needs for n columns on `threads` threads, 64-byte
 * aligned: per thread about 48 * k bytes + 268 KB (a packed panel, the quantized rows of the
 * input a block of columns reads), whatever m and n. */
size_t incept_qgemm_workspace(int m, int n, int k, int threads);
/* C[M, N] (row stride ldc) = the quantized product of w and the im2col matrix of `conv` (whose
 * float input is coded by `input` while it is packed: padding is the zero point), + bias,
 * ReLU when asked. Deterministic and the same for any thread count and instruction set:
 * c[m][n] = (float)acc * scale[m] + bias[m], the two rounded separately, acc the exact int32
 * sum over k of the quantized weights times the input codes. `input` must be the code w was
 * prepared for (its zero point is folded into w's bias). */
void incept_qgemm_conv(int threads, const incept_qgemm_weights *w, int n, const incept_im2col *conv,
                       incept_quant input, float *c, int ldc, int relu, void *workspace);

/* The instruction set in use ("avx512vnni", "avx2", "generic"), and forcing one (tests compare
 * them; 0 if this CPU lacks it; NULL goes back to automatic). */
const char *incept_qgemm_isa(void);
int incept_qgemm_force_isa(const char *name);

#endif
