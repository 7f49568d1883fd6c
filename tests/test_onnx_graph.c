/* test_onnx_graph.c — the ONNX graph evaluator (incept_onnx_graph_*): a graph of three inputs and
 * three outputs (MaxPool indices, a bool Dropout mask, reshapes across the batch axis) against
 * PyTorch's values; the engine's ONNX fixtures through the evaluator, against PyTorch and against
 * the engine; bad files, bad inputs, and a failed allocation at every step (none may crash or
 * leak: the suite runs under ASan in CI). The ONNX node tests (ctest onnx_conformance) check
 * each op on its own. */
#include "core/status.h"
#include "incept.h"
#include "test.h"

#define FIXTURES "tests/fixtures/"

static int load_arrays(const char *name, const char *kind, int n, incept_array *arrays)
{
    int ok = 1;
    for (int k = 0; k < n; k++) {
        char path[256];
        snprintf(path, sizeof path, FIXTURES "%s.%s_%d.pb", name, kind, k);
        incept_status st = incept_array_load(path, &arrays[k]);
        CHECK_MSG(st == INCEPT_OK, "%s", incept_last_error());
        ok &= st == INCEPT_OK;
    }
    return ok;
}

static double array_diff(const incept_array *a, const incept_array *b)
{
    if (a->dtype != b->dtype || a->rank != b->rank)
        return INFINITY;
    for (int d = 0; d < a->rank; d++)
        if (a->dims[d] != b->dims[d])
            return INFINITY;
    double worst = 0.0;
    for (size_t i = 0, n = incept_array_count(a); i < n; i++) {
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
    incept_onnx_graph *g = NULL;
    CHECK_OK(incept_onnx_graph_load(FIXTURES "opset13_several_inputs.onnx", &g));
    if (!g)
        return;
    CHECK(incept_onnx_graph_inputs(g) == 3 && incept_onnx_graph_outputs(g) == 3);
    CHECK(!strcmp(incept_onnx_graph_input_name(g, 1), "y"));
    CHECK(!strcmp(incept_onnx_graph_output_name(g, 2), "mask"));
    CHECK(incept_onnx_graph_input_name(g, 3) == NULL);
    incept_array in[3] = {{0}}, want[3] = {{0}}, got[3] = {{0}};
    if (load_arrays(name, "input", 3, in) && load_arrays(name, "output", 3, want))
        for (int threads = 1; threads <= 2; threads++) {
            CHECK_OK(incept_onnx_graph_set_threads(g, threads));
            CHECK_OK(incept_onnx_graph_run(g, in, got));
            double rows = array_diff(&got[0], &want[0]), indices = array_diff(&got[1], &want[1]);
            double mask = array_diff(&got[2], &want[2]);
            CHECK_MSG(rows < 1e-5, "softmax rows: %g", rows);
            CHECK_MSG(indices == 0.0, "max-pool indices: %g", indices);
            CHECK_MSG(mask == 0.0, "dropout mask: %g", mask);
            for (int k = 0; k < 3 && threads == 1; k++) { /* saved and read back unchanged */
                incept_array back = {0};
                CHECK_OK(incept_array_save("/tmp/incept_test_array.pb", &got[k]));
                CHECK_OK(incept_array_load("/tmp/incept_test_array.pb", &back));
                CHECK(array_diff(&got[k], &back) == 0.0);
                incept_array_free(&back);
                remove("/tmp/incept_test_array.pb");
            }
            for (int k = 0; k < 3; k++)
                incept_array_free(&got[k]);
        }
    /* inputs that do not fit the declaration: named, and nothing left allocated */
    if (in[0].data) {
        in[0].dims[3] = 5;
        CHECK(incept_onnx_graph_run(g, in, got) == INCEPT_ERR_SHAPE);
        CHECK_MSG(strstr(incept_last_error(), "'x'") != NULL, "names the input: %s", incept_last_error());
        in[0].dims[3] = 6;
        in[2].dtype = INCEPT_INT64;
        CHECK(incept_onnx_graph_run(g, in, got) == INCEPT_ERR_ARG);
        CHECK_MSG(strstr(incept_last_error(), "'z'") != NULL, "names the input: %s", incept_last_error());
        in[2].dtype = INCEPT_FLOAT32;
        CHECK(got[0].data == NULL && got[1].data == NULL);
    }
    for (int k = 0; k < 3; k++)
        incept_array_free(&in[k]), incept_array_free(&want[k]);
    incept_onnx_graph_free(g);
}

/* A fixture of test_onnx through the evaluator: PyTorch's output, and the engine's. */
static void engine_fixture(const char *name, int batch)
{
    char path[256];
    snprintf(path, sizeof path, FIXTURES "%s.onnx", name);
    incept_model *m = NULL;
    incept_onnx_graph *g = NULL;
    CHECK_OK(incept_model_load(path, NULL, &m));
    CHECK_OK(incept_onnx_graph_load(path, &g));
    if (!m || !g) {
        incept_model_free(m);
        incept_onnx_graph_free(g);
        return;
    }
    int c, h, w;
    float *x, *expect;
    size_t n_in, n_out;
    incept_model_input_dims(m, &c, &h, &w);
    read_fixture(name, m, batch, &x, &expect, &n_in, &n_out);
    float *engine = malloc(n_out * sizeof(float));
    incept_array in = {.dtype = INCEPT_FLOAT32, .rank = 4, .dims = {batch, c, h, w}, .data = x}, out = {0};
    if (x && expect && engine && incept_model_forward(m, x, batch, engine) == INCEPT_OK) {
        CHECK_OK(incept_onnx_graph_run(g, &in, &out));
        CHECK_MSG(out.data && incept_array_count(&out) == n_out, "%s: %zu outputs", name,
                  incept_array_count(&out));
        if (out.data && incept_array_count(&out) == n_out) {
            float to_torch = max_abs_diff(out.data, expect, n_out);
            float to_engine = max_abs_diff(out.data, engine, n_out);
            CHECK_MSG(to_torch < 1e-5f && to_engine < 1e-5f, "%s: %g from PyTorch, %g from the engine", name,
                      (double)to_torch, (double)to_engine);
        }
    } else
        CHECK_MSG(0, "%s: fixture data and engine run", name);
    incept_array_free(&out);
    free(x), free(expect), free(engine);
    incept_model_free(m);
    incept_onnx_graph_free(g);
}

static void test_bad_files(void)
{
    incept_onnx_graph *g = (incept_onnx_graph *)&g; /* must be reset to NULL on failure */
    CHECK(incept_onnx_graph_load(FIXTURES "unsupported_op.onnx", &g) == INCEPT_ERR_UNSUPPORTED);
    CHECK(g == NULL);
    CHECK_MSG(strstr(incept_last_error(), "my_tanh") && strstr(incept_last_error(), "Tanh"),
              "message names node and op: %s", incept_last_error());
    CHECK(incept_onnx_graph_load(FIXTURES "no_such_file.onnx", &g) == INCEPT_ERR_IO);
    incept_array a;
    CHECK(incept_array_load(FIXTURES "no_such_file.pb", &a) == INCEPT_ERR_IO);
    CHECK(incept_array_load(FIXTURES "opset13_several_inputs.onnx", &a) != INCEPT_OK);

    /* every truncation of the model: rejected or loaded, then run or rejected, never a crash */
    FILE *f = fopen(FIXTURES "opset13_several_inputs.onnx", "rb");
    char *bytes = malloc(1 << 16);
    size_t size = f && bytes ? fread(bytes, 1, 1 << 16, f) : 0;
    if (f)
        fclose(f);
    CHECK(size > 100);
    incept_array in[3] = {{0}}, out[3];
    int have_inputs = load_arrays("opset13_several_inputs", "input", 3, in), rejected = 0, tried = 0;
    const char *tmp = "/tmp/incept_test_onnx_graph.onnx";
    for (size_t len = 0; have_inputs && len < size; len += 7, tried++) {
        FILE *t = fopen(tmp, "wb");
        if (t) {
            fwrite(bytes, 1, len, t);
            fclose(t);
        }
        if (incept_onnx_graph_load(tmp, &g) != INCEPT_OK) {
            rejected++;
            continue;
        }
        if (incept_onnx_graph_run(g, in, out) == INCEPT_OK)
            for (int k = 0; k < incept_onnx_graph_outputs(g); k++)
                incept_array_free(&out[k]);
        else
            rejected++;
        incept_onnx_graph_free(g);
    }
    CHECK_MSG(rejected == tried, "%d of %d truncated models were rejected", rejected, tried);
    remove(tmp);
    free(bytes);
    for (int k = 0; k < 3; k++)
        incept_array_free(&in[k]);
}

/* The N-th allocation fails, for every N until a whole load and run succeed. */
static void test_allocation_failures(void)
{
    incept_array in[3] = {{0}}, out[3];
    if (!load_arrays("opset13_several_inputs", "input", 3, in))
        return;
    int tried = 0, clean = 0;
    for (long n = 1; n < 5000; n++) {
        incept_onnx_graph *g = NULL;
        incept_fail_allocation_after(n);
        incept_status st = incept_onnx_graph_load(FIXTURES "opset13_several_inputs.onnx", &g);
        if (!st)
            st = incept_onnx_graph_run(g, in, out);
        incept_fail_allocation_after(0);
        incept_onnx_graph_free(g);
        if (st == INCEPT_OK) {
            for (int k = 0; k < 3; k++)
                incept_array_free(&out[k]);
            break;
        }
        tried++;
        clean += st == INCEPT_ERR_NOMEM && strstr(incept_last_error(), "memory") != NULL;
    }
    CHECK_MSG(tried > 10 && clean == tried, "%d of %d failed allocations reported as out of memory", clean,
              tried);
    for (int k = 0; k < 3; k++)
        incept_array_free(&in[k]);
}

int main(void)
{
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
