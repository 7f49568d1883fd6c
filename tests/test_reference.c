/* test_reference.c — whole models against PyTorch's reference tensors in ../shared/reference:
 * GoogLeNet imported from ONNX (logits, batch from MANIFEST.txt), GoogLeNet built from models/googlenet.incept
 * with the same weights (logits and every tap), and the tiny Inception net; both ONNX files through
 * the generic N-d path too. Skips loudly when the reference data is absent. */
#include "graph/graph.h"
#include "incept.h"
#include "test.h"

static const char *taps[] = {
    "conv1",        "pool1",        "norm1",        "conv2_reduce", "conv2",        "norm2",
    "pool2",        "inception_3a", "inception_3b", "pool3",        "inception_4a", "inception_4b",
    "inception_4c", "inception_4d", "inception_4e", "pool4",        "inception_5a", "inception_5b",
    "pool5",
};

/* The values of one sample of a batch-first tensor. */
static size_t sample_size(const incept_tensor *t)
{
    return t->rank >= 1 && t->dims[0] > 0 ? incept_tensor_count(t) / (size_t)t->dims[0] : 0;
}

/* Copies the ONNX model's weights into the description model, in order, skipping the
 * auxiliary heads (not in the inference graph). Shapes must agree one by one. */
static int copy_weights(incept_model *from, incept_model *to)
{
    int k = 0, n_from = incept_model_param_count(from);
    for (int i = 0; i < incept_model_param_count(to); i++) {
        const char *name;
        int nd, dims[4], fnd, fdims[4];
        float *dst, *src;
        incept_model_param(to, i, &name, &nd, dims, &dst);
        if (strncmp(name, "aux", 3) == 0)
            continue;
        if (k >= n_from)
            return 0;
        incept_model_param(from, k++, NULL, &fnd, fdims, &src);
        if (fnd != nd || memcmp(dims, fdims, sizeof dims) != 0) {
            fprintf(stderr, "shape mismatch at %s\n", name);
            return 0;
        }
        size_t count = dims_count(nd, dims);
        memcpy(dst, src, count * sizeof(float));
    }
    return k == n_from;
}

/* Exact mode must be within 1e-5 of max |logit|; the fast default (Winograd) within 1e-4. */
static void check_logits(const char *label, incept_session *s, const float *input, int batch,
                         const float *expect, int classes, int threads, int exact)
{
    float *logits = malloc((size_t)batch * classes * sizeof(float));
    float bound = exact ? 1e-5f : 1e-4f;
    CHECK_OK(incept_session_set_threads(s, threads));
    CHECK_OK(incept_session_set_exact(s, exact));
    CHECK_OK(incept_session_forward(s, input, batch, logits));
    size_t n = (size_t)batch * classes;
    float diff = max_abs_diff(logits, expect, n), scale = max_abs(expect, n);
    printf("%s (%s, %d thread%s): max |diff| %.3g, max |logit| %.3g, ratio %.3g\n", label,
           exact ? "exact" : "fast", threads, threads > 1 ? "s" : "", (double)diff, (double)scale,
           (double)(diff / scale));
    CHECK_MSG(diff <= bound * scale, "%s: max diff %g exceeds %g of max |logit| %g", label,
              (double)diff, (double)bound, (double)scale);
    free(logits);
}

/* The ONNX file all on the generic N-d path (file order, no fusion, no Winograd): within 1e-5 of
 * max |logit|. */
static void check_generic(const char *path, const float *input, int batch, int c, int h, int w,
                            const float *expect, int classes)
{
    incept_model *g = NULL;
    incept_session *s = NULL;
    CHECK_OK(incept_model_load_onnx_generic(path, &g));
    CHECK(incept_model_generic_nodes(g));
    if (g)
        CHECK_OK(incept_session_new(g, &s));
    incept_tensor in = {.dtype = INCEPT_FLOAT32, .rank = 4, .dims = {batch, c, h, w}, .data = (void *)input};
    incept_tensor out = {0};
    if (s && incept_session_set_threads(s, 2) == INCEPT_OK)
        CHECK_OK(incept_session_run(s, 1, NULL, &in, 1, NULL, &out));
    size_t n = (size_t)batch * classes;
    CHECK_MSG(out.data && incept_tensor_count(&out) == n, "%s: generic path output of %zu values", path,
              out.data ? incept_tensor_count(&out) : 0);
    if (out.data && incept_tensor_count(&out) == n) {
        float diff = max_abs_diff(out.data, expect, n), scale = max_abs(expect, n);
        printf("%s (generic N-d path): max |diff| %.3g, max |logit| %.3g, ratio %.3g\n", path,
               (double)diff, (double)scale, (double)(diff / scale));
        CHECK_MSG(diff <= 1e-5f * scale, "%s on the generic path: max diff %g, max |logit| %g", path,
                  (double)diff, (double)scale);
    }
    incept_tensor_free(&out);
    incept_session_free(s);
    incept_model_free(g);
}

/* The first dimension of `name` in the reference's MANIFEST.txt (its batch), or 0. */
static int manifest_batch(const char *ref, const char *name)
{
    char path[4200], line[512];
    snprintf(path, sizeof path, "%s/MANIFEST.txt", ref);
    FILE *f = fopen(path, "r");
    int batch = 0;
    size_t len = strlen(name);
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, name, len) == 0 && line[len] == ' ')
            batch = atoi(line + len + 1);
    if (f)
        fclose(f);
    return batch;
}

static void test_googlenet(const char *ref)
{
    int batch = manifest_batch(ref, "input.bin");
    CHECK_MSG(batch > 0, "%s", "MANIFEST.txt gives input.bin's batch");
    if (batch <= 0)
        return;
    char path[4200];
    snprintf(path, sizeof path, "%s/googlenet.onnx", ref);
    incept_model *onnx = NULL, *desc = NULL;
    incept_session *onnx_s = NULL, *desc_s = NULL;
    CHECK_OK(incept_model_load(path, NULL, &onnx));
    CHECK_OK(incept_model_load("models/googlenet.incept", NULL, &desc));
    CHECK(!incept_model_generic_nodes(onnx));
    if (onnx)
        CHECK_OK(incept_session_new(onnx, &onnx_s));
    if (desc)
        CHECK_OK(incept_session_new(desc, &desc_s));
    float *input = read_floats(ref, "input.bin", (size_t)batch * 3 * 224 * 224);
    float *logits = read_floats(ref, "logits.bin", (size_t)batch * 1000);
    CHECK(input && logits);
    if (!onnx_s || !desc_s || !input || !logits)
        goto done;
    for (int threads = 1; threads <= 2; threads++)
        for (int exact = 0; exact <= 1; exact++)
            check_logits("googlenet.onnx", onnx_s, input, batch, logits, 1000, threads, exact);
    /* batch 1 with 2 threads: the threads share each GEMM (and each stacked 1x1 GEMM) */
    check_logits("googlenet.onnx, sample 0 alone", onnx_s, input, 1, logits, 1000, 2, 1);
    check_logits("googlenet.onnx, sample 0 alone", onnx_s, input, 1, logits, 1000, 2, 0);
    check_generic(path, input, batch, 3, 224, 224, logits, 1000);

    CHECK_MSG(copy_weights(onnx, desc), "%s", "the description's parameters match the ONNX graph's");
    check_logits("models/googlenet.incept", desc_s, input, batch, logits, 1000, 2, 1);
    /* every tap by name in one run (2 threads, exact, as the logits just checked) */
    enum { n_taps = sizeof taps / sizeof taps[0] };
    incept_tensor in = {.dtype = INCEPT_FLOAT32, .rank = 4, .dims = {batch, 3, 224, 224}, .data = input};
    incept_tensor outs[n_taps];
    memset(outs, 0, sizeof outs);
    CHECK_OK(incept_session_run(desc_s, 1, NULL, &in, n_taps, taps, outs));
    for (size_t i = 0; i < n_taps; i++) {
        const float *data = outs[i].data;
        size_t size = sample_size(&outs[i]);
        CHECK_MSG(data && outs[i].dtype == INCEPT_FLOAT32 && outs[i].dims[0] == batch && size > 0,
                  "tap %s: a float32 tensor of the batch", taps[i]);
        if (!data || !size)
            continue;
        char rel[256];
        snprintf(rel, sizeof rel, "taps/%s.bin", taps[i]);
        float *expect = read_floats(ref, rel, size);
        CHECK_MSG(expect != NULL, "tap %s", taps[i]);
        if (!expect)
            continue;
        float diff = max_abs_diff(data, expect, size);
        float scale = max_abs(expect, size);
        CHECK_MSG(diff <= 1e-5f * scale, "tap %s: max diff %g, max |value| %g", taps[i],
                  (double)diff, (double)scale);
        free(expect);
    }
    for (size_t i = 0; i < n_taps; i++)
        incept_tensor_free(&outs[i]);
done:
    free(input);
    free(logits);
    incept_session_free(onnx_s);
    incept_session_free(desc_s);
    incept_model_free(onnx);
    incept_model_free(desc);
}

static void test_tiny(const char *ref)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/tiny/tiny.onnx", ref);
    incept_model *m = NULL;
    incept_session *s = NULL;
    CHECK_OK(incept_model_load(path, NULL, &m));
    if (m)
        CHECK_OK(incept_session_new(m, &s));
    float *input = read_floats(ref, "tiny/input.bin", (size_t)4 * 3 * 15 * 15);
    float *logits = read_floats(ref, "tiny/step1/logits.bin", 20);
    CHECK(s && input && logits);
    if (s && input && logits) {
        int c, h, w, classes;
        incept_model_input_dims(m, &c, &h, &w);
        incept_model_output_dims(m, &classes, NULL, NULL);
        CHECK(c == 3 && h == 15 && w == 15 && classes == 5);
        CHECK(!incept_model_generic_nodes(m));
        for (int exact = 0; exact <= 1; exact++) {
            check_logits("tiny.onnx", s, input, 4, logits, 5, 1, exact);
            check_logits("tiny.onnx", s, input, 4, logits, 5, 2, exact);
        }
        check_generic(path, input, 4, 3, 15, 15, logits, 5);
    }
    free(input);
    free(logits);
    incept_session_free(s);
    incept_model_free(m);
}

int main(void)
{
    const char *ref = reference_dir("test_reference");
    if (!ref)
        return 77; /* ctest reports it as skipped (SKIP_RETURN_CODE) */
    test_tiny(ref);
    test_googlenet(ref);
    return test_summary("test_reference");
}
