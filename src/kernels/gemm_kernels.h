/* gemm_kernels.h — the SGEMM micro-kernels, one per instruction set, and the table that picks
 * one at run time from CPUID. Each computes one MR x NR tile of C from
 *   a: with lda = 0, a packed panel: kc steps of MR values (rows of A, zero-padded past `rows`);
 *      with lda > 0, A itself: row r at a + r*lda (only rows below `rows` are read)
 *   b: a packed panel, kc steps of NR values (columns of B, zero-padded past `cols` to a
 *      multiple of 16; no kernel reads further, so a panel with at most 16 columns needs
 *      only its first 16 values of each step written)
 *   C[0..rows, 0..cols] (row stride ldc) = (accumulate ? C : 0) + a * b
 * then, as each value is stored, + bias[r] (when bias is not NULL) and max(0, .) (when relu),
 * so a convolution's bias and ReLU cost no extra pass over C. Only the valid rows and columns of
 * C are read or written. */
#ifndef INCEPT_KERNELS_GEMM_KERNELS_H
#define INCEPT_KERNELS_GEMM_KERNELS_H

#include <stdint.h>

typedef void (*incept_gemm_micro_kernel)(int kc, const float *a, int lda, const float *b, float *c,
                                         int ldc, int rows, int cols, int accumulate,
                                         const float *bias, int relu);

typedef struct {
    const char *name; /* "avx512", "avx2", "generic" */
    int mr, nr;
    incept_gemm_micro_kernel kernel;
} incept_gemm_isa;

extern const incept_gemm_isa incept_gemm_generic;
#if defined(__x86_64__) || defined(__i386__)
#define INCEPT_HAVE_X86_KERNELS 1
extern const incept_gemm_isa incept_gemm_avx2;
extern const incept_gemm_isa incept_gemm_avx512;
#endif

/* The portable kernels' epilogue: acc (row r at acc + r * stride) into C as above. */
static inline void incept_tile_store(const float *acc, int stride, int rows, int cols, float *c, int ldc,
                                     int accumulate, const float *bias, int relu)
{
    for (int r = 0; r < rows; r++)
        for (int j = 0; j < cols; j++) {
            float v = accumulate ? c[(long)r * ldc + j] + acc[r * stride + j] : acc[r * stride + j];
            if (bias)
                v += bias[r];
            c[(long)r * ldc + j] = relu && v < 0.0f ? 0.0f : v;
        }
}

/* The bf16 micro-kernels: the same tile and epilogue, from k taken in pairs (bf16.h):
 *   a: A itself, row r at a + r * lda words, each word the bf16 pair of k = 2p, 2p + 1
 *   b: a packed panel, kp steps of NR words (columns of B, each word its pair of k)
 * so kp = ceil(kc / 2) steps multiply kc values of k (the odd last one paired with a zero). */
typedef void (*incept_gemm_bf16_micro_kernel)(int kp, const uint32_t *a, int lda, const uint32_t *b,
                                              float *c, int ldc, int rows, int cols, int accumulate,
                                              const float *bias, int relu);
typedef struct {
    const char *name; /* "avx512bf16", "generic" */
    int mr, nr;
    incept_gemm_bf16_micro_kernel kernel;
} incept_gemm_bf16_isa;

extern const incept_gemm_bf16_isa incept_gemm_bf16_generic;
#ifdef INCEPT_HAVE_X86_KERNELS
extern const incept_gemm_bf16_isa incept_gemm_bf16_avx512;
#endif
/* The bf16 kernel in use (AVX-512 BF16 where the CPU has it, else the portable one, several
 * times slower than the float kernels: bench says which), and the forcing of one by name
 * (environment INCEPT_BF16_ISA at start-up). */
const incept_gemm_bf16_isa *incept_gemm_bf16_current(void);
int incept_gemm_bf16_force_isa(const char *name);

/* The kernel in use: the best this CPU supports, unless incept_gemm_force_isa chose another. */
const incept_gemm_isa *incept_gemm_current(void);
/* Forces "generic", "avx2" or "avx512" (tests compare them); returns 0 if this CPU lacks it. NULL
 * goes back to automatic choice. Environment INCEPT_ISA does the same at start-up. */
int incept_gemm_force_isa(const char *name);

#endif
