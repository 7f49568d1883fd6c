/* kernels.h — the compute kernels that ops share: SGEMM with CPU-specific micro-kernels, and the
 * Winograd F(4x4, 3x3) convolution. Ops decide what to compute; kernels decide how. */
#ifndef INCEPT_KERNELS_H
#define INCEPT_KERNELS_H

#include <stddef.h>
#include <stdint.h>

/* C[M, N] = A[M, K] * B[K, N], then + bias[row] and ReLU when asked; row-major, any strides.
 * `workspace` holds incept_gemm_workspace(m, n, k, threads) floats. Deterministic for any
 * thread count. */
size_t incept_gemm_workspace(int m, int n, int k, int threads);
void incept_gemm(int threads, int m, int n, int k, const float *a, int lda, const float *b, int ldb,
                 float *c, int ldc, const float *bias, int relu, float *workspace);

/* Several GEMMs with one B: C_i[rows_i, N] = A_i[rows_i, K] * B[K, N] (+ bias_i, ReLU_i), computed
 * as one GEMM over the parts' rows stacked, so B is packed once and the threads split the whole.
 * Each part's results are the bits incept_gemm gives it alone. For the 1x1 convolutions of an
 * Inception module that read the same input. */
typedef struct {
    const float *a;
    int lda, rows;
    float *c;
    int ldc;
    const float *bias;
    int relu;
    /* or, for a bf16 product (incept_gemm_bf16), A as bf16 pairs of k: row r at a_bf16 + r * lda
     * words (a unused); every part of one call the same kind */
    const uint32_t *a_bf16;
} incept_gemm_part;
void incept_gemm_stacked(int threads, int n, int k, const incept_gemm_part *parts, int n_parts,
                         const float *b, int ldb, float *workspace);

/* C[M, N] = A[M, K] * B[K, N] with B given transposed: bt[N, K] (row stride ldbt), as for a
 * fully connected layer's weight. No bias or ReLU. */
void incept_gemm_bt(int threads, int m, int n, int k, const float *a, int lda, const float *bt,
                    int ldbt, float *c, int ldc, float *workspace);

/* C[M, N] += A[M, K] * B[K, N], B dense or (b_transposed) given as bt[N, K]: for gradients. */
void incept_gemm_accumulate(int threads, int m, int n, int k, const float *a, int lda, const float *b,
                            int ldb, int b_transposed, float *c, int ldc, float *workspace);

/* A convolution's input seen as the im2col matrix B[K, N] of one group of `images` images side
 * by side: row k = (c*kernel_h + ky)*kernel_w + kx, column n = (i*out_h + oy)*out_w + ox for
 * image i (images 0 means 1). Image i's channels start at input + i * image_stride. */
typedef struct {
    const float *input; /* channels x in_h x in_w per image */
    int channels, in_h, in_w;
    int kernel_h, kernel_w, stride_h, stride_w, pad_top, pad_left, dilation_h, dilation_w;
    int out_h, out_w;
    int images;
    size_t image_stride;
} incept_im2col;

/* incept_gemm with B = the im2col matrix of `conv`, unfolded panel by panel as the GEMM packs
 * it: no column buffer, and each value is read from the image once per panel. */
void incept_gemm_conv(int threads, int m, int n, int k, const float *a, int lda,
                      const incept_im2col *conv, float *c, int ldc, const float *bias, int relu,
                      float *workspace);
/* The whole im2col matrix, dense: col[K][N]. */
void incept_im2col_dense(const incept_im2col *conv, float *col);
/* The adjoint: the images (at `image`, image_stride apart) += the columns folded back (every
 * tap adds into the pixel it read). */
void incept_col2im_add(const incept_im2col *conv, const float *col, float *image);
/* Packs rows [k0, k0+kc) and columns [j0, j1) of the im2col matrix into panels of nr columns
 * (for each row, nr values; zeros past j1). Hidden by name: it is compiled as target clones,
 * whose dispatcher GCC would otherwise export despite -fvisibility=hidden. */
#if defined(__GNUC__)
__attribute__((visibility("hidden")))
#endif
void incept_im2col_pack(const incept_im2col *conv, int k0, int kc, int j0, int j1, int nr,
                        float *dst);
/* The same for a bf16 product: rows in pairs (k0 even), each panel kp = ceil(kc / 2) steps of nr
 * words (kernels/bf16.h), the odd last row paired with zeros. */
#if defined(__GNUC__)
__attribute__((visibility("hidden")))
#endif
void incept_im2col_pack_bf16(const incept_im2col *conv, int k0, int kc, int j0, int j1, int nr,
                             uint32_t *dst);

/* The same product from a B already in the micro-kernel's packed layout, over the whole depth k
 * at once, single-threaded: B as panels of NR columns (k steps of NR values, panel q at
 * q*NR*k), A row-major with row stride lda (>= k). MR and NR are incept_gemm_tile()'s. For
 * callers that produce B (Winograd's transformed inputs) directly in this layout. */
/* How a GEMM of `panels` row panels and `column_units` column units splits over *threads (both
 * GEMMs here, float and int8): by columns unless splitting the row panels leaves the busiest
 * thread a quarter less work; *threads is cut to what the chosen side can use. Returns 1 for
 * columns. incept_gemm_share then gives thread `tid` of `nth` its part [*lo, *hi) of `count`
 * items taken `unit` at a time. */
int incept_gemm_split(int panels, int column_units, int *threads);
void incept_gemm_share(int tid, int nth, int count, int unit, int *lo, int *hi);
void incept_gemm_tile(int *mr, int *nr);
void incept_gemm_prepacked(int m, int n, int k, const float *a, int lda, const float *b_packed,
                           float *c, int ldc);

/* The same products in bf16 (kernels/bf16.h): A given once as bf16 pairs (incept_bf16_rows:
 * lda = incept_bf16_row_length(k) / 2 words a row), B rounded to bf16 while it is packed,
 * products summed in float; bias and ReLU as above. The workspaces are incept_gemm_workspace's. */
void incept_bf16_rows(const float *src, int rows, int k, uint32_t *dst);
void incept_gemm_bf16(int threads, int m, int n, int k, const uint32_t *a, int lda, const float *b,
                      int ldb, float *c, int ldc, const float *bias, int relu, float *workspace);
void incept_gemm_conv_bf16(int threads, int m, int n, int k, const uint32_t *a, int lda,
                           const incept_im2col *conv, float *c, int ldc, const float *bias, int relu,
                           float *workspace);
/* incept_gemm_prepacked in bf16: kp steps of pairs of k, B as panels of NR words (panel q at
 * q * NR * kp), A row-major pairs with row stride lda words; MR, NR incept_gemm_bf16_tile's. */
void incept_gemm_bf16_tile(int *mr, int *nr);
void incept_gemm_prepacked_bf16(int m, int n, int kp, const uint32_t *a, int lda,
                                const uint32_t *b_packed, float *c, int ldc);

/* Winograd F(4x4, 3x3) and F(4x4, 5x5): stride-1 convolution by 3x3 filters with 36 multiplies
 * per 16 outputs instead of 9 per output, and by 5x5 filters with 64 instead of 25 per output.
 * Reassociates the sums, so results differ from direct convolution (~1e-6 relative for 3x3,
 * ~1e-5 for 5x5). Threads share each call. */
typedef struct {
    const float *input; /* batch x in_c x in_h x in_w, samples in_batch_stride apart */
    size_t in_batch_stride;
    int batch, in_c, in_h, in_w;
    const float *weight, *bias; /* out_c x in_c x kernel x kernel; bias may be NULL */
    int kernel;                 /* 3 or 5 */
    int out_c, pad_top, pad_left, relu;
    float *output; /* batch x out_c x out_h x out_w, samples out_batch_stride apart */
    size_t out_batch_stride;
    int out_h, out_w;
    int accumulate; /* add into the output instead of writing it (bias and relu must be off) */
    int bf16;       /* transformed filters and inputs rounded to bf16, multiplied by bf16 GEMMs */
    const uint32_t *filters_bf16; /* bf16: the filters transformed ahead (NULL: on each call) */
} incept_winograd_args;
int incept_winograd_tiles(int kernel, int batch, int out_h, int out_w);
/* A bf16 call's transformed filters, made once for a weight that does not change: the words
 * they take, and the transform itself (for args.filters_bf16). */
size_t incept_winograd_bf16_filter_words(int kernel, int in_c, int out_c);
void incept_winograd_bf16_filters(int kernel, const float *weight, int in_c, int out_c, uint32_t *u);
size_t incept_winograd_workspace(int kernel, int in_c, int out_c, int batch, int out_h, int out_w,
                                 int threads);
void incept_winograd_conv(const incept_winograd_args *args, float *workspace, int threads);

#endif
