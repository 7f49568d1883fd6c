/* gemm.c — our SGEMM: C[M, N] = A[M, K] * B[K, N] (+ bias per row, ReLU), row-major.
 *
 * Why not OpenBLAS: measured on this project's machine (AMD Zen, AVX-512), Debian's OpenBLAS
 * 0.3.21 runs its Haswell (AVX2) kernels (the environment pins OPENBLAS_CORETYPE=Haswell, since
 * older builds miscompute on these CPUs) and its threading splits the small GEMMs of a batch-1
 * Inception network poorly: conv2 of GoogLeNet ran at ~170 GFLOP/s on 2 threads through
 * OpenBLAS and ~320 GFLOP/s through this file's AVX-512 kernel. This follows the GotoBLAS scheme
 * with one change: B is packed per thread in blocks of KC x NC, but A (the weights) is read in
 * place by the micro-kernel, MR rows at a time; at batch 1 the 7x7 and 14x14 layers spent as
 * long repacking their weights on every call as multiplying them (a 7x7 3x3 conv: 0.69 ->
 * 0.49 ms). A micro-kernel per instruction set (gemm_avx512.c, gemm_avx2.c, gemm_generic.c) is
 * chosen from CPUID; bias and ReLU are applied by it as each tile is stored. Threads split the
 * columns, or the row panels where that is a quarter better (then packing each block of B
 * together).
 * Several A's can share one B (incept_gemm_stacked: an Inception module's 1x1 convolutions).
 * Results do not depend on the thread count: every element is summed over k in the same order. */
#include <stdlib.h>
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "core/cpu.h"
#include "kernels/bf16.h"
#include "kernels/gemm_kernels.h"
#include "kernels/isa.h"
#include "kernels/kernels.h"

#define KC 256 /* depth of a packed block: an A panel and a B panel fit in L1 */
#define NC 512 /* columns of a packed B block: it stays in L2 */

static const incept_isa_variant variants[] = {
    {"generic", incept_cpu_any, &incept_gemm_generic},
#ifdef INCEPT_HAVE_X86_KERNELS
    {"avx2", incept_cpu_avx2_fma, &incept_gemm_avx2},
    {"avx512", incept_cpu_avx512, &incept_gemm_avx512},
#endif
};
static incept_isa_family family = {variants, (int)(sizeof variants / sizeof variants[0]), "INCEPT_ISA", NULL, NULL};

const incept_gemm_isa *incept_gemm_current(void) { return incept_isa_kernels(&family); }

int incept_gemm_force_isa(const char *name) { return incept_isa_force(&family, name); }

static const incept_isa_variant bf16_variants[] = {
    {"generic", incept_cpu_any, &incept_gemm_bf16_generic},
#ifdef INCEPT_HAVE_X86_KERNELS
    {"avx512bf16", incept_cpu_avx512_bf16, &incept_gemm_bf16_avx512},
#endif
};
static incept_isa_family bf16_family = {bf16_variants, (int)(sizeof bf16_variants / sizeof bf16_variants[0]),
                                        "INCEPT_BF16_ISA", NULL, NULL};

const incept_gemm_bf16_isa *incept_gemm_bf16_current(void) { return incept_isa_kernels(&bf16_family); }

int incept_gemm_bf16_force_isa(const char *name) { return incept_isa_force(&bf16_family, name); }

void incept_bf16_rows(const float *src, int rows, int k, uint32_t *dst)
{
    const int words = incept_bf16_row_length(k) / 2;
    for (int r = 0; r < rows; r++)
        for (int p = 0; p < words; p++) {
            const float *at = src + (size_t)r * k + 2 * p;
            dst[(size_t)r * words + p] = incept_bf16_pair(at[0], 2 * p + 1 < k ? at[1] : 0.0f);
        }
}

size_t incept_gemm_workspace(int m, int n, int k, int threads)
{
    (void)m, (void)n, (void)k; /* one KC x NC block of packed B per thread, whatever the shape */
    return (size_t)threads * KC * NC;
}

/* B[pc.., j0..j1) as panels of NR columns: for each k, NR values, zeros past j1. Row by row, each
 * row's stretch read once from start to end and spread over the panels: reading a panel at a
 * time instead jumps between kc rows (a row apart in memory) every few cache lines. */
static void pack_b_block(const float *b, int ldb, int pc, int kc, int j0, int j1, int nr, float *dst)
{
    for (int kk = 0; kk < kc; kk++) {
        const float *src = b + (size_t)(pc + kk) * ldb;
        for (int q = 0; j0 + q * nr < j1; q++) {
            int first = j0 + q * nr, count = j1 - first < nr ? j1 - first : nr;
            float *out = dst + (size_t)q * kc * nr + (size_t)kk * nr;
            memcpy(out, src + first, sizeof(float) * count);
            for (int j = count; j < nr; j++)
                out[j] = 0.0f;
        }
    }
}

/* B is a dense matrix or the im2col matrix of a convolution. */
typedef struct {
    const float *b;
    int ldb;
    int transposed; /* B[k][j] is at b[j * ldb + k] */
    const incept_im2col *conv;
} b_source;

/* pack_b_block for a B stored transposed (each column contiguous: a gradient's B, the im2col
 * matrix seen as col^T). A transpose, done in blocks of 16 values of k: the block's nr source
 * lines stay in L1 while each packed row is written whole. Column by column, each value was a
 * store a panel row apart (perf: 7% of a training step, all in that one store). */
INCEPT_VECTOR_CLONES
static void pack_bt_block(const float *bt, int ldb, int pc, int kc, int j0, int j1, int nr, float *dst)
{
    for (int q = 0; j0 + q * nr < j1; q++) {
        int first = j0 + q * nr, count = j1 - first < nr ? j1 - first : nr;
        float *panel = dst + (size_t)q * kc * nr;
        const float *columns = bt + (size_t)first * ldb + pc;
        for (int k0 = 0; k0 < kc; k0 += 16) {
            const int depth = kc - k0 < 16 ? kc - k0 : 16;
            for (int t = 0; t < depth; t++) {
                float *out = panel + (size_t)(k0 + t) * nr;
                for (int j = 0; j < count; j++)
                    out[j] = columns[(size_t)j * ldb + k0 + t];
                for (int j = count; j < nr; j++)
                    out[j] = 0.0f;
            }
        }
    }
}

/* Packs columns [j0, j1) of B's rows [pc, pc + kc) into panels at dst. */
static void pack_b(const b_source *src, int pc, int kc, int j0, int j1, int nr, float *dst)
{
    if (src->conv)
        incept_im2col_pack(src->conv, pc, kc, j0, j1, nr, dst);
    else if (src->transposed)
        pack_bt_block(src->b, src->ldb, pc, kc, j0, j1, nr, dst);
    else
        pack_b_block(src->b, src->ldb, pc, kc, j0, j1, nr, dst);
}

/* pack_b_block for a bf16 product: rows pc + 2p and pc + 2p + 1 of a dense B rounded into the
 * words of step p (kernels/bf16.h), panel q at q * kp * nr words, kp = ceil(kc / 2); the odd
 * last row paired with zeros, columns past j1 zeros. */
INCEPT_VECTOR_CLONES
static void pack_b_block_bf16(const float *b, int ldb, int pc, int kc, int j0, int j1, int nr,
                              uint32_t *dst)
{
    const int kp = (kc + 1) / 2;
    for (int p = 0; p < kp; p++) { /* a pair of rows at a time, as pack_b_block goes */
        const float *even = b + (size_t)(pc + 2 * p) * ldb;
        const float *odd = 2 * p + 1 < kc ? even + ldb : NULL;
        for (int q = 0; j0 + q * nr < j1; q++) {
            const int first = j0 + q * nr, count = j1 - first < nr ? j1 - first : nr;
            uint32_t *out = dst + (size_t)q * kp * nr + (size_t)p * nr;
            if (odd && count == nr)
                for (int j = 0; j < nr; j++)
                    out[j] = incept_bf16_pair(even[first + j], odd[first + j]);
            else
                for (int j = 0; j < nr; j++)
                    out[j] = j >= count ? 0u : incept_bf16_pair(even[first + j], odd ? odd[first + j] : 0.0f);
        }
    }
}

/* pack_b for a bf16 product, into pairs of k at dst. Its B is dense or an im2col matrix: only
 * the float gradients' GEMMs give B transposed. */
static void pack_b_bf16(const b_source *src, int pc, int kc, int j0, int j1, int nr, uint32_t *dst)
{
    if (src->conv)
        incept_im2col_pack_bf16(src->conv, pc, kc, j0, j1, nr, dst);
    else
        pack_b_block_bf16(src->b, src->ldb, pc, kc, j0, j1, nr, dst);
}

/* The row panel p of the stacked parts: which part, and its first row there. */
static const incept_gemm_part *panel_part(const incept_gemm_part *parts, int n_parts, int mr, int p,
                                          int *row)
{
    for (int i = 0; i < n_parts - 1; i++) {
        int panels = (parts[i].rows + mr - 1) / mr;
        if (p < panels) {
            *row = p * mr;
            return &parts[i];
        }
        p -= panels;
    }
    *row = p * mr;
    return &parts[n_parts - 1];
}

/* Which kernels a product runs: the float ones, or (parts with a_bf16) the bf16 ones. */
typedef struct {
    const incept_gemm_isa *f32;
    const incept_gemm_bf16_isa *bf16;
    int mr, nr;
} kernels;

static kernels kernels_for(int bf16)
{
    kernels ks = {NULL, NULL, 0, 0};
    if (bf16)
        ks.bf16 = incept_gemm_bf16_current(), ks.mr = ks.bf16->mr, ks.nr = ks.bf16->nr;
    else
        ks.f32 = incept_gemm_current(), ks.mr = ks.f32->mr, ks.nr = ks.f32->nr;
    return ks;
}

/* C's row panels [p0, p1) times the packed block of B's columns [jc, j1). */
static void multiply_block(const kernels *ks, const incept_gemm_part *parts, int n_parts, int p0,
                           int p1, int jc, int j1, int pc, int kc, int last, const float *b_packed,
                           int accumulate)
{
    const int mr = ks->mr, nr = ks->nr, kp = (kc + 1) / 2;
    for (int q = 0; jc + q * nr < j1; q++) {
        int col = jc + q * nr, cols = j1 - col < nr ? j1 - col : nr;
        for (int p = p0; p < p1; p++) {
            int row;
            const incept_gemm_part *part = panel_part(parts, n_parts, mr, p, &row);
            int rows = part->rows - row < mr ? part->rows - row : mr;
            float *tile = part->c + (size_t)row * part->ldc + col;
            const float *bias = last && part->bias ? part->bias + row : NULL;
            if (ks->bf16)
                ks->bf16->kernel(kp, part->a_bf16 + (size_t)row * part->lda + pc / 2, part->lda,
                                 (const uint32_t *)(const void *)b_packed + (size_t)q * kp * nr, tile,
                                 part->ldc, rows, cols, pc > 0 || accumulate, bias, last && part->relu);
            else
                ks->f32->kernel(kc, part->a + (size_t)row * part->lda + pc, part->lda,
                                b_packed + (size_t)q * kc * nr, tile, part->ldc, rows, cols,
                                pc > 0 || accumulate, bias, last && part->relu);
        }
    }
}

int incept_gemm_split(int panels, int column_units, int *threads)
{
    if (*threads < 1)
        *threads = 1;
    const long by_columns = (long)((column_units + *threads - 1) / *threads) * panels;
    const long by_rows = (long)((panels + *threads - 1) / *threads) * column_units;
    const int split_columns = 4 * by_rows >= 3 * by_columns;
    if (*threads > (split_columns ? column_units : panels))
        *threads = split_columns ? column_units : panels;
    return split_columns;
}

void incept_gemm_share(int tid, int nth, int count, int unit, int *lo, int *hi)
{
    const int units = (count + unit - 1) / unit, per = (units + nth - 1) / nth * unit;
    *lo = tid * per < count ? tid * per : count;
    *hi = *lo + per < count ? *lo + per : count;
}

/* The parts' rows stacked as one A (each part its own rows, C and bias), times one B. In a bf16
 * product each packed block holds pairs of k (half the floats of a float one). */
static void gemm_parts(int threads, int n, int k, const incept_gemm_part *parts, int n_parts,
                       const b_source *src, int accumulate, float *workspace)
{
    const kernels ks = kernels_for(parts[0].a_bf16 != NULL);
    const int mr = ks.mr, nr = ks.nr, bf16 = ks.bf16 != NULL;
    int panels = 0;
    for (int i = 0; i < n_parts; i++)
        panels += (parts[i].rows + mr - 1) / mr;
    float *b_packs = workspace;
    /* Split the columns, in units of 16 (the narrowest width a kernel multiplies at full speed),
     * unless splitting the row panels leaves the busiest thread a quarter less work. With
     * columns each thread packs and reads only its own part of B; with rows the threads pack B
     * together and read each other's panels across cores, behind two barriers per block.
     * Measured at 2 threads (1x1 convolutions at 14x14, batch 1): 480 -> 64 0.103 ms by rows,
     * 0.064 by columns; 528 -> 128 0.145 against 0.096 ms; 832 -> 448 0.502 against 0.520. */
    const int unit = nr % 16 == 0 ? 16 : nr, column_units = (n + unit - 1) / unit;
    const int split_columns = incept_gemm_split(panels, column_units, &threads);
#pragma omp parallel num_threads(threads) if (threads > 1)
    {
        int tid = 0, nth = 1;
#ifdef _OPENMP
        tid = omp_get_thread_num();
        nth = omp_get_num_threads();
#endif
        if (split_columns || nth == 1) {
            /* each thread its own columns, packed into its own block */
            int n0, n1;
            incept_gemm_share(tid, nth, n, unit, &n0, &n1);
            float *b_packed = b_packs + (size_t)tid * KC * NC;
            for (int pc = 0; pc < k && n0 < n1; pc += KC) {
                int kc = k - pc < KC ? k - pc : KC;
                for (int jc = n0; jc < n1; jc += NC) {
                    int j1 = jc + NC < n1 ? jc + NC : n1;
                    if (bf16)
                        pack_b_bf16(src, pc, kc, jc, j1, nr, (uint32_t *)(void *)b_packed);
                    else
                        pack_b(src, pc, kc, jc, j1, nr, b_packed);
                    multiply_block(&ks, parts, n_parts, 0, panels, jc, j1, pc, kc, pc + kc == k,
                                   b_packed, accumulate);
                }
            }
        } else {
            /* each thread its own row panels, all of them reading one packed block of B that
             * they pack together (a share of its column panels each), so no thread repeats
             * another's packing: for an im2col B that is most of a small convolution's cost */
            int p0, p1;
            incept_gemm_share(tid, nth, panels, 1, &p0, &p1);
            for (int pc = 0; pc < k; pc += KC) {
                int kc = k - pc < KC ? k - pc : KC, step = bf16 ? (kc + 1) / 2 : kc;
                for (int jc = 0; jc < n; jc += NC) {
                    int j1 = jc + NC < n ? jc + NC : n, block_panels = (j1 - jc + nr - 1) / nr;
                    int share = (block_panels + nth - 1) / nth, q0 = tid * share;
                    int q1 = q0 + share < block_panels ? q0 + share : block_panels;
                    int first = jc + q0 * nr, last = q1 * nr + jc < j1 ? jc + q1 * nr : j1;
                    if (q0 < q1 && bf16)
                        pack_b_bf16(src, pc, kc, first, last, nr,
                                    (uint32_t *)(void *)b_packs + (size_t)q0 * step * nr);
                    else if (q0 < q1)
                        pack_b(src, pc, kc, first, last, nr, b_packs + (size_t)q0 * kc * nr);
#pragma omp barrier
                    multiply_block(&ks, parts, n_parts, p0, p1, jc, j1, pc, kc, pc + kc == k, b_packs,
                                   accumulate);
#pragma omp barrier
                }
            }
        }
    }
}

static void gemm(int threads, int m, int n, int k, const float *a, int lda, const b_source *src,
                 float *c, int ldc, const float *bias, int relu, int accumulate, float *workspace)
{
    incept_gemm_part part = {a, lda, m, c, ldc, bias, relu, NULL};
    gemm_parts(threads, n, k, &part, 1, src, accumulate, workspace);
}

void incept_gemm_bf16(int threads, int m, int n, int k, const uint32_t *a, int lda, const float *b,
                      int ldb, float *c, int ldc, const float *bias, int relu, float *workspace)
{
    b_source src = {b, ldb, 0, NULL};
    incept_gemm_part part = {NULL, lda, m, c, ldc, bias, relu, a};
    gemm_parts(threads, n, k, &part, 1, &src, 0, workspace);
}

void incept_gemm_conv_bf16(int threads, int m, int n, int k, const uint32_t *a, int lda,
                           const incept_im2col *conv, float *c, int ldc, const float *bias, int relu,
                           float *workspace)
{
    b_source src = {NULL, 0, 0, conv};
    incept_gemm_part part = {NULL, lda, m, c, ldc, bias, relu, a};
    gemm_parts(threads, n, k, &part, 1, &src, 0, workspace);
}

void incept_gemm_stacked(int threads, int n, int k, const incept_gemm_part *parts, int n_parts,
                         const float *b, int ldb, float *workspace)
{
    b_source src = {b, ldb, 0, NULL};
    gemm_parts(threads, n, k, parts, n_parts, &src, 0, workspace);
}

void incept_gemm(int threads, int m, int n, int k, const float *a, int lda, const float *b, int ldb,
                 float *c, int ldc, const float *bias, int relu, float *workspace)
{
    b_source src = {b, ldb, 0, NULL};
    gemm(threads, m, n, k, a, lda, &src, c, ldc, bias, relu, 0, workspace);
}

void incept_gemm_accumulate(int threads, int m, int n, int k, const float *a, int lda, const float *b,
                            int ldb, int b_transposed, float *c, int ldc, float *workspace)
{
    b_source src = {b, ldb, b_transposed, NULL};
    gemm(threads, m, n, k, a, lda, &src, c, ldc, NULL, 0, 1, workspace);
}

void incept_gemm_bt(int threads, int m, int n, int k, const float *a, int lda, const float *bt,
                    int ldbt, float *c, int ldc, float *workspace)
{
    b_source src = {bt, ldbt, 1, NULL};
    gemm(threads, m, n, k, a, lda, &src, c, ldc, NULL, 0, 0, workspace);
}

void incept_gemm_conv(int threads, int m, int n, int k, const float *a, int lda,
                      const incept_im2col *conv, float *c, int ldc, const float *bias, int relu,
                      float *workspace)
{
    b_source src = {NULL, 0, 0, conv};
    gemm(threads, m, n, k, a, lda, &src, c, ldc, bias, relu, 0, workspace);
}

void incept_gemm_tile(int *mr, int *nr)
{
    const incept_gemm_isa *isa = incept_gemm_current();
    *mr = isa->mr;
    *nr = isa->nr;
}

/* One part over the whole depth from a B already packed: multiply_block's single block. */
static void prepacked(const kernels *ks, const incept_gemm_part *part, int n, int k, const float *b_packed)
{
    multiply_block(ks, part, 1, 0, (part->rows + ks->mr - 1) / ks->mr, 0, n, 0, k, 1, b_packed, 0);
}

void incept_gemm_prepacked(int m, int n, int k, const float *a, int lda, const float *b_packed,
                           float *c, int ldc)
{
    const kernels ks = kernels_for(0);
    const incept_gemm_part part = {a, lda, m, c, ldc, NULL, 0, NULL};
    prepacked(&ks, &part, n, k, b_packed);
}

void incept_gemm_prepacked_bf16(int m, int n, int kp, const uint32_t *a, int lda,
                                const uint32_t *b_packed, float *c, int ldc)
{
    const kernels ks = kernels_for(1);
    const incept_gemm_part part = {NULL, lda, m, c, ldc, NULL, 0, a};
    prepacked(&ks, &part, n, 2 * kp, (const float *)(const void *)b_packed);
}

void incept_gemm_bf16_tile(int *mr, int *nr)
{
    const incept_gemm_bf16_isa *isa = incept_gemm_bf16_current();
    *mr = isa->mr;
    *nr = isa->nr;
}
