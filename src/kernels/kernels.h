/* kernels.h — the compute kernels that ops share: SGEMM with CPU-specific micro-kernels, and the
 * Winograd F(4x4, 3x3) convolution. Ops decide what to compute; kernels decide how. */
#ifndef INCEPT_KERNELS_H
#define INCEPT_KERNELS_H

#include <stddef.h>

/* C[M, N] = A[M, K] * B[K, N], then + bias[row] and ReLU when asked; row-major, any strides.
 * `workspace` holds incept_gemm_workspace(m, n, k, threads) floats. Deterministic for any
 * thread count. */
size_t incept_gemm_workspace(int m, int n, int k, int threads);
void incept_gemm(int threads, int m, int n, int k, const float *a, int lda, const float *b, int ldb,
                 float *c, int ldc, const float *bias, int relu, float *workspace);

/* The same product from operands already in the micro-kernel's packed layouts, over the whole
 * depth k at once, single-threaded: A as panels of MR rows (k steps of MR values, panel p at
 * p*MR*k), B as panels of NR columns (k steps of NR values, panel q at q*NR*k); MR and NR are
 * incept_gemm_tile()'s. For callers that produce their operands (Winograd transforms) directly
 * in this layout instead of packing them afterwards. */
void incept_gemm_tile(int *mr, int *nr);
void incept_gemm_prepacked(int m, int n, int k, const float *a_packed, const float *b_packed,
                           float *c, int ldc);

/* Winograd F(tile x tile, 3x3), tile 4 or 2: 3x3 stride-1 convolution with 36 multiplies per
 * 16 outputs (tile 4) or 16 per 4 (tile 2) instead of 9 per output. Reassociates the sums, so
 * results differ from direct convolution by ~1e-6 relative. Threads share each call. */
int incept_winograd_tiles(int tile, int batch, int out_h, int out_w);
size_t incept_winograd_workspace(int tile, int in_c, int out_c, int batch, int out_h, int out_w);
void incept_winograd_conv(int tile, const float *input, size_t in_batch_stride, int batch, int in_c,
                          int in_h, int in_w, const float *weight, const float *bias, int out_c,
                          int pad_top, int pad_left, int relu, float *output, size_t out_batch_stride,
                          int out_h, int out_w, float *workspace, int threads);

#endif
