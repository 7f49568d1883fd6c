/* test_qgemm.c — the int8 convolution GEMM (kernels/qgemm.h) against a naive loop written from
 * its definition: weights quantized per row, the input per tensor, exact integer sums, the
 * float epilogue. Every kernel this CPU runs (generic, AVX2, AVX-512 VNNI) and thread counts 1
 * and 2 must give the naive loop's bits on awkward shapes (1x1, 3x3, 5x5, 7x7 stride 2, several
 * images, edges of every tile). Also incept_quant_range, and that the quantized product is close
 * to the float convolution (signal to quantization noise). `test_qgemm --bench [threads]`
 * times GoogLeNet's shapes instead, int8 per kernel against the float incept_gemm_conv. */
#include <stdint.h>
#include <time.h>

#include "kernels/kernels.h"
#include "kernels/qgemm.h"
#include "test.h"

static const char *const isas[] = {"generic", "avx2", "avx512vnni"};
#define N_ISAS (int)(sizeof isas / sizeof isas[0])

typedef struct {
    int images, channels, h, w, kernel, stride, pad, dilation, m;
} conv_shape;

typedef struct {
    conv_shape shape;
    float *input; /* images x image_stride floats */
    size_t image_stride;
    incept_im2col conv;
    int k, n;
} conv_input;

static void *aligned_bytes(size_t bytes) { return aligned_alloc(64, (bytes + 63) / 64 * 64); }

/* Inputs in [-1, 1) (or [0, 2) when `positive`), images a little more than their size apart. */
static conv_input make_input(conv_shape s, int positive, unsigned seed)
{
    conv_input in = {s, NULL, (size_t)s.channels * s.h * s.w + 5, {0}, 0, 0};
    size_t total = in.image_stride * s.images;
    in.input = malloc(sizeof(float) * total);
    fill_random(in.input, total, seed);
    if (positive)
        for (size_t i = 0; i < total; i++)
            in.input[i] += 1.0f;
    int span = s.dilation * (s.kernel - 1) + 1;
    int out_h = (s.h + 2 * s.pad - span) / s.stride + 1, out_w = (s.w + 2 * s.pad - span) / s.stride + 1;
    in.conv = (incept_im2col){in.input, s.channels, s.h, s.w, s.kernel, s.kernel, s.stride, s.stride,
                              s.pad, s.pad, s.dilation, s.dilation, out_h, out_w, s.images, in.image_stride};
    in.k = s.channels * s.kernel * s.kernel;
    in.n = out_h * out_w * s.images;
    return in;
}

/* The rule, written out again: x times 1 / scale rounded to nearest (even), plus the zero
 * point, in [0, 255]; NaN codes as 0. */
static int naive_quantize(float x, incept_quant code)
{
    float r = nearbyintf(x * (1.0f / code.scale));
    if (r != r)
        return 0;
    if (fabsf(r) > 1000.0f)
        return r > 0.0f ? 255 : 0;
    int q = (int)r + code.zero_point;
    return q < 0 ? 0 : q > 255 ? 255 : q;
}

/* Element (k, n) of the im2col matrix, straight from the definition (0 in the padding). */
static float im2col_value(const conv_input *in, int k, int n)
{
    const conv_shape *s = &in->shape;
    int taps = s->kernel * s->kernel, c = k / taps, ky = k % taps / s->kernel, kx = k % s->kernel;
    int per_image = in->conv.out_h * in->conv.out_w, image = n / per_image;
    int oy = n % per_image / in->conv.out_w, ox = n % in->conv.out_w;
    int y = oy * s->stride - s->pad + ky * s->dilation, x = ox * s->stride - s->pad + kx * s->dilation;
    if (y < 0 || y >= s->h || x < 0 || x >= s->w)
        return 0.0f;
    return in->input[image * in->image_stride + ((size_t)c * s->h + y) * s->w + x];
}

/* The expected C: per-row symmetric weights, exact sums, then (float)acc * scale + bias as the
 * header defines them; also checks the prepared scales and biases against the same definition. */
static void naive_qconv(const conv_input *in, const float *w, const float *bias, incept_quant code,
                        const incept_qgemm_weights *prepared, int relu, float *c, int ldc)
{
    const int m = in->shape.m, k = in->k, n = in->n;
    int *qx = malloc(sizeof(int) * (size_t)k * n);
    signed char *qw = malloc((size_t)m * k);
    for (int kk = 0; kk < k; kk++)
        for (int j = 0; j < n; j++)
            qx[(size_t)kk * n + j] = naive_quantize(im2col_value(in, kk, j), code);
    int scale_ok = 1;
    float bias_diff = 0.0f;
    for (int r = 0; r < m; r++) {
        float largest = 0.0f;
        for (int kk = 0; kk < k; kk++)
            largest = fmaxf(largest, fabsf(w[(size_t)r * k + kk]));
        float ws = largest > 0.0f ? largest / 127.0f : 1.0f;
        long sum = 0;
        for (int kk = 0; kk < k; kk++) {
            int q = (int)nearbyintf(w[(size_t)r * k + kk] / ws);
            q = q < -127 ? -127 : q > 127 ? 127 : q;
            qw[(size_t)r * k + kk] = (signed char)q;
            sum += q;
        }
        scale_ok &= prepared->scale[r] == code.scale * ws;
        double expect_bias = (bias ? bias[r] : 0.0) - (double)code.zero_point * code.scale * ws * sum;
        bias_diff = fmaxf(bias_diff, (float)fabs(prepared->bias[r] - expect_bias) /
                                         (float)(1.0 + fabs(expect_bias)));
    }
    CHECK_MSG(scale_ok, "prepared scales are not input scale x weight scale");
    CHECK_MSG(bias_diff < 1e-6f, "prepared biases off by %g (relative)", (double)bias_diff);
    for (int r = 0; r < m; r++)
        for (int j = 0; j < n; j++) {
            int64_t acc = 0;
            for (int kk = 0; kk < k; kk++)
                acc += qw[(size_t)r * k + kk] * qx[(size_t)kk * n + j];
            float v = (float)(int32_t)acc * prepared->scale[r];
            v = v + prepared->bias[r];
            c[(size_t)r * ldc + j] = relu && v < 0.0f ? 0.0f : v;
        }
    free(qx), free(qw);
}

static incept_qgemm_weights make_weights(int m, int k, const float *w, const float *bias, incept_quant code)
{
    incept_qgemm_weights q = {0};
    q.data = aligned_bytes(incept_qgemm_weights_bytes(m, k));
    q.scale = malloc(sizeof(float) * m);
    q.bias = malloc(sizeof(float) * m);
    incept_qgemm_prepare(m, k, w, k, bias, code, &q);
    return q;
}

static void free_weights(incept_qgemm_weights *q) { free(q->data), free(q->scale), free(q->bias); }

/* One shape: every kernel at 1 and 2 threads against the naive loop, bit for bit. */
static void qconv_case(conv_shape s, int positive, int relu, int with_bias, unsigned seed)
{
    conv_input in = make_input(s, positive, seed);
    if (seed % 3 == 0 && in.image_stride > 20) { /* values the code cannot hold clamp to 0 or 255 */
        in.input[3] = 1e30f, in.input[7] = -1e30f, in.input[11] = INFINITY, in.input[13] = -INFINITY;
        in.input[17] = NAN;
    }
    const int m = s.m, k = in.k, n = in.n, ldc = n + 3;
    float *w = malloc(sizeof(float) * (size_t)m * k), *bias = malloc(sizeof(float) * m);
    fill_random(w, (size_t)m * k, seed + 1);
    fill_random(bias, (size_t)m, seed + 2);
    if (m > 2) /* a channel of zero weights: scale 1, all zeros */
        memset(w + (size_t)2 * k, 0, sizeof(float) * k);
    incept_quant code = incept_quant_range(positive ? 0.0f : -1.0f, positive ? 2.0f : 1.0f);
    incept_qgemm_weights q = make_weights(m, k, w, with_bias ? bias : NULL, code);
    float *expect = malloc(sizeof(float) * (size_t)m * ldc), *c = malloc(sizeof(float) * (size_t)m * ldc);
    for (size_t i = 0; i < (size_t)m * ldc; i++)
        expect[i] = 42.0f; /* the gap between rows must survive */
    naive_qconv(&in, w, with_bias ? bias : NULL, code, &q, relu, expect, ldc);
    void *ws = aligned_bytes(incept_qgemm_workspace(m, n, k, 2));
    for (int i = 0; i < N_ISAS; i++) {
        if (!incept_qgemm_force_isa(isas[i]))
            continue;
        for (int threads = 1; threads <= 2; threads++) {
            for (size_t e = 0; e < (size_t)m * ldc; e++)
                c[e] = 42.0f;
            incept_qgemm_conv(threads, &q, n, &in.conv, code, c, ldc, relu, ws);
            size_t bad = 0;
            for (size_t e = 0; e < (size_t)m * ldc; e++)
                bad += memcmp(&c[e], &expect[e], sizeof(float)) != 0;
            CHECK_MSG(bad == 0,
                      "%s, %d threads: %d images %dx%dx%d kernel %d stride %d pad %d dilation %d -> %d "
                      "(k %d, n %d, zero point %d, relu %d, bias %d): %zu of %zu values differ",
                      isas[i], threads, s.images, s.channels, s.h, s.w, s.kernel, s.stride, s.pad,
                      s.dilation, m, k, n, code.zero_point, relu, with_bias, bad, (size_t)m * n);
        }
    }
    incept_qgemm_force_isa(NULL);
    free_weights(&q);
    free(in.input), free(w), free(bias), free(expect), free(c), free(ws);
}

static void test_against_naive(void)
{
    for (int i = 0; i < N_ISAS; i++)
        if (!incept_qgemm_force_isa(isas[i]))
            printf("SKIP the %s int8 kernel: this CPU lacks it\n", isas[i]);
    incept_qgemm_force_isa(NULL);
    printf("int8 kernel in use: %s\n", incept_qgemm_isa());
    /* images, channels, h, w, kernel, stride, pad, dilation, m */
    const conv_shape shapes[] = {
        {1, 16, 7, 7, 1, 1, 0, 1, 24},    /* 1x1 at 7x7: 49 columns */
        {1, 37, 9, 11, 1, 1, 0, 1, 13},   /* 1x1, k not a multiple of 4, m of 8 */
        {3, 10, 5, 7, 1, 1, 0, 1, 17},    /* 1x1 over images: panels across image edges */
        {1, 12, 28, 28, 1, 1, 0, 1, 40},  /* 784 columns: every panel width */
        {1, 6, 9, 9, 3, 1, 1, 1, 11},     /* 3x3 pad 1 */
        {2, 5, 14, 14, 3, 1, 1, 1, 33},   /* 3x3, two images */
        {1, 7, 13, 10, 5, 1, 2, 1, 9},    /* 5x5 pad 2, odd sizes */
        {1, 3, 30, 30, 7, 2, 3, 1, 16},   /* conv1's 7x7 stride 2 pad 3 */
        {2, 9, 11, 11, 3, 2, 0, 1, 10},   /* stride 2 without padding */
        {1, 4, 10, 10, 1, 2, 0, 1, 5},    /* 1x1 stride 2 */
        {1, 6, 12, 12, 3, 1, 2, 2, 7},    /* dilation 2 */
        {1, 8, 4, 4, 3, 1, 1, 1, 40},     /* 16 columns, many rows: threads split the rows */
        {1, 3, 1, 1, 1, 1, 0, 1, 3},      /* a single column, depth 3 */
        {2, 50, 7, 7, 3, 1, 1, 1, 20},    /* 7x7 with 450 depth */
        {1, 300, 5, 5, 1, 1, 0, 1, 9},    /* depth across several unfolding blocks */
        {1, 4, 16, 16, 5, 3, 2, 1, 7},    /* stride 3: rows stored as 3 phases */
        {1, 5, 17, 17, 3, 2, 2, 2, 6},    /* stride 2 and dilation 2 */
        {1, 40, 80, 80, 3, 1, 1, 1, 9},   /* an image whose strips take several blocks */
        {1, 40, 3, 1800, 3, 1, 1, 1, 5},  /* strips too wide for one panel: unfolded as floats */
    };
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        int flags = (int)i;
        qconv_case(shapes[i], flags % 2, flags / 2 % 2, flags % 3 != 0, (unsigned)(100 + i));
        qconv_case(shapes[i], 1 - flags % 2, 1 - flags / 2 % 2, flags % 3 == 0, (unsigned)(200 + i));
    }
}

static void test_quant_range(void)
{
    incept_quant q = incept_quant_range(-1.0f, 1.0f);
    CHECK(fabsf(q.scale - 2.0f / 255.0f) < 1e-9f && (q.zero_point == 127 || q.zero_point == 128));
    q = incept_quant_range(0.0f, 2.55f);
    CHECK(fabsf(q.scale - 0.01f) < 1e-8f && q.zero_point == 0);
    q = incept_quant_range(1.0f, 3.0f); /* 0 joins the range */
    CHECK(fabsf(q.scale - 3.0f / 255.0f) < 1e-9f && q.zero_point == 0);
    q = incept_quant_range(-5.1f, -1.0f);
    CHECK(fabsf(q.scale - 0.02f) < 1e-8f && q.zero_point == 255);
    q = incept_quant_range(0.0f, 0.0f);
    CHECK(q.scale == 1.0f && q.zero_point == 0);
    q = incept_quant_range(NAN, INFINITY);
    CHECK(q.scale == 1.0f && q.zero_point >= 0 && q.zero_point <= 255);
    q = incept_quant_range(-1.0f, 3.0f); /* 0 is exact: it codes as the zero point */
    CHECK(q.zero_point == 64 && naive_quantize(0.0f, q) == q.zero_point);
    CHECK(fabsf(q.scale * (float)(naive_quantize(-1.0f, q) - q.zero_point) + 1.0f) <= q.scale);
}

/* Quantized against float: on random data 8 bits leave ~40 dB of signal to noise. */
static void test_close_to_float(void)
{
    conv_shape s = {1, 32, 14, 14, 3, 1, 1, 1, 48};
    conv_input in = make_input(s, 0, 7);
    const int m = s.m, k = in.k, n = in.n;
    float *w = malloc(sizeof(float) * (size_t)m * k), *bias = malloc(sizeof(float) * m);
    fill_random(w, (size_t)m * k, 8);
    fill_random(bias, (size_t)m, 9);
    incept_quant code = incept_quant_range(-1.0f, 1.0f);
    incept_qgemm_weights q = make_weights(m, k, w, bias, code);
    float *exact = malloc(sizeof(float) * (size_t)m * n), *c = malloc(sizeof(float) * (size_t)m * n);
    float *fws = malloc(sizeof(float) * incept_gemm_workspace(m, n, k, 1));
    void *ws = aligned_bytes(incept_qgemm_workspace(m, n, k, 1));
    incept_gemm_conv(1, m, n, k, w, k, &in.conv, exact, n, bias, 0, fws);
    incept_qgemm_conv(1, &q, n, &in.conv, code, c, n, 0, ws);
    double signal = 0.0, noise = 0.0;
    for (size_t i = 0; i < (size_t)m * n; i++) {
        signal += (double)exact[i] * exact[i];
        noise += ((double)c[i] - exact[i]) * ((double)c[i] - exact[i]);
    }
    double sqnr = 10.0 * log10(signal / (noise > 0.0 ? noise : 1e-30));
    printf("int8 against float (3x3, 32 -> 48 at 14x14): SQNR %.1f dB\n", sqnr);
    CHECK_MSG(sqnr > 30.0 && sqnr < 80.0, "SQNR %.1f dB", sqnr);
    float largest = 0.0f;
    for (size_t i = 0; i < (size_t)m * k; i++)
        largest = fmaxf(largest, fabsf(w[i]));
    CHECK(q.weight_max == largest);
    CHECK(incept_qgemm_force_isa("no-such-isa") == 0);
    free_weights(&q);
    free(in.input), free(w), free(bias), free(exact), free(c), free(fws), free(ws);
}

/* ---- benchmark ---- */

static double now_seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

typedef enum { BENCH_GEMM_CONV, BENCH_FLOAT_BEST, BENCH_INT8 } bench_kind;

typedef struct {
    const conv_input *in;
    const float *w;
    const incept_qgemm_weights *q;
    incept_quant code;
    float *c;
    void *ws;
    int threads;
    bench_kind kind;
} bench_job;

/* The float path the engine takes for this shape: a 1x1 convolution is a plain GEMM of its
 * input, 3x3 and 5x5 at stride 1 go through Winograd, the rest through incept_gemm_conv. */
static int winograd_shape(const conv_shape *s)
{
    return (s->kernel == 3 || s->kernel == 5) && s->stride == 1 && s->dilation == 1;
}

static void bench_run(const bench_job *b)
{
    const conv_shape *s = &b->in->shape;
    const int m = s->m, n = b->in->n, k = b->in->k;
    if (b->kind == BENCH_INT8) {
        incept_qgemm_conv(b->threads, b->q, n, &b->in->conv, b->code, b->c, n, 1, b->ws);
    } else if (b->kind == BENCH_FLOAT_BEST && s->kernel == 1 && s->stride == 1) {
        incept_gemm(b->threads, m, n, k, b->w, k, b->in->input, n, b->c, n, NULL, 1, b->ws);
    } else if (b->kind == BENCH_FLOAT_BEST && winograd_shape(s)) {
        incept_winograd_args args = {b->in->input, b->in->image_stride, 1, s->channels, s->h, s->w, b->w, NULL,
                                     s->kernel, m, s->pad, s->pad, 1, b->c, (size_t)m * n, b->in->conv.out_h,
                                     b->in->conv.out_w, 0, 0, NULL};
        incept_winograd_conv(&args, b->ws, b->threads);
    } else {
        incept_gemm_conv(b->threads, m, n, k, b->w, k, &b->in->conv, b->c, n, NULL, 1, b->ws);
    }
}

/* Median G MAC/s over 9 timings of enough calls for ~20 ms each. */
static double bench_rate(const bench_job *b)
{
    const double macs = (double)b->in->shape.m * b->in->k * b->in->n;
    bench_run(b);
    double t0 = now_seconds();
    bench_run(b);
    int reps = (int)(0.02 / (now_seconds() - t0 + 1e-9)) + 1;
    double rates[9];
    for (int i = 0; i < 9; i++) {
        t0 = now_seconds();
        for (int r = 0; r < reps; r++)
            bench_run(b);
        rates[i] = macs * reps / (now_seconds() - t0) * 1e-9;
    }
    qsort(rates, 9, sizeof rates[0], compare_doubles);
    return rates[4];
}

static void bench(int threads)
{
    const struct {
        const char *name;
        conv_shape shape;
    } cases[] = {
        {"1x1 480->192 28x28", {1, 480, 28, 28, 1, 1, 0, 1, 192}},
        {"1x1 832->384 7x7", {1, 832, 7, 7, 1, 1, 0, 1, 384}},
        {"3x3 96->128 28x28", {1, 96, 28, 28, 3, 1, 1, 1, 128}},
        {"1x1 480->64 14x14", {1, 480, 14, 14, 1, 1, 0, 1, 64}},
        {"3x3 96->208 14x14", {1, 96, 14, 14, 3, 1, 1, 1, 208}},
        {"3x3 160->320 7x7", {1, 160, 7, 7, 3, 1, 1, 1, 320}},
        {"5x5 16->48 14x14", {1, 16, 14, 14, 5, 1, 2, 1, 48}},
        {"3x3 64->192 56x56", {1, 64, 56, 56, 3, 1, 1, 1, 192}},
        {"7x7/2 3->64 224", {1, 3, 224, 224, 7, 2, 3, 1, 64}},
    };
    printf("G MAC/s (direct convolution's multiply-adds per second), median of 9, %d thread(s);\n"
           "fp32: incept_gemm_conv; fp32 best: the float path the engine takes (1x1: incept_gemm,\n"
           "3x3/5x5 stride 1: Winograd)\n%-22s %8s %10s", threads, "shape", "fp32", "fp32 best");
    for (int i = 0; i < N_ISAS; i++)
        printf(" %10s", isas[i]);
    printf("\n");
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        conv_input in = make_input(cases[i].shape, 0, 1);
        const int m = in.shape.m, k = in.k, n = in.n;
        float *w = malloc(sizeof(float) * (size_t)m * k), *c = malloc(sizeof(float) * (size_t)m * n);
        fill_random(w, (size_t)m * k, 2);
        incept_quant code = incept_quant_range(-1.0f, 1.0f);
        incept_qgemm_weights q = make_weights(m, k, w, NULL, code);
        size_t float_floats = incept_gemm_workspace(m, n, k, threads);
        if (winograd_shape(&in.shape)) {
            size_t wino = incept_winograd_workspace(in.shape.kernel, in.shape.channels, m, 1, in.conv.out_h,
                                                    in.conv.out_w, threads);
            float_floats = wino > float_floats ? wino : float_floats;
        }
        float *fws = aligned_bytes(sizeof(float) * float_floats);
        void *ws = aligned_bytes(incept_qgemm_workspace(m, n, k, threads));
        bench_job job = {&in, w, &q, code, c, fws, threads, BENCH_GEMM_CONV};
        printf("%-22s %8.1f", cases[i].name, bench_rate(&job));
        job.kind = BENCH_FLOAT_BEST;
        printf(" %10.1f", bench_rate(&job));
        job.ws = ws;
        job.kind = BENCH_INT8;
        for (int s = 0; s < N_ISAS; s++) {
            if (incept_qgemm_force_isa(isas[s]))
                printf(" %10.1f", bench_rate(&job));
            else
                printf(" %10s", "-");
        }
        printf("\n");
        fflush(stdout);
        incept_qgemm_force_isa(NULL);
        free_weights(&q);
        free(in.input), free(w), free(c), free(fws), free(ws);
    }
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--bench") == 0) {
        bench(argc > 2 ? atoi(argv[2]) : 1);
        return 0;
    }
    test_quant_range();
    test_against_naive();
    test_close_to_float();
    return test_summary("test_qgemm");
}
