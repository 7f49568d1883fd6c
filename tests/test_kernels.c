/* test_kernels.c — the fast kernels against portable ones: every SGEMM micro-kernel this CPU
 * can run (generic, AVX2, AVX-512) against a naive double-precision product on awkward shapes,
 * the same result for any thread count, and Winograd F(4x4, 3x3) against naive convolution. */
#include "incept.h"
#include "kernels/gemm_kernels.h"
#include "kernels/kernels.h"
#include "naive.h"
#include "test.h"

static void naive_gemm(int m, int n, int k, const float *a, int lda, const float *b, int ldb,
                       float *c, int ldc, const float *bias, int relu)
{
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            double acc = bias ? bias[i] : 0.0;
            for (int kk = 0; kk < k; kk++)
                acc += (double)a[(size_t)i * lda + kk] * b[(size_t)kk * ldb + j];
            c[(size_t)i * ldc + j] = (float)(relu && acc < 0 ? 0 : acc);
        }
}

static void gemm_case(const char *isa, int m, int n, int k, int threads, int with_bias, int relu)
{
    int lda = k + 3, ldb = n + 5, ldc = n + 2;
    float *a = malloc(sizeof(float) * (size_t)m * lda), *b = malloc(sizeof(float) * (size_t)k * ldb);
    float *c = malloc(sizeof(float) * (size_t)m * ldc), *expect = malloc(sizeof(float) * (size_t)m * ldc);
    float *bias = malloc(sizeof(float) * (size_t)m);
    float *ws = malloc(sizeof(float) * incept_gemm_workspace(m, n, k, threads));
    fill_random(a, (size_t)m * lda, (unsigned)(m * 7 + k));
    fill_random(b, (size_t)k * ldb, (unsigned)(n * 3 + k));
    fill_random(bias, (size_t)m, 5);
    for (size_t i = 0; i < (size_t)m * ldc; i++)
        c[i] = expect[i] = 42.0f; /* the padding between rows must survive */
    incept_gemm(threads, m, n, k, a, lda, b, ldb, c, ldc, with_bias ? bias : NULL, relu, ws);
    naive_gemm(m, n, k, a, lda, b, ldb, expect, ldc, with_bias ? bias : NULL, relu);
    float diff = max_abs_diff(c, expect, (size_t)m * ldc);
    CHECK_MSG(diff <= 1e-5f * (float)k, "%s gemm %dx%dx%d threads %d bias %d relu %d: max diff %g",
              isa, m, n, k, threads, with_bias, relu, (double)diff);
    free(a), free(b), free(c), free(expect), free(bias), free(ws);
}

static void test_gemm(void)
{
    static const char *isas[] = {"generic", "avx2", "avx512"};
    for (size_t i = 0; i < sizeof isas / sizeof isas[0]; i++) {
        if (!incept_gemm_force_isa(isas[i])) {
            printf("SKIP %s kernels: this CPU lacks them\n", isas[i]);
            continue;
        }
        printf("checking the %s SGEMM kernel\n", incept_gemm_current()->name);
        const int shapes[][3] = {{1, 1, 1},   {5, 7, 3},     {12, 32, 16},  {13, 33, 17},
                                 {37, 70, 300}, {64, 49, 576}, {24, 196, 260}, {100, 3, 513},
                                 {3, 600, 40}, {20, 56, 40}};
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
            for (int threads = 1; threads <= 3; threads += 2)
                gemm_case(isas[i], shapes[s][0], shapes[s][1], shapes[s][2], threads, s % 2 == 0,
                          s % 3 == 0);
    }
    incept_gemm_force_isa(NULL);
    CHECK(incept_gemm_force_isa("no-such-isa") == 0);

    /* any thread count gives the same bits: each element sums k in the same order */
    int m = 50, n = 300, k = 700;
    float *a = malloc(sizeof(float) * m * k), *b = malloc(sizeof(float) * k * n);
    float *c1 = malloc(sizeof(float) * m * n), *c2 = malloc(sizeof(float) * m * n);
    float *ws = malloc(sizeof(float) * incept_gemm_workspace(m, n, k, 4));
    fill_random(a, (size_t)m * k, 1);
    fill_random(b, (size_t)k * n, 2);
    incept_gemm(1, m, n, k, a, k, b, n, c1, n, NULL, 0, ws);
    incept_gemm(4, m, n, k, a, k, b, n, c2, n, NULL, 0, ws);
    CHECK(memcmp(c1, c2, sizeof(float) * m * n) == 0);
    free(a), free(b), free(c1), free(c2), free(ws);
}

/* Stacked parts (rows not multiples of any micro-kernel's, their own bias, ReLU, C and strides)
 * give each part the bits incept_gemm gives it alone, for 1 and 2 threads and both splits. */
static void stacked_case(int n, int k, int threads)
{
    const int rows[3] = {13, 30, 5}, relu[3] = {1, 0, 1};
    float *b = malloc(sizeof(float) * (size_t)k * n);
    float *ws = malloc(sizeof(float) * incept_gemm_workspace(48, n, k, threads));
    float *a[3], *bias[3], *alone[3], *stacked[3];
    incept_gemm_part parts[3];
    fill_random(b, (size_t)k * n, 11);
    for (int i = 0; i < 3; i++) {
        int lda = k + i, ldc = n + 2 * i;
        a[i] = malloc(sizeof(float) * (size_t)rows[i] * lda);
        bias[i] = malloc(sizeof(float) * (size_t)rows[i]);
        alone[i] = calloc((size_t)rows[i] * ldc, sizeof(float));
        stacked[i] = calloc((size_t)rows[i] * ldc, sizeof(float));
        fill_random(a[i], (size_t)rows[i] * lda, (unsigned)(20 + i));
        fill_random(bias[i], (size_t)rows[i], (unsigned)(30 + i));
        incept_gemm(threads, rows[i], n, k, a[i], lda, b, n, alone[i], ldc, i == 1 ? NULL : bias[i], relu[i],
                    ws);
        parts[i] = (incept_gemm_part){a[i], lda, rows[i], stacked[i], ldc, i == 1 ? NULL : bias[i], relu[i], NULL};
    }
    incept_gemm_stacked(threads, n, k, parts, 3, b, n, ws);
    for (int i = 0; i < 3; i++) {
        CHECK_MSG(!memcmp(alone[i], stacked[i], sizeof(float) * (size_t)rows[i] * (n + 2 * i)),
                  "stacked gemm part %d (%d x %d x %d, %d threads) differs from its own gemm", i, rows[i], n,
                  k, threads);
        free(a[i]), free(bias[i]), free(alone[i]), free(stacked[i]);
    }
    free(b), free(ws);
}

static void test_stacked_gemm(void)
{
    static const char *isas[] = {"generic", "avx2", "avx512"};
    for (size_t i = 0; i < sizeof isas / sizeof isas[0]; i++) {
        if (!incept_gemm_force_isa(isas[i]))
            continue;
        for (int threads = 1; threads <= 2; threads++) {
            stacked_case(196, 300, threads); /* rows split */
            stacked_case(784, 70, threads);  /* columns split */
            stacked_case(49, 600, threads);
        }
    }
    incept_gemm_force_isa(NULL);
}

/* accumulate: y starts as a gradient already there and the convolution (bias and ReLU off, as
 * a backward pass runs it) is added to it. */
static void winograd_case(int kernel, int batch, int in_c, int h, int w, int out_c, int pad, int relu,
                          int threads, int accumulate)
{
    int oh = h + 2 * pad - kernel + 1, ow = w + 2 * pad - kernel + 1, taps = kernel * kernel;
    size_t in_n = (size_t)batch * in_c * h * w, out_n = (size_t)batch * out_c * oh * ow;
    float *x = malloc(in_n * sizeof(float)), *weight = malloc(sizeof(float) * out_c * in_c * taps);
    float *bias = malloc(sizeof(float) * out_c), *y = malloc(out_n * sizeof(float));
    float *expect = malloc(out_n * sizeof(float));
    float *ws = malloc(sizeof(float) *
                       incept_winograd_workspace(kernel, in_c, out_c, batch, oh, ow, threads));
    fill_random(x, in_n, 3);
    fill_random(weight, (size_t)out_c * in_c * taps, 4);
    fill_random(bias, (size_t)out_c, 6);
    fill_random(y, out_n, 9);
    incept_winograd_args args = {x, (size_t)in_c * h * w, batch, in_c, h, w, weight,
                                 accumulate ? NULL : bias, kernel, out_c, pad, pad, relu, y,
                                 (size_t)out_c * oh * ow, oh, ow, accumulate, 0, NULL};
    incept_winograd_conv(&args, ws, threads);
    naive_window win = {kernel, kernel, 1, 1, pad, pad, pad, pad, 1, 1, 1};
    naive_conv(x, batch, in_c, h, w, weight, accumulate ? NULL : bias, out_c, &win, relu, expect,
               oh, ow);
    if (accumulate) {
        float *before = malloc(out_n * sizeof(float));
        fill_random(before, out_n, 9);
        for (size_t i = 0; i < out_n; i++)
            expect[i] += before[i];
        free(before);
    }
    float diff = max_abs_diff(y, expect, out_n), scale = max_abs(expect, out_n);
    CHECK_MSG(diff <= 1e-5f * scale * 4, "winograd %dx%d %dx%dx%dx%d -> %d pad %d%s: max diff %g of %g",
              kernel, kernel, batch, in_c, h, w, out_c, pad, accumulate ? " accumulating" : "",
              (double)diff, (double)scale);
    free(x), free(weight), free(bias), free(y), free(expect), free(ws);
}

static void test_winograd(void)
{
    static const char *isas[] = {"generic", "avx2", "avx512"};
    for (size_t i = 0; i < sizeof isas / sizeof isas[0]; i++) {
        if (!incept_gemm_force_isa(isas[i]))
            continue;
        for (int kernel = 3; kernel <= 5; kernel += 2) {
            int pad = kernel / 2;
            winograd_case(kernel, 1, 5, 9, 11, 7, pad, 0, 1, 0);    /* edges: partial tiles */
            winograd_case(kernel, 3, 17, 14, 14, 33, pad, 1, 2, 0); /* batch, odd channels, ReLU */
            winograd_case(kernel, 2, 3, 8, 8, 13, 0, 0, 2, 0);      /* no padding */
            winograd_case(kernel, 1, 16, 28, 28, 24, pad, 1, 3, 0);
            winograd_case(kernel, 1, 4, kernel, kernel, 2, pad, 0, 1, 0); /* a single tile */
            winograd_case(kernel, 6, 24, 28, 28, 40, pad, 1, 2, 0); /* two tile blocks (294 tiles) */
            winograd_case(kernel, 1, 128, 16, 16, 250, pad, 1, 2, 0); /* 21 panels, the last partial */
            winograd_case(kernel, 1, 5, 9, 11, 7, pad, 0, 1, 1); /* backward-data: adds, edges */
            winograd_case(kernel, 4, 24, 7, 7, 40, kernel - 1, 0, 2, 1); /* pad K-1: dX of pad 0 */
        }
    }
    incept_gemm_force_isa(NULL);
}

int main(void)
{
    test_gemm();
    test_stacked_gemm();
    test_winograd();
    return test_summary("test_kernels");
}
