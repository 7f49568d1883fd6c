/* test.h — a minimal test harness: CHECK records a failure with file and line and carries on;
 * each program ends with "N passed, N failed" and exits non-zero on any failure. */
#ifndef INCEPT_TEST_H
#define INCEPT_TEST_H

#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "incept.h"

static int test_passed, test_failed;

/* The tests write fixed names under /tmp (/tmp/incept_*), so two runs at once (two checkouts,
 * ctest -j) would overwrite each other's files. Each test program takes this lock before main
 * and holds it until it exits (the kernel drops it then, whatever happens), so such runs take
 * turns. A POSIX record lock: per process, not inherited by the CLI runs it starts. */
#if defined(__GNUC__)
__attribute__((constructor))
#endif
static void test_take_tmp_lock(void)
{
    int fd = open("/tmp/incept_tests.lock", O_RDWR | O_CREAT, 0666);
    struct flock whole = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0};
    if (fd < 0 || fcntl(fd, F_SETLKW, &whole) != 0)
        fprintf(stderr, "note: no lock on /tmp/incept_tests.lock; a concurrent run may collide\n");
}

#define CHECK(cond)                                                                              \
    do {                                                                                         \
        if (cond) {                                                                              \
            test_passed++;                                                                       \
        } else {                                                                                 \
            test_failed++;                                                                       \
            fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond);                      \
        }                                                                                        \
    } while (0)

#define CHECK_MSG(cond, ...)                                                                     \
    do {                                                                                         \
        if (cond) {                                                                              \
            test_passed++;                                                                       \
        } else {                                                                                 \
            test_failed++;                                                                       \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);                      \
            fprintf(stderr, __VA_ARGS__);                                                        \
            fputc('\n', stderr);                                                                 \
        }                                                                                        \
    } while (0)

/* A call that must succeed; prints the library's message if it does not. */
#define CHECK_OK(call)                                                                           \
    do {                                                                                         \
        incept_status check_ok_status = (call);                                                  \
        CHECK_MSG(check_ok_status == INCEPT_OK, "%s", incept_last_error());                      \
    } while (0)

static inline int test_summary(const char *name)
{
    printf("%s: %d passed, %d failed\n", name, test_passed, test_failed);
    return test_failed ? 1 : 0;
}

/* The model's Table 1 summary as text (malloc'd; t, when given, gets its totals). */
static inline char *summary_text(incept_model *m, incept_totals *t)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return NULL;
    CHECK_OK(incept_model_summary(m, f, t));
    fclose(f);
    return buf;
}

/* Largest |a - b| over n values. */
static inline float max_abs_diff(const float *a, const float *b, size_t n)
{
    float m = 0.0f;
    for (size_t i = 0; i < n; i++) {
        float d = fabsf(a[i] - b[i]);
        if (!(d <= m)) /* also catches NaN */
            m = d != d ? INFINITY : d;
    }
    return m;
}

static inline float max_abs(const float *a, size_t n)
{
    float m = 0.0f;
    for (size_t i = 0; i < n; i++)
        m = fabsf(a[i]) > m ? fabsf(a[i]) : m;
    return m;
}

/* 10 log10 (sum x^2 / sum (x - y)^2): how far y (a reduced-precision result) is from x. */
static inline double sqnr_db(const float *x, const float *y, size_t n)
{
    double signal = 0.0, noise = 0.0;
    for (size_t i = 0; i < n; i++) {
        signal += (double)x[i] * x[i];
        noise += ((double)x[i] - y[i]) * ((double)x[i] - y[i]);
    }
    return noise > 0.0 ? 10.0 * log10(signal / noise) : INFINITY;
}

static inline int argmax(const float *x, int n)
{
    int best = 0;
    for (int i = 1; i < n; i++)
        best = x[i] > x[best] ? i : best;
    return best;
}

/* Where ../shared/reference/data is, or NULL (and a loud skip line) if absent. */
static inline const char *reference_dir(const char *test)
{
    static char path[4096];
    const char *src = getenv("INCEPT_SOURCE_DIR");
    const char *env = getenv("INCEPT_REFERENCE_DIR");
    if (env)
        snprintf(path, sizeof path, "%s", env);
    else
        snprintf(path, sizeof path, "%s/../shared/reference/data", src ? src : ".");
    char probe[4200];
    snprintf(probe, sizeof probe, "%s/MANIFEST.txt", path);
    FILE *f = fopen(probe, "r");
    if (!f) {
        printf("SKIP %s: reference data not found at %s (needs ../shared/reference/data beside the "
               "checkout, or INCEPT_REFERENCE_DIR)\n", test, path);
        return NULL;
    }
    fclose(f);
    return path;
}

/* Reads exactly n floats from dir/rel; returns a malloc'd array or NULL. */
static inline float *read_floats(const char *dir, const char *rel, size_t n)
{
    char path[8192];
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "cannot open %s\n", path);
        return NULL;
    }
    float *p = malloc(n * sizeof(float) + 1);
    size_t got = p ? fread(p, sizeof(float), n, f) : 0;
    int extra = fgetc(f) != EOF;
    fclose(f);
    if (got != n || extra) {
        fprintf(stderr, "%s: expected exactly %zu floats\n", path, n);
        free(p);
        return NULL;
    }
    return p;
}

/* An ONNX fixture's input and PyTorch's output for `batch` samples through m
 * (tests/fixtures/NAME.input.bin, NAME.output.bin); both NULL when either is missing. */
static inline void read_fixture(const char *name, incept_model *m, int batch, float **x, float **expect,
                                size_t *n_in, size_t *n_out)
{
    int c, h, w, oc, oh, ow;
    char rel[512];
    incept_model_input_dims(m, &c, &h, &w);
    incept_model_output_dims(m, &oc, &oh, &ow);
    *n_in = (size_t)batch * c * h * w, *n_out = (size_t)batch * oc * oh * ow;
    snprintf(rel, sizeof rel, "%s.input.bin", name);
    *x = read_floats("tests/fixtures", rel, *n_in);
    snprintf(rel, sizeof rel, "%s.output.bin", name);
    *expect = read_floats("tests/fixtures", rel, *n_out);
    if (!*x || !*expect) {
        free(*x), free(*expect);
        *x = *expect = NULL;
    }
}

/* The element count of a shape. */
static inline size_t dims_count(int ndim, const int *dims)
{
    size_t count = 1;
    for (int d = 0; d < ndim; d++)
        count *= (size_t)dims[d];
    return count;
}

/* Deterministic pseudo-random floats in [-1, 1). */
static inline void fill_random(float *x, size_t n, unsigned seed)
{
    unsigned s = seed * 2654435761u + 1u;
    for (size_t i = 0; i < n; i++) {
        s = s * 1664525u + 1013904223u;
        x[i] = (float)(s >> 8) / 8388608.0f - 1.0f;
    }
}

/* Writes (put_file) or reads back (get_file) exactly `bytes` bytes of a file: 1 when it did. */
static inline int put_file(const char *path, const void *data, size_t bytes)
{
    FILE *f = fopen(path, "wb");
    int ok = f && fwrite(data, 1, bytes, f) == bytes;
    if (f)
        ok = fclose(f) == 0 && ok;
    return ok;
}

static inline int get_file(const char *path, void *data, size_t bytes)
{
    FILE *f = fopen(path, "rb");
    int ok = f && fread(data, 1, bytes, f) == bytes;
    if (f)
        fclose(f);
    return ok;
}

/* `incept eval MODEL --inputs INPUTS --precision P` on two samples labelled 1 and 3 (written to
 * LABELS): it prints P's accuracy beside fp32's and their agreement; skipped (said) in a build
 * without dataset files. */
static inline void check_eval_precision(const char *cli, const char *model, const char *inputs,
                                        const char *labels, const char *precision, const char *test)
{
    const float classes[2] = {1.0f, 3.0f};
    char cmd[2048];
    CHECK(put_file(labels, classes, sizeof classes));
    snprintf(cmd, sizeof cmd, "%s eval %s --inputs %s --labels %s --precision %s 2>/dev/null | grep -q "
             "'precision=%s fp32_top1=.* agreement='", cli, model, inputs, labels, precision, precision);
    if (INCEPT_WITH_DATASETS)
        CHECK_MSG(system(cmd) == 0, "%s", cmd);
    else
        printf("%s: skipped eval --precision %s: this build reads no dataset files (INCEPT_WITH_DATASETS=OFF)\n",
               test, precision);
    unlink(labels);
}

/* A reduced precision against float on one model: the model `description` (10 outputs, weights
 * He's from seed 5) on `batch` samples of `sample` values, in float (`exact` mode or not),
 * then in `precision` (int8 calibrated on the same samples first) on 1 and 2 threads. Checks
 * that the two thread counts agree bit for bit and that the logits are more than `bound` dB
 * from float; prints the dB and how many top-1s agree. Returns the session, in `precision` on
 * 2 threads, for more checks (*m: its model; free both), or NULL. */
static inline incept_session *precision_case(const char *description, int batch, int sample, int exact,
                                             incept_precision precision, double bound, incept_model **m,
                                             float *x, float *ref, float *got)
{
    incept_session *s = NULL;
    const char *name = precision == INCEPT_PRECISION_INT8 ? "int8" : "bf16";
    *m = NULL;
    CHECK_OK(incept_model_parse_description(description, "small", m));
    if (!*m || incept_session_new(*m, &s) != INCEPT_OK) {
        CHECK_MSG(0, "%s", "the small model and its session");
        return NULL;
    }
    incept_model_init_weights(*m, 5);
    float *two = malloc(sizeof(float) * batch * 10);
    fill_random(x, (size_t)batch * sample, 11);
    CHECK_OK(incept_session_set_exact(s, exact));
    CHECK_OK(incept_session_forward(s, x, batch, ref));
    if (precision == INCEPT_PRECISION_INT8)
        CHECK_OK(incept_session_calibrate(s, x, batch));
    CHECK_OK(incept_session_set_precision(s, precision));
    CHECK_OK(incept_session_forward(s, x, batch, got));
    CHECK_OK(incept_session_set_threads(s, 2));
    CHECK_OK(incept_session_forward(s, x, batch, two));
    double db = sqnr_db(ref, got, (size_t)batch * 10);
    int agree = 0;
    for (int i = 0; i < batch; i++)
        agree += argmax(ref + 10 * i, 10) == argmax(got + 10 * i, 10);
    printf("small Inception model in %s: %.1f dB against fp32, top-1 the same for %d of %d\n", name, db,
           agree, batch);
    CHECK_MSG(db > bound, "%s: %.1f dB", name, db);
    CHECK_MSG(two && memcmp(got, two, sizeof(float) * batch * 10) == 0, "1 and 2 threads give the same %s logits",
              name);
    free(two);
    return s;
}

/* GoogLeNet (`ref`/googlenet.onnx) on the reference input in `precision` (int8 calibrated on that
 * input) against float, 2 threads: more than `bound` dB, and both images' top-1 kept. */
static inline void googlenet_precision_case(const char *ref, incept_precision precision, double bound)
{
    const char *name = precision == INCEPT_PRECISION_INT8 ? "int8" : "bf16";
    incept_model *m = NULL;
    incept_session *s = NULL;
    char path[4200];
    snprintf(path, sizeof path, "%s/googlenet.onnx", ref);
    CHECK_OK(incept_model_load(path, NULL, &m));
    float *x = read_floats(ref, "input.bin", (size_t)2 * 3 * 224 * 224);
    float *fp32 = malloc(sizeof(float) * 2000), *low = malloc(sizeof(float) * 2000);
    if (!m || !x || !fp32 || !low || incept_session_new(m, &s)) {
        CHECK_MSG(0, "%s", "GoogLeNet and its reference input load");
    } else {
        CHECK_OK(incept_session_set_threads(s, 2));
        CHECK_OK(incept_session_forward(s, x, 2, fp32));
        if (precision == INCEPT_PRECISION_INT8)
            CHECK_OK(incept_session_calibrate(s, x, 2));
        CHECK_OK(incept_session_set_precision(s, precision));
        CHECK_OK(incept_session_forward(s, x, 2, low));
        double db = sqnr_db(fp32, low, 2000);
        printf("GoogLeNet in %s on the reference input: %.1f dB against fp32; top-1 %d and %d (fp32 %d and %d)\n",
               name, db, argmax(low, 1000), argmax(low + 1000, 1000), argmax(fp32, 1000), argmax(fp32 + 1000, 1000));
        CHECK_MSG(db >= bound, "GoogLeNet %s: %.1f dB (at least %.0f)", name, db, bound);
        CHECK(argmax(low, 1000) == argmax(fp32, 1000) && argmax(low + 1000, 1000) == argmax(fp32 + 1000, 1000));
    }
    free(x), free(fp32), free(low);
    incept_session_free(s);
    incept_model_free(m);
}

#endif
