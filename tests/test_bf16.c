/* test_bf16.c — bf16 inference: the bf16 GEMM micro-kernels (portable, and AVX-512 BF16 where the
 * CPU has it) against a naive product of the same rounded values, over dense, im2col and stacked
 * B and every edge of the tiles; rounding itself (nearest even, NaN kept); Winograd in bf16
 * against float Winograd; a small Inception model of every convolution shape in bf16 against its
 * float logits (the bound: 35 dB), 1 and 2 threads bit for bit, training refused; the
 * CLI's --precision bf16; and GoogLeNet on ../shared/reference's input (skipped loudly
 * without it). */
#include <sys/wait.h>
#include <unistd.h>

#include "graph/graph.h"
#include "incept.h"
#include "kernels/bf16.h"
#include "kernels/gemm_kernels.h"
#include "kernels/kernels.h"
#include "test.h"

static float rounded(float x) { return incept_bf16_float(incept_bf16_round(x)); }

static void test_rounding(void)
{
    CHECK(incept_bf16_round(1.0f) == 0x3f80);
    /* 1 + 2^-8 lies halfway between 1 and 1 + 2^-7: to even (1); 1 + 3 * 2^-8 to 1 + 2^-6 */
    CHECK(rounded(1.0f + 1.0f / 256) == 1.0f);
    CHECK(rounded(1.0f + 3.0f / 256) == 1.0f + 1.0f / 64);
    CHECK(rounded(-2.5f) == -2.5f);
    CHECK(isnan(rounded(NAN)) && isinf(rounded(INFINITY)));
    CHECK_MSG(isinf(rounded(3.4e38f)), "%s", "the largest floats round up to infinity, as vcvtneps2bf16 does");
    CHECK(incept_bf16_pair(1.0f, -2.0f) == (0x3f80u | 0xc000u << 16));
}

/* C = round(A) round(B) summed in double, + bias, ReLU. */
static void naive(int m, int n, int k, const float *a, const float *b, const float *bias, int relu,
                  float *c, float *magnitude)
{
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            double sum = bias ? bias[i] : 0.0, size = 0.0;
            for (int t = 0; t < k; t++) {
                double p = (double)rounded(a[(size_t)i * k + t]) * rounded(b[(size_t)t * n + j]);
                sum += p, size += fabs(p);
            }
            c[(size_t)i * n + j] = relu && sum < 0.0 ? 0.0f : (float)sum;
            magnitude[(size_t)i * n + j] = (float)size;
        }
}

/* The worst error over the products' magnitude (float sums of exact products: ~1e-7). */
static double worst(const float *got, const float *want, const float *magnitude, size_t n)
{
    double w = 0.0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)got[i] - want[i]) / (magnitude[i] + 1e-30);
        w = e > w ? e : w;
    }
    return w;
}

static const char *const kernel_names[] = {"generic", "avx512bf16"};

static void test_gemm(void)
{
    const int shapes[][3] = {{1, 1, 1}, {5, 17, 3},   {12, 32, 2},  {13, 33, 7},
                             {25, 100, 301}, {40, 600, 600}, {7, 16, 513}, {24, 530, 256}};
    float *results[2] = {NULL, NULL};
    for (int s = 0; s < (int)(sizeof shapes / sizeof shapes[0]); s++) {
        const int m = shapes[s][0], n = shapes[s][1], k = shapes[s][2], words = incept_bf16_row_length(k) / 2;
        float *a = malloc(sizeof(float) * m * k), *b = malloc(sizeof(float) * k * n), *bias = malloc(sizeof(float) * m);
        float *want = malloc(sizeof(float) * m * n), *size = malloc(sizeof(float) * m * n);
        uint32_t *a16 = malloc(sizeof(uint32_t) * m * words);
        fill_random(a, (size_t)m * k, 1 + s), fill_random(b, (size_t)k * n, 2 + s), fill_random(bias, m, 3 + s);
        incept_bf16_rows(a, m, k, a16);
        const int relu = s % 2;
        naive(m, n, k, a, b, bias, relu, want, size);
        for (int v = 0; v < 2; v++) {
            free(results[v]);
            results[v] = NULL;
            if (!incept_gemm_bf16_force_isa(kernel_names[v])) {
                if (s == 0)
                    printf("test_bf16: skipped the %s kernel: this CPU lacks AVX-512 BF16\n", kernel_names[v]);
                continue;
            }
            for (int threads = 1; threads <= 2; threads++) {
                float *c = malloc(sizeof(float) * m * n);
                float *ws = malloc(sizeof(float) * incept_gemm_workspace(m, n, k, threads));
                incept_gemm_bf16(threads, m, n, k, a16, words, b, n, c, n, bias, relu, ws);
                double e = worst(c, want, size, (size_t)m * n);
                CHECK_MSG(e < 2e-6, "%s bf16 GEMM %dx%dx%d, %d threads: error %.2g of the products' size",
                          kernel_names[v], m, n, k, threads, e);
                if (threads == 1)
                    results[v] = c;
                else {
                    CHECK_MSG(memcmp(c, results[v], sizeof(float) * m * n) == 0,
                              "%s %dx%dx%d: 1 and 2 threads the same bits", kernel_names[v], m, n, k);
                    free(c);
                }
                free(ws);
            }
        }
        if (results[0] && results[1]) /* the same exact products, added in the same order */
            CHECK_MSG(memcmp(results[0], results[1], sizeof(float) * m * n) == 0,
                      "generic and AVX-512 BF16 kernels agree bit for bit (%dx%dx%d)", m, n, k);
        free(a), free(b), free(bias), free(want), free(size), free(a16);
    }
    free(results[0]), free(results[1]);
    incept_gemm_bf16_force_isa(NULL);
}

/* The im2col B (a 3x3 stride-2 padded convolution of an odd channel count) and the stacked
 * product: each against incept_gemm of the same rounded values. */
static void test_conv_and_stacked(void)
{
    enum { C = 5, H = 13, W = 11, M = 19 };
    const int oh = (H + 2 - 3) / 2 + 1, ow = (W + 2 - 3) / 2 + 1, k = C * 9, n = oh * ow;
    const int words = incept_bf16_row_length(k) / 2;
    float x[C * H * W], xr[C * H * W], w[M * C * 9], wr[M * C * 9], bias[M];
    float got[M * 64], want[M * 64];
    uint32_t w16[M * 23];
    fill_random(x, C * H * W, 4), fill_random(w, M * k, 5), fill_random(bias, M, 6);
    for (int i = 0; i < C * H * W; i++)
        xr[i] = rounded(x[i]);
    for (int i = 0; i < M * k; i++)
        wr[i] = rounded(w[i]);
    incept_bf16_rows(w, M, k, w16);
    float *ws = malloc(sizeof(float) * incept_gemm_workspace(M, n, k, 2));
    incept_im2col conv = {x, C, H, W, 3, 3, 2, 2, 1, 1, 1, 1, oh, ow, 1, 0};
    incept_gemm_conv_bf16(2, M, n, k, w16, words, &conv, got, n, bias, 1, ws);
    conv.input = xr;
    incept_gemm_conv(2, M, n, k, wr, k, &conv, want, n, bias, 1, ws);
    CHECK_MSG(max_abs_diff(got, want, (size_t)M * n) < 1e-5f * max_abs(want, (size_t)M * n),
              "bf16 im2col GEMM against float on rounded values: %g", (double)max_abs_diff(got, want, (size_t)M * n));
    /* three pointwise convolutions of one 7x9 input through one stacked GEMM */
    enum { P = 63, K = 33 };
    const int rows[3] = {5, 12, 17}, kw = incept_bf16_row_length(K) / 2;
    float in[K * P], *a[3], *c[3], *alone[3];
    uint32_t *a16[3];
    incept_gemm_part parts[3];
    fill_random(in, K * P, 7);
    for (int i = 0; i < 3; i++) {
        a[i] = malloc(sizeof(float) * rows[i] * K), c[i] = malloc(sizeof(float) * rows[i] * P);
        alone[i] = malloc(sizeof(float) * rows[i] * P), a16[i] = malloc(sizeof(uint32_t) * rows[i] * kw);
        fill_random(a[i], (size_t)rows[i] * K, 8 + i);
        incept_bf16_rows(a[i], rows[i], K, a16[i]);
        incept_gemm_bf16(1, rows[i], P, K, a16[i], kw, in, P, alone[i], P, i ? bias : NULL, i == 2, ws);
        parts[i] = (incept_gemm_part){NULL, kw, rows[i], c[i], P, i ? bias : NULL, i == 2, a16[i]};
    }
    incept_gemm_stacked(2, P, K, parts, 3, in, P, ws);
    for (int i = 0; i < 3; i++) {
        CHECK_MSG(memcmp(c[i], alone[i], sizeof(float) * rows[i] * P) == 0,
                  "stacked bf16 part %d: the bits of its own GEMM", i);
        free(a[i]), free(c[i]), free(alone[i]), free(a16[i]);
    }
    free(ws);
}

/* Winograd F(4x4, 3x3) and F(4x4, 5x5) in bf16 (filters transformed per call and ahead) against
 * float Winograd, on non-negative inputs (what every convolution of an Inception module reads:
 * a ReLU's output). Rounding the transformed filters and inputs costs more than rounding the
 * direct product's (measured on 64 -> 32 channels at 14x14: 3x3 38 dB, 5x5 33 dB, direct bf16
 * 53 dB; with signed inputs 32 and 27 dB): the bounds below. Exact mode runs bf16 without
 * Winograd; GoogLeNet end to end loses 1.4 dB by it (46.3 against 47.7 dB). */
static void test_winograd(void)
{
    for (int kernel = 3; kernel <= 5; kernel += 2)
        for (int in_c = 7; in_c <= 8; in_c++) {
            const int out_c = 14, h = 16, w = 15, pad = kernel / 2, batch = 2;
            const size_t xn = (size_t)batch * in_c * h * w, yn = (size_t)batch * out_c * h * w;
            float *x = malloc(sizeof(float) * xn), *weight = malloc(sizeof(float) * out_c * in_c * kernel * kernel);
            float *want = malloc(sizeof(float) * yn), *got = malloc(sizeof(float) * yn);
            float *ahead = malloc(sizeof(float) * yn), bias[14];
            uint32_t *u = malloc(sizeof(uint32_t) * incept_winograd_bf16_filter_words(kernel, in_c, out_c));
            fill_random(x, xn, 11), fill_random(weight, (size_t)out_c * in_c * kernel * kernel, 12);
            for (size_t i = 0; i < xn; i++)
                x[i] = fabsf(x[i]);
            fill_random(bias, out_c, 13);
            float *ws = malloc(sizeof(float) * incept_winograd_workspace(kernel, in_c, out_c, batch, h, w, 2));
            incept_winograd_args args = {x, (size_t)in_c * h * w, batch, in_c, h, w, weight, bias, kernel,
                                         out_c, pad, pad, 1, want, (size_t)out_c * h * w, h, w, 0, 0, NULL};
            incept_winograd_conv(&args, ws, 2);
            args.output = got, args.bf16 = 1;
            incept_winograd_conv(&args, ws, 2);
            incept_winograd_bf16_filters(kernel, weight, in_c, out_c, u);
            args.output = ahead, args.filters_bf16 = u;
            incept_winograd_conv(&args, ws, 1);
            double db = sqnr_db(want, got, yn);
            printf("bf16 Winograd %dx%d, %d channels: %.1f dB against float Winograd\n", kernel, kernel, in_c, db);
            CHECK_MSG(db > (kernel == 3 ? 35.0 : 30.0), "bf16 Winograd %dx%d, %d channels: %.1f dB against float", kernel, kernel, in_c, db);
            CHECK_MSG(memcmp(got, ahead, sizeof(float) * yn) == 0,
                      "bf16 Winograd %dx%d: filters transformed ahead give the same bits", kernel, kernel);
            free(x), free(weight), free(want), free(got), free(ahead), free(u), free(ws);
        }
}

/* Every kind of convolution GoogLeNet has (7x7 stride 2, 1x1 stacked, 3x3 and 5x5 by Winograd
 * and im2col, pooling's projection, an fc after), in bf16 against float. */
static void test_small_model(void)
{
    enum { BATCH = 8, SAMPLE = 3 * 64 * 64 };
    incept_model *m;
    float *x = malloc(sizeof(float) * BATCH * SAMPLE), ref[BATCH * 10], got[BATCH * 10];
    printf("the %s bf16 kernel:\n", incept_precision_kernels(INCEPT_PRECISION_BF16));
    incept_session *s = precision_case(
        "input x 3 64 64\nconv conv1 16 7x7 stride 2 pad 3 relu\nmaxpool p1 3x3 stride 2 pad 1\n"
        "conv c2 24 3x3 pad 1 relu\ninception m 8 12 16 4 8 8\nmaxpool p2 3x3 stride 2 pad 1\n"
        "inception n 12 8 24 4 8 8\nglobalavgpool g\nflatten f\nfc out 10\n", BATCH, SAMPLE, 0,
        INCEPT_PRECISION_BF16, 35.0, &m, x, ref, got);
    if (!s) {
        free(x);
        incept_model_free(m);
        return;
    }
    float one[10];
    CHECK_OK(incept_session_forward(s, x, 1, one)); /* batch 1: other algorithms, same bound */
    CHECK_MSG(sqnr_db(ref, one, 10) > 35.0, "batch 1: %.1f dB", sqnr_db(ref, one, 10));
    int labels[BATCH] = {0};
    float loss;
    CHECK(incept_session_train_step(s, x, labels, BATCH, &loss) != INCEPT_OK);
    CHECK_MSG(strstr(incept_last_error(), "bf16") != NULL, "%s", incept_last_error());
    CHECK_OK(incept_session_set_precision(s, INCEPT_PRECISION_FP32));
    CHECK_OK(incept_session_forward(s, x, BATCH, got));
    CHECK_MSG(memcmp(got, ref, sizeof got) == 0, "%s", "back to fp32: the float logits again");
    CHECK(incept_precision_kernels((incept_precision)7) == NULL);
    free(x);
    incept_session_free(s);
    incept_model_free(m);
}

static void test_cli(void)
{
    const char *cli = getenv("INCEPT_CLI") ? getenv("INCEPT_CLI") : "build/incept";
    char cmd[2048];
    const char *model = "input x 3 32 32\nconv c 8 3x3 pad 1 relu\ninception m 4 4 8 2 4 4\n"
                        "globalavgpool g\nflatten f\nfc out 5\n";
    if (!put_file("/tmp/incept_bf16.incept", model, strlen(model))) {
        CHECK_MSG(0, "%s", "writing /tmp/incept_bf16.incept");
        return;
    }
    snprintf(cmd, sizeof cmd, "%s bench /tmp/incept_bf16.incept --seconds 1 --precision bf16 2>/dev/null | "
             "grep -q mode=bf16", cli);
    CHECK_MSG(system(cmd) == 0, "%s", cmd);
    snprintf(cmd, sizeof cmd, "%s bench /tmp/incept_bf16.incept --seconds 1 --train --precision bf16 >/dev/null 2>&1", cli);
    int status = system(cmd);
    CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 2, "%s: exit %d", cmd, WEXITSTATUS(status));
    /* run: what the library computes in bf16 (the file's weights are He's from seed 0) */
    enum { N = 2, SAMPLE = 3 * 32 * 32 };
    static float x[N * SAMPLE];
    float want[N * 5], got[N * 5] = {0};
    fill_random(x, N * SAMPLE, 21);
    CHECK(put_file("/tmp/incept_bf16_x.bin", x, sizeof x));
    snprintf(cmd, sizeof cmd, "%s run /tmp/incept_bf16.incept --input /tmp/incept_bf16_x.bin --output "
             "/tmp/incept_bf16_y.bin --precision bf16 2>/dev/null", cli);
    CHECK_MSG(system(cmd) == 0, "%s", cmd);
    incept_model *m = NULL;
    incept_session *s = NULL;
    CHECK_OK(incept_model_load("/tmp/incept_bf16.incept", NULL, &m));
    if (m && incept_session_new(m, &s) == INCEPT_OK) {
        CHECK_OK(incept_session_set_precision(s, INCEPT_PRECISION_BF16));
        CHECK_OK(incept_session_forward(s, x, N, want));
        CHECK(get_file("/tmp/incept_bf16_y.bin", got, sizeof got));
        CHECK_MSG(memcmp(want, got, sizeof got) == 0, "%s", "incept run --precision bf16 computes what the library does");
    }
    incept_session_free(s);
    incept_model_free(m);
    /* eval: bf16 accuracy beside fp32's and how often they agree */
    check_eval_precision(cli, "/tmp/incept_bf16.incept", "/tmp/incept_bf16_x.bin", "/tmp/incept_bf16_l.bin", "bf16",
                         "test_bf16");
    unlink("/tmp/incept_bf16.incept"), unlink("/tmp/incept_bf16_x.bin"), unlink("/tmp/incept_bf16_y.bin");
}

int main(void)
{
    test_rounding();
    test_gemm();
    test_conv_and_stacked();
    test_winograd();
    test_small_model();
    if (incept_gemm_bf16_force_isa("generic")) { /* the whole model on the portable kernel too */
        test_small_model();
        incept_gemm_bf16_force_isa(NULL);
    }
    test_cli();
    const char *ref = reference_dir("test_bf16 (GoogLeNet)");
    if (ref)
        googlenet_precision_case(ref, INCEPT_PRECISION_BF16, 35.0);
    return test_summary("test_bf16");
}
