/* test_onnx_graph.c — the generic N-d path (the nodes incept_model_load_onnx puts on it,
 * run by incept_session_run): a graph of three inputs and three outputs (MaxPool indices, a bool
 * Dropout mask, reshapes across the batch axis) against PyTorch's values; the engine's ONNX
 * fixtures on the generic path (incept_model_load_onnx_generic), against PyTorch and against
 * the engine; bad files, bad inputs, and a failed allocation at every step (none may crash or
 * leak: the suite runs under ASan in CI). The ONNX node tests (ctest onnx_conformance) check
 * each op on its own. */
#include "core/status.h"
#include "graph/graph.h"
#include "incept.h"
#include "test.h"

#define FIXTURES "tests/fixtures/"

static int load_arrays(const char *name, const char *kind, int n, incept_tensor *arrays)
{
    int ok = 1;
    for (int k = 0; k < n; k++) {
        char path[256];
        snprintf(path, sizeof path, FIXTURES "%s.%s_%d.pb", name, kind, k);
        incept_status st = incept_tensor_load(path, &arrays[k]);
        CHECK_MSG(st == INCEPT_OK, "%s", incept_last_error());
        ok &= st == INCEPT_OK;
    }
    return ok;
}

static double array_diff(const incept_tensor *a, const incept_tensor *b)
{
    if (a->dtype != b->dtype || a->rank != b->rank)
        return INFINITY;
    for (int d = 0; d < a->rank; d++)
        if (a->dims[d] != b->dims[d])
            return INFINITY;
    double worst = 0.0;
    for (size_t i = 0, n = incept_tensor_count(a); i < n; i++) {
        double x = a->dtype == INCEPT_FLOAT32 ? ((const float *)a->data)[i]
                   : a->dtype == INCEPT_INT64 ? (double)((const long long *)a->data)[i]
                                              : ((const unsigned char *)a->data)[i];
        double y = b->dtype == INCEPT_FLOAT32 ? ((const float *)b->data)[i]
                   : b->dtype == INCEPT_INT64 ? (double)((const long long *)b->data)[i]
                                              : ((const unsigned char *)b->data)[i];
        worst = fabs(x - y) > worst ? fabs(x - y) : worst;
    }
    return worst;
}

static void test_several_inputs(void)
{
    const char *name = "opset13_several_inputs";
    incept_model *g = NULL;
    incept_session *s = NULL;
    /* the engine does not take it (three inputs): the public loader hands it to the generic path */
    CHECK_OK(incept_model_load_onnx(FIXTURES "opset13_several_inputs.onnx", &g));
    if (!g)
        return;
    CHECK(incept_model_generic_nodes(g));
    CHECK_OK(incept_session_new(g, &s));
    if (!s) {
        incept_model_free(g);
        return;
    }
    CHECK(incept_model_inputs(g) == 3 && incept_model_outputs(g) == 3);
    CHECK(!strcmp(incept_model_input_name(g, 1), "y"));
    CHECK(!strcmp(incept_model_output_name(g, 2), "mask"));
    CHECK(incept_model_input_name(g, 3) == NULL);
    incept_tensor in[3] = {{0}}, want[3] = {{0}}, got[3] = {{0}};
    if (load_arrays(name, "input", 3, in) && load_arrays(name, "output", 3, want))
        for (int threads = 1; threads <= 2; threads++) {
            CHECK_OK(incept_session_set_threads(s, threads));
            memset(got, 0, sizeof got);
            CHECK_OK(incept_session_run(s, 3, NULL, in, 3, NULL, got));
            double rows = array_diff(&got[0], &want[0]), indices = array_diff(&got[1], &want[1]);
            double mask = array_diff(&got[2], &want[2]);
            CHECK_MSG(rows < 1e-5, "softmax rows: %g", rows);
            CHECK_MSG(indices == 0.0, "max-pool indices: %g", indices);
            CHECK_MSG(mask == 0.0, "dropout mask: %g", mask);
            for (int k = 0; k < 3 && threads == 1; k++) { /* saved and read back unchanged */
                incept_tensor back = {0};
                CHECK_OK(incept_tensor_save("/tmp/incept_test_array.pb", &got[k]));
                CHECK_OK(incept_tensor_load("/tmp/incept_test_array.pb", &back));
                CHECK(array_diff(&got[k], &back) == 0.0);
                incept_tensor_free(&back);
                remove("/tmp/incept_test_array.pb");
            }
            for (int k = 0; k < 3; k++)
                incept_tensor_free(&got[k]);
        }
    /* inputs that do not fit the declaration: named, and nothing left allocated */
    if (in[0].data) {
        memset(got, 0, sizeof got);
        in[0].dims[3] = 5;
        CHECK(incept_session_run(s, 3, NULL, in, 3, NULL, got) == INCEPT_ERR_SHAPE);
        CHECK_MSG(strstr(incept_last_error(), "'x'") != NULL, "names the input: %s", incept_last_error());
        in[0].dims[3] = 6;
        in[2].dtype = INCEPT_INT64;
        CHECK(incept_session_run(s, 3, NULL, in, 3, NULL, got) == INCEPT_ERR_ARG);
        CHECK_MSG(strstr(incept_last_error(), "'z'") != NULL, "names the input: %s", incept_last_error());
        in[2].dtype = INCEPT_FLOAT32;
        CHECK(got[0].data == NULL && got[1].data == NULL);
    }
    for (int k = 0; k < 3; k++)
        incept_tensor_free(&in[k]), incept_tensor_free(&want[k]);
    incept_session_free(s);
    incept_model_free(g);
}

/* A fixture of test_onnx on the generic path: PyTorch's output, and the engine's. */
static void engine_fixture(const char *name, int batch)
{
    char path[256];
    snprintf(path, sizeof path, FIXTURES "%s.onnx", name);
    incept_model *m = NULL, *g = NULL;
    incept_session *ms = NULL, *gs = NULL;
    CHECK_OK(incept_model_load(path, NULL, &m));
    CHECK_OK(incept_model_load_onnx_generic(path, &g));
    if (m)
        CHECK_OK(incept_session_new(m, &ms));
    if (g)
        CHECK_OK(incept_session_new(g, &gs));
    if (!ms || !gs) {
        incept_session_free(ms);
        incept_session_free(gs);
        incept_model_free(m);
        incept_model_free(g);
        return;
    }
    CHECK_MSG(!incept_model_generic_nodes(m) && incept_model_generic_nodes(g),
              "%s: the engine's model and the generic path's", name);
    int c, h, w;
    float *x, *expect;
    size_t n_in, n_out;
    incept_model_input_dims(m, &c, &h, &w);
    read_fixture(name, m, batch, &x, &expect, &n_in, &n_out);
    float *engine = malloc(n_out * sizeof(float));
    incept_tensor in = {.dtype = INCEPT_FLOAT32, .rank = 4, .dims = {batch, c, h, w}, .data = x}, out = {0};
    if (x && expect && engine && incept_session_forward(ms, x, batch, engine) == INCEPT_OK) {
        CHECK_OK(incept_session_run(gs, 1, NULL, &in, 1, NULL, &out));
        CHECK_MSG(out.data && incept_tensor_count(&out) == n_out, "%s: %zu outputs", name,
                  incept_tensor_count(&out));
        if (out.data && incept_tensor_count(&out) == n_out) {
            float to_torch = max_abs_diff(out.data, expect, n_out);
            float to_engine = max_abs_diff(out.data, engine, n_out);
            CHECK_MSG(to_torch < 1e-5f && to_engine < 1e-5f, "%s: %g from PyTorch, %g from the engine", name,
                      (double)to_torch, (double)to_engine);
        }
    } else
        CHECK_MSG(0, "%s: fixture data and engine run", name);
    incept_tensor_free(&out);
    free(x), free(expect), free(engine);
    incept_session_free(ms);
    incept_session_free(gs);
    incept_model_free(m);
    incept_model_free(g);
}

/* PyTorch's export with a Sub of a constant and a view(batch, size(1) * 9) between fast layers:
 * the conv after the Sub and the Gemm after the view are back on the fast path (their inputs
 * probed [N, C, H, W] at load), the size(1) arithmetic folded away (Gather, Mul, Unsqueeze and the
 * Shape feeding them), six nodes generic; the outputs PyTorch's at batch 1 and 2 and the
 * all-generic model's. */
static void test_generic_between(void)
{
    const char *name = "opset13_generic_between";
    incept_model *m = NULL, *g = NULL;
    incept_session *s = NULL, *gs = NULL;
    CHECK_OK(incept_model_load_onnx(FIXTURES "opset13_generic_between.onnx", &m));
    CHECK_OK(incept_model_load_onnx_generic(FIXTURES "opset13_generic_between.onnx", &g));
    if (!m || !g)
        goto done;
    CHECK_MSG(incept_model_generic_nodes(m) == 6 && incept_model_layer_count(m) == 9,
              "6 of 9 nodes generic, got %d of %d", incept_model_generic_nodes(m), incept_model_layer_count(m));
    const char *ops[9] = {"conv", "Sub", "conv", "Shape", "Gather", "Unsqueeze", "Concat", "Reshape", "fc"};
    for (int i = 0; i < 9 && i < incept_model_layer_count(m); i++) {
        const char *op;
        incept_model_layer(m, i, NULL, &op, NULL, NULL);
        CHECK_MSG(strcmp(op, ops[i]) == 0, "layer %d is %s, expected %s", i, op, ops[i]);
    }
    CHECK_OK(incept_session_new(m, &s));
    CHECK_OK(incept_session_new(g, &gs));
    float *x, *expect;
    size_t n_in, n_out;
    read_fixture(name, m, 2, &x, &expect, &n_in, &n_out);
    float y[12];
    for (int batch = 1; batch <= 2 && s && gs && x && expect && n_out == 12; batch++) {
        CHECK_OK(incept_session_forward(s, x, batch, y));
        CHECK_MSG(max_abs_diff(y, expect, (size_t)6 * batch) < 1e-5f, "batch %d: %g from PyTorch", batch,
                  (double)max_abs_diff(y, expect, (size_t)6 * batch));
        incept_tensor in = {.dtype = INCEPT_FLOAT32, .rank = 4, .dims = {batch, 3, 7, 7}, .data = x}, out = {0};
        CHECK_OK(incept_session_run(gs, 1, NULL, &in, 1, NULL, &out));
        CHECK(out.data && incept_tensor_count(&out) == (size_t)6 * batch &&
              max_abs_diff(out.data, y, (size_t)6 * batch) < 1e-5f);
        incept_tensor_free(&out);
    }
    /* the summary, the drawing and an export work with generic nodes too */
    FILE *report = tmpfile();
    CHECK(report && incept_model_summary(m, report, NULL) == INCEPT_OK && incept_model_dot(m, report) == INCEPT_OK);
    if (report) {
        char text[8192] = {0};
        rewind(report);
        size_t got = fread(text, 1, sizeof text - 1, report);
        CHECK_MSG(got > 0 && strstr(text, "Sub (N-d)") && strstr(text, "convolution"), "%s", text);
        fclose(report);
    }
    incept_model *back = NULL;
    CHECK_OK(incept_model_save_onnx(m, "/tmp/incept_generic_between.onnx"));
    CHECK_OK(incept_model_load_onnx("/tmp/incept_generic_between.onnx", &back));
    incept_session *bs = NULL;
    if (back)
        CHECK_OK(incept_session_new(back, &bs));
    if (bs && x && expect && n_out == 12) {
        CHECK_OK(incept_session_forward(bs, x, 2, y));
        CHECK(max_abs_diff(y, expect, 12) < 1e-5f);
    }
    incept_session_free(bs);
    incept_model_free(back);
    remove("/tmp/incept_generic_between.onnx");
    /* a value folded at load is that constant; one whose readers all folded is computed by
     * nothing, and asking for it says so */
    incept_tensor in = {.dtype = INCEPT_FLOAT32, .rank = 4, .dims = {1, 3, 7, 7}, .data = x}, out = {0};
    const char *folded = "/Mul_output_0", *pruned = "/Shape_1_output_0";
    CHECK(s && x && incept_session_run(s, 1, NULL, &in, 1, &folded, &out) == INCEPT_OK &&
          out.dtype == INCEPT_INT64 && incept_tensor_count(&out) == 1 && *(long long *)out.data == 45);
    incept_tensor_free(&out);
    incept_status st = s && x ? incept_session_run(s, 1, NULL, &in, 1, &pruned, &out) : INCEPT_OK;
    CHECK_MSG(st == INCEPT_ERR_ARG && strstr(incept_last_error(), "computed by nothing"), "asking for %s: %s",
              pruned, incept_last_error());
    free(x), free(expect);
done:
    incept_session_free(s);
    incept_session_free(gs);
    incept_model_free(m);
    incept_model_free(g);
}

static void test_bad_files(void)
{
    incept_model *g = (incept_model *)&g; /* must be reset to NULL on failure */
    CHECK(incept_model_load_onnx_generic(FIXTURES "unsupported_op.onnx", &g) == INCEPT_ERR_UNSUPPORTED);
    CHECK(g == NULL);
    CHECK_MSG(strstr(incept_last_error(), "my_tanh") && strstr(incept_last_error(), "Tanh"),
              "message names node and op: %s", incept_last_error());
    /* through the public loader too: neither the engine nor the generic path takes it */
    g = (incept_model *)&g;
    CHECK(incept_model_load_onnx(FIXTURES "unsupported_op.onnx", &g) == INCEPT_ERR_UNSUPPORTED);
    CHECK(g == NULL);
    CHECK_MSG(strstr(incept_last_error(), "my_tanh") && strstr(incept_last_error(), "Tanh"),
              "message names node and op: %s", incept_last_error());
    CHECK(incept_model_load_onnx_generic(FIXTURES "no_such_file.onnx", &g) == INCEPT_ERR_IO);
    incept_tensor a;
    CHECK(incept_tensor_load(FIXTURES "no_such_file.pb", &a) == INCEPT_ERR_IO);
    CHECK(incept_tensor_load(FIXTURES "opset13_several_inputs.onnx", &a) != INCEPT_OK);

    /* every truncation of the model: rejected or loaded, then run or rejected, never a crash */
    FILE *f = fopen(FIXTURES "opset13_several_inputs.onnx", "rb");
    char *bytes = malloc(1 << 16);
    size_t size = f && bytes ? fread(bytes, 1, 1 << 16, f) : 0;
    if (f)
        fclose(f);
    CHECK(size > 100);
    incept_tensor in[3] = {{0}}, out[3];
    int have_inputs = load_arrays("opset13_several_inputs", "input", 3, in), rejected = 0, tried = 0;
    const char *tmp = "/tmp/incept_test_onnx_graph.onnx";
    for (size_t len = 0; have_inputs && len < size; len += 7, tried++) {
        FILE *t = fopen(tmp, "wb");
        if (t) {
            fwrite(bytes, 1, len, t);
            fclose(t);
        }
        if (incept_model_load_onnx_generic(tmp, &g) != INCEPT_OK) {
            rejected++;
            continue;
        }
        incept_session *s = NULL;
        memset(out, 0, sizeof out);
        int n_in = incept_model_inputs(g), n_out = incept_model_outputs(g);
        if (n_in <= 3 && n_out <= 3 && incept_session_new(g, &s) == INCEPT_OK &&
            incept_session_run(s, n_in, NULL, in, n_out, NULL, out) == INCEPT_OK)
            for (int k = 0; k < n_out; k++)
                incept_tensor_free(&out[k]);
        else
            rejected++;
        incept_session_free(s);
        incept_model_free(g);
    }
    CHECK_MSG(rejected == tried, "%d of %d truncated models were rejected", rejected, tried);
    remove(tmp);
    free(bytes);
    for (int k = 0; k < 3; k++)
        incept_tensor_free(&in[k]);
}

/* The N-th allocation fails, for every N until a whole load (the engine's attempt, then the
 * generic path's), session and run succeed. */
static void test_allocation_failures(void)
{
    incept_tensor in[3] = {{0}}, out[3];
    if (!load_arrays("opset13_several_inputs", "input", 3, in))
        return;
    int tried = 0, clean = 0;
    for (long n = 1; n < 5000; n++) {
        incept_model *g = NULL;
        incept_session *s = NULL;
        memset(out, 0, sizeof out);
        incept_fail_allocation_after(n);
        incept_status st = incept_model_load_onnx(FIXTURES "opset13_several_inputs.onnx", &g);
        if (!st)
            st = incept_session_new(g, &s);
        if (!st)
            st = incept_session_run(s, 3, NULL, in, 3, NULL, out);
        incept_fail_allocation_after(0);
        incept_session_free(s);
        incept_model_free(g);
        if (st == INCEPT_OK) {
            for (int k = 0; k < 3; k++)
                incept_tensor_free(&out[k]);
            break;
        }
        tried++;
        clean += st == INCEPT_ERR_NOMEM && strstr(incept_last_error(), "memory") != NULL;
    }
    CHECK_MSG(tried > 10 && clean == tried, "%d of %d failed allocations reported as out of memory", clean,
              tried);
    for (int k = 0; k < 3; k++)
        incept_tensor_free(&in[k]);
}

int main(void)
{
    test_generic_between();
    test_several_inputs();
    engine_fixture("opset7_pad_gemm", 2);
    engine_fixture("opset13_same_upper", 3);
    engine_fixture("opset13_torchvision_layout", 2);
    engine_fixture("opset3_model_zoo_layout", 1);
    engine_fixture("opset13_fold_reshape", 2);
    test_bad_files();
    test_allocation_failures();
    return test_summary("test_onnx_graph");
}
