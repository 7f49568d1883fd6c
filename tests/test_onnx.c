/* test_onnx.c — ONNX import: hand-built fixtures (tests/fixtures, made by
 * make_onnx_fixtures.py with PyTorch computing the expected outputs) covering opset 7 and 13
 * attribute forms, and bad files: unsupported op, truncation at every length, flipped bytes,
 * garbage, a missing file. None may crash or leak (the suite runs under ASan in CI). */
#include <unistd.h>

#include "graph/graph.h"
#include "incept.h"
#include "ops/op.h"
#include "test.h"

static char *read_all(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *data = malloc((size_t)n + 1);
    if (data && fread(data, 1, (size_t)n, f) != (size_t)n) {
        free(data);
        data = NULL;
    }
    fclose(f);
    *size = (size_t)n;
    return data;
}

static void write_all(const char *path, const void *data, size_t size)
{
    FILE *f = fopen(path, "wb");
    if (f) {
        fwrite(data, 1, size, f);
        fclose(f);
    }
}

static void fixture_case(const char *name, int batch)
{
    char path[512];
    snprintf(path, sizeof path, "tests/fixtures/%s.onnx", name);
    incept_model *m = NULL;
    CHECK_OK(incept_model_load(path, NULL, &m));
    if (!m)
        return;
    float *x, *expect;
    size_t n_in, n_out;
    read_fixture(name, m, batch, &x, &expect, &n_in, &n_out);
    float *y = malloc(n_out * sizeof(float));
    CHECK_MSG(x && expect, "%s: fixture tensors match the model's dims", name);
    CHECK_MSG(!incept_model_generic_nodes(m), "%s: the engine takes it", name);
    incept_session *s = NULL;
    CHECK_OK(incept_session_new(m, &s));
    if (x && expect && s) {
        CHECK_OK(incept_session_forward(s, x, batch, y));
        float diff = max_abs_diff(y, expect, n_out);
        CHECK_MSG(diff < 1e-5f, "%s: max diff %g against PyTorch", name, (double)diff);
    }
    free(x);
    free(expect);
    free(y);
    incept_session_free(s);
    incept_model_free(m);
}

static void flip_bytes(const char *fixture, const char *path);

static void test_bad_files(void)
{
    incept_model *m = (incept_model *)&m; /* must be reset to NULL on failure */
    CHECK(incept_model_load("tests/fixtures/unsupported_op.onnx", NULL, &m) == INCEPT_ERR_UNSUPPORTED);
    CHECK(m == NULL);
    CHECK_MSG(strstr(incept_last_error(), "my_tanh") && strstr(incept_last_error(), "Tanh"),
              "message names node and op: %s", incept_last_error());

    CHECK(incept_model_load("tests/fixtures/no_such_file.onnx", NULL, &m) == INCEPT_ERR_IO);
    CHECK(strstr(incept_last_error(), "no_such_file.onnx") != NULL);

    char tmp[] = "/tmp/incept_test_onnx_XXXXXX";
    int fd = mkstemp(tmp);
    CHECK(fd >= 0);
    close(fd);
    char path[64];
    snprintf(path, sizeof path, "%s.onnx", tmp);
    const char garbage[] = "this is not a protobuf \xff\xfe\x01\x02 at all";
    write_all(path, garbage, sizeof garbage);
    CHECK(incept_model_load(path, NULL, &m) == INCEPT_ERR_FORMAT);
    CHECK_MSG(strstr(incept_last_error(), path) != NULL, "message names the file: %s",
              incept_last_error());

    size_t size;
    char *good = read_all("tests/fixtures/opset13_same_upper.onnx", &size);
    CHECK(good != NULL);
    int failures = 0, crashes_avoided = 0;
    for (size_t len = 0; good && len < size; len += 3) { /* every truncation must fail cleanly */
        write_all(path, good, len);
        incept_status st = incept_model_load(path, NULL, &m);
        failures += st != INCEPT_OK;
        if (st == INCEPT_OK)
            incept_model_free(m);
        crashes_avoided++;
    }
    CHECK_MSG(failures == crashes_avoided, "%d of %d truncated files were rejected", failures,
              crashes_avoided);
    /* flipped bytes: fail or load (and run), never crash; also in a model whose nodes are partly
     * generic (probed at load, shapes checked at run time) */
    free(good);
    good = read_all("tests/fixtures/opset13_generic_between.onnx", &size);
    for (size_t len = 0; good && len < size; len += 7) {
        write_all(path, good, len);
        incept_status st = incept_model_load(path, NULL, &m);
        CHECK_MSG(st != INCEPT_OK, "a truncation of opset13_generic_between to %zu bytes is rejected", len);
        if (st == INCEPT_OK)
            incept_model_free(m);
    }
    flip_bytes("tests/fixtures/opset13_same_upper.onnx", path);
    flip_bytes("tests/fixtures/opset13_generic_between.onnx", path);
    free(good);
    unlink(path);
    unlink(tmp);
}

/* Flips 3 random bytes of the fixture 300 times: each file fails to load cleanly, or loads and
 * runs (its status whatever it is) without a crash or a leak. */
static void flip_bytes(const char *fixture, const char *path)
{
    incept_model *m = NULL;
    size_t size;
    char *good = read_all(fixture, &size);
    CHECK(good != NULL);
    unsigned s = 99;
    for (int trial = 0; good && trial < 300; trial++) {
        char *bad = malloc(size);
        memcpy(bad, good, size);
        for (int k = 0; k < 3; k++) {
            s = s * 1664525u + 1013904223u;
            bad[(s >> 8) % size] ^= (char)(1 + (s >> 24) % 255);
        }
        write_all(path, bad, size);
        if (incept_model_load(path, NULL, &m) == INCEPT_OK) {
            float x[5 * 9 * 8], y[64];
            int c, h, w, oc, oh, ow;
            incept_model_input_dims(m, &c, &h, &w);
            incept_model_output_dims(m, &oc, &oh, &ow);
            incept_session *run = NULL;
            if ((size_t)c * h * w <= sizeof x / sizeof x[0] && (size_t)oc * oh * ow <= 64 &&
                incept_session_new(m, &run) == INCEPT_OK) {
                memset(x, 0, sizeof x);
                incept_session_forward(run, x, 1, y);
            }
            incept_session_free(run);
            incept_model_free(m);
        }
        free(bad);
    }
    free(good);
}

/* New values, as training leaves them, in an imported model's conv and fc parameters and in
 * those no node reads (a conv's own bias after a BatchNormalization was folded into it). The
 * per-channel Mul/Add constants stay: export writes back initializers, not computed values. */
static void perturb_imported(incept_model *m)
{
    const incept_graph *g = &m->graph;
    for (int p = 0; p < g->n_params; p++) {
        int trained = 1;
        for (int i = 0; i < g->n_nodes; i++)
            if (g->nodes[i].weight == p || g->nodes[i].bias == p)
                trained = !strcmp(g->nodes[i].op->name, "conv") || !strcmp(g->nodes[i].op->name, "fc");
        float *data = incept_graph_param_data(g, p);
        for (size_t k = 0; trained && k < g->params[p].count; k++)
            data[k] *= 1.0f + 0.1f * (float)((k * 7 + (size_t)p) % 5) - 0.2f;
    }
}

/* A model written as ONNX and read back gives the same outputs; where Debian's python3-opencv is
 * installed (and `opencv` asks), OpenCV DNN loads the file and agrees too. Weights: the file's;
 * for a description without them He initialization; an imported model's perturbed. */
static void export_case(const char *model_path, const char *weights, int batch, int opencv)
{
    incept_model *m = NULL, *back = NULL;
    CHECK_OK(incept_model_load(model_path, weights, &m));
    if (!m)
        return;
    if (m->onnx_source)
        perturb_imported(m);
    else if (!weights)
        incept_model_init_weights(m, 21);
    CHECK_OK(incept_model_save_onnx(m, "/tmp/incept_export.onnx"));
    CHECK_OK(incept_model_load("/tmp/incept_export.onnx", NULL, &back));
    int c, h, w, oc;
    incept_model_input_dims(m, &c, &h, &w);
    incept_model_output_dims(m, &oc, NULL, NULL);
    size_t n = (size_t)batch * c * h * w;
    float *x = malloc(n * sizeof(float)), *a = malloc(sizeof(float) * batch * oc);
    float *b = malloc(sizeof(float) * batch * oc);
    fill_random(x, n, 31);
    incept_session *s = NULL, *s_back = NULL;
    CHECK_OK(incept_session_new(m, &s));
    if (s) {
        CHECK_OK(incept_session_set_exact(s, 1));
        CHECK_OK(incept_session_forward(s, x, batch, a));
    }
    if (back && s) {
        CHECK_OK(incept_session_new(back, &s_back));
        if (s_back) {
            CHECK_OK(incept_session_set_exact(s_back, 1));
            CHECK_OK(incept_session_forward(s_back, x, batch, b));
            CHECK_MSG(max_abs_diff(a, b, (size_t)batch * oc) <= 1e-5f * max_abs(a, (size_t)batch * oc),
                      "%s exported and read back", model_path);
        }
    }
    if (s && opencv && system("/usr/bin/python3 -c 'import cv2' >/dev/null 2>&1") == 0) {
        FILE *f = fopen("/tmp/incept_export_x.bin", "wb");
        fwrite(x, sizeof(float), n, f);
        fclose(f);
        char cmd[2048];
        snprintf(cmd, sizeof cmd,
                 "/usr/bin/python3 -c \"import cv2, numpy as np; net = cv2.dnn.readNetFromONNX("
                 "'/tmp/incept_export.onnx'); x = np.fromfile('/tmp/incept_export_x.bin', "
                 "np.float32).reshape(%d, %d, %d, %d); net.setInput(x); "
                 "net.forward().astype(np.float32).tofile('/tmp/incept_export_y.bin')\" 2>&1",
                 batch, c, h, w);
        int rc = system(cmd);
        CHECK_MSG(rc == 0, "OpenCV DNN loads and runs the export of %s", model_path);
        float *y = rc == 0 ? read_floats("/tmp", "incept_export_y.bin", (size_t)batch * oc) : NULL;
        CHECK_MSG(y && max_abs_diff(a, y, (size_t)batch * oc) <= 1e-4f * max_abs(a, (size_t)batch * oc),
                  "OpenCV agrees on %s", model_path);
        free(y);
        unlink("/tmp/incept_export_x.bin");
        unlink("/tmp/incept_export_y.bin");
    } else if (s && opencv) {
        printf("SKIP OpenCV check of the export of %s: python3-opencv is not installed\n", model_path);
    }
    free(x), free(a), free(b);
    incept_session_free(s);
    incept_session_free(s_back);
    incept_model_free(m);
    incept_model_free(back);
    unlink("/tmp/incept_export.onnx");
}

/* A model and weights from bytes in memory: the same outputs as from the files; the buffer may
 * be freed after the call (a model with generic nodes too); every truncation fails cleanly. */
static void test_memory(void)
{
    const char *names[2] = {"opset13_same_upper", "opset13_several_inputs"};
    for (int k = 0; k < 2; k++) {
        char path[256];
        snprintf(path, sizeof path, "tests/fixtures/%s.onnx", names[k]);
        size_t size;
        char *bytes = read_all(path, &size);
        incept_model *from_file = NULL, *from_memory = NULL;
        CHECK_OK(incept_model_load_onnx(path, &from_file));
        CHECK_OK(incept_model_load_onnx_memory(bytes, size, names[k], &from_memory));
        if (bytes)
            memset(bytes, 0, size); /* nothing may still read it */
        free(bytes);
        CHECK(from_file && from_memory &&
              incept_model_generic_nodes(from_file) == incept_model_generic_nodes(from_memory) &&
              incept_model_layer_count(from_file) == incept_model_layer_count(from_memory));
        if (from_file && from_memory && k == 0) {
            float *x, *expect, *y;
            size_t n_in, n_out;
            read_fixture(names[k], from_memory, 3, &x, &expect, &n_in, &n_out);
            y = malloc(sizeof(float) * (n_out ? n_out : 1));
            incept_session *s = NULL;
            CHECK_OK(incept_session_new(from_memory, &s));
            if (s && x && expect && y) {
                CHECK_OK(incept_session_forward(s, x, 3, y));
                CHECK(max_abs_diff(y, expect, n_out) < 1e-5f);
            }
            incept_session_free(s);
            free(x), free(expect), free(y);
        }
        if (from_file && from_memory && k == 1) { /* generic nodes read the kept graph's attributes */
            incept_tensor in[3] = {{0}}, out_a[3], out_b[3];
            int loaded = 1;
            for (int i = 0; i < 3; i++) {
                snprintf(path, sizeof path, "tests/fixtures/%s.input_%d.pb", names[k], i);
                loaded &= incept_tensor_load(path, &in[i]) == INCEPT_OK;
            }
            incept_session *a = NULL, *b = NULL;
            memset(out_a, 0, sizeof out_a), memset(out_b, 0, sizeof out_b);
            CHECK(loaded && incept_session_new(from_file, &a) == INCEPT_OK &&
                  incept_session_new(from_memory, &b) == INCEPT_OK);
            if (loaded && a && b) {
                CHECK_OK(incept_session_run(a, 3, NULL, in, 3, NULL, out_a));
                CHECK_OK(incept_session_run(b, 3, NULL, in, 3, NULL, out_b));
                for (int i = 0; i < 3; i++)
                    CHECK(out_a[i].data && out_b[i].data && out_a[i].dtype == out_b[i].dtype &&
                          incept_tensor_count(&out_a[i]) == incept_tensor_count(&out_b[i]) &&
                          !memcmp(out_a[i].data, out_b[i].data,
                                  incept_tensor_count(&out_a[i]) * (out_a[i].dtype == INCEPT_FLOAT32 ? 4
                                                                    : out_a[i].dtype == INCEPT_INT64 ? 8 : 1)));
            }
            for (int i = 0; i < 3; i++)
                incept_tensor_free(&in[i]), incept_tensor_free(&out_a[i]), incept_tensor_free(&out_b[i]);
            incept_session_free(a);
            incept_session_free(b);
        }
        incept_model_free(from_file);
        incept_model_free(from_memory);
    }
    size_t size;
    char *good = read_all("tests/fixtures/opset13_same_upper.onnx", &size);
    int rejected = 0, tried = 0;
    for (size_t len = 0; good && len < size; len += 5, tried++) {
        incept_model *m = NULL;
        incept_status st = incept_model_load_onnx_memory(good, len, "truncated", &m);
        rejected += st != INCEPT_OK;
        incept_model_free(m);
    }
    CHECK_MSG(rejected == tried, "%d of %d truncated buffers rejected", rejected, tried);
    free(good);
    /* weights from memory: the same parameters as from the file */
    incept_model *a = NULL, *b = NULL;
    CHECK_OK(incept_model_load("tests/fixtures/bn_train.incept", "tests/fixtures/bn_train.after.weights", &a));
    CHECK_OK(incept_model_load("tests/fixtures/bn_train.incept", NULL, &b));
    char *weights = read_all("tests/fixtures/bn_train.after.weights", &size);
    CHECK(weights && b && incept_model_load_weights_memory(b, weights, size, "bn_train") == INCEPT_OK);
    CHECK(weights && b && incept_model_load_weights_memory(b, weights, size / 2, "half") == INCEPT_ERR_FORMAT);
    int same = a && b && incept_model_param_count(a) == incept_model_param_count(b);
    for (int p = 0; same && p < incept_model_param_count(a); p++) {
        int nd, dims[4];
        float *x, *y;
        incept_model_param(a, p, NULL, &nd, dims, &x);
        incept_model_param(b, p, NULL, NULL, NULL, &y);
        same = !memcmp(x, y, dims_count(nd, dims) * sizeof(float));
    }
    CHECK_MSG(same, "%s", "weights from memory equal weights from the file");
    free(weights);
    incept_model_free(a);
    incept_model_free(b);
}

int main(void)
{
    fixture_case("opset7_pad_gemm", 2);
    fixture_case("opset13_same_upper", 3);
    fixture_case("opset13_torchvision_layout", 2);
    fixture_case("opset3_model_zoo_layout", 1);
    fixture_case("opset13_fold_reshape", 2);
    test_bad_files();
    test_memory();
    export_case("models/tiny.incept", NULL, 3, 1);
    /* a conv with a fused ReLU6 (relu-max): written as Conv then Clip(0, 0.3), read back fused */
    write_all("/tmp/incept_relu6.incept", "input x 3 8 8\nconv c 4 3x3 pad 1 relu-max 0.3\nflatten f\nfc o 5\n",
              strlen("input x 3 8 8\nconv c 4 3x3 pad 1 relu-max 0.3\nflatten f\nfc o 5\n"));
    export_case("/tmp/incept_relu6.incept", NULL, 2, 1);
    unlink("/tmp/incept_relu6.incept");
    export_case("models/fashion.incept", NULL, 2, 1);
    export_case("models/googlenet.incept", NULL, 1, 1);
    /* batch norm with trained scales, shifts and running statistics (PyTorch's, two steps) */
    export_case("tests/fixtures/bn_train.incept", "tests/fixtures/bn_train.after.weights", 2, 1);
    /* imported models with BatchNormalization folded into their convs (one conv with a bias of
     * its own), weights changed as training would: the file written back must compute the same */
    export_case("tests/fixtures/opset13_torchvision_layout.onnx", NULL, 2, 0); /* Gather: not */
    export_case("tests/fixtures/opset13_fold_reshape.onnx", NULL, 2, 1);       /* in OpenCV */
    /* ReLU6 as Clip, depthwise convs, residual adds folded... written back and read again */
    export_case("tests/fixtures/torchvision/mobilenet_v2.opset13.onnx", NULL, 2, 0);
    export_case("tests/fixtures/torchvision/inception_v3.opset17.onnx", NULL, 2, 0);
    return test_summary("test_onnx");
}
