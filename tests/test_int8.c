/* test_int8.c — int8 inference (incept_session_set_precision, incept_session_calibrate): what the
 * API refuses (no calibration, training, an unknown precision); a small Inception model of every
 * convolution shape in int8 against its float logits (signal-to-quantization-noise ratio) and
 * with 1 and 2 threads bit for bit; and GoogLeNet on ../shared/reference's input against fp32
 * (the bound: 25 dB), skipped loudly without ../shared. */
#include <sys/wait.h>
#include <unistd.h>

#include "graph/graph.h"
#include "incept.h"
#include "test.h"

static void fill(float *x, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        x[i] = (float)(seed >> 8) / 8388608.0f - 1.0f + 0.5f * sinf(0.01f * (float)i);
    }
}

static void test_refusals(void)
{
    incept_model *m = NULL;
    incept_session *s = NULL;
    CHECK_OK(incept_model_parse_description("input x 3 9 9\nconv c 4 3x3 pad 1 relu\nglobalavgpool g\n"
                                            "flatten f\nfc out 3\n", "refusals", &m));
    if (!m)
        return;
    incept_model_init_weights(m, 1);
    CHECK_OK(incept_session_new(m, &s));
    CHECK(incept_session_set_precision(s, INCEPT_PRECISION_INT8) == INCEPT_ERR_ARG);
    CHECK_MSG(strstr(incept_last_error(), "calibrate") != NULL, "%s", incept_last_error());
    CHECK(incept_session_set_precision(s, (incept_precision)7) == INCEPT_ERR_ARG);
    CHECK(incept_session_calibrate(s, NULL, 1) == INCEPT_ERR_ARG);
    float x[2 * 3 * 9 * 9], y[2 * 3];
    fill(x, sizeof x / sizeof x[0], 3);
    CHECK_OK(incept_session_calibrate(s, x, 2));
    CHECK_OK(incept_session_set_precision(s, INCEPT_PRECISION_INT8));
    CHECK_OK(incept_session_forward(s, x, 2, y));
    int labels[2] = {0, 1};
    float loss;
    CHECK(incept_session_train_step(s, x, labels, 2, &loss) != INCEPT_OK);
    CHECK_MSG(strstr(incept_last_error(), "int8") != NULL, "%s", incept_last_error());
    CHECK_OK(incept_session_set_precision(s, INCEPT_PRECISION_FP32));
    CHECK_OK(incept_session_train_step(s, x, labels, 2, &loss));
    incept_session_free(s);
    incept_model_free(m);
}

/* Every kind of convolution GoogLeNet has (7x7 stride 2, 1x1, 3x3, 5x5, pooling's projection,
 * an fc after), in int8 against float. */
static void test_small_model(void)
{
    enum { BATCH = 8, SAMPLE = 3 * 32 * 32 };
    incept_model *m;
    float *x = malloc(sizeof(float) * BATCH * SAMPLE), ref[BATCH * 10], got[BATCH * 10];
    incept_session *s = precision_case(
        "input x 3 32 32\nconv conv1 16 7x7 stride 2 pad 3 relu\nmaxpool p1 3x3 stride 2 pad 1\n"
        "conv c2 24 3x3 pad 1 relu\ninception m 8 12 16 4 8 8\ninception n 12 8 24 4 8 8\n"
        "globalavgpool g\nflatten f\nfc out 10\n", BATCH, SAMPLE, 1, INCEPT_PRECISION_INT8, 25.0, &m, x, ref, got);
    free(x);
    incept_session_free(s);
    incept_model_free(m);
}

/* The command line: bench and run take --precision int8 (calibrated on --calib or the input),
 * and refuse a precision they do not have, with a usage error. */
static void test_cli(void)
{
    const char *cli = getenv("INCEPT_CLI") ? getenv("INCEPT_CLI") : "build/incept";
    char cmd[2048];
    float x[2 * 3 * 32 * 32];
    fill(x, sizeof x / sizeof x[0], 9);
    const char *model = "input x 3 32 32\nconv c 8 3x3 pad 1 relu\ninception m 4 4 8 2 4 4\n"
                        "globalavgpool g\nflatten f\nfc out 5\n";
    CHECK(put_file("/tmp/incept_int8_x.bin", x, sizeof x));
    CHECK(put_file("/tmp/incept_int8.incept", model, strlen(model)));
    snprintf(cmd, sizeof cmd, "%s run /tmp/incept_int8.incept --input /tmp/incept_int8_x.bin --output "
             "/tmp/incept_int8_y.bin --precision int8 --calib /tmp/incept_int8_x.bin --calib-method minmax 2>/dev/null", cli);
    CHECK_MSG(system(cmd) == 0, "%s", cmd);
    /* the same through the library: the file's weights are He's from seed 0 */
    incept_model *m = NULL;
    incept_session *s = NULL;
    float want[2 * 5], got[2 * 5] = {0};
    CHECK_OK(incept_model_load("/tmp/incept_int8.incept", NULL, &m));
    if (m && incept_session_new(m, &s) == INCEPT_OK) {
        CHECK_OK(incept_session_calibrate(s, x, 2));
        CHECK_OK(incept_session_set_precision(s, INCEPT_PRECISION_INT8));
        CHECK_OK(incept_session_forward(s, x, 2, want));
        CHECK(get_file("/tmp/incept_int8_y.bin", got, sizeof got));
        CHECK_MSG(memcmp(want, got, sizeof got) == 0, "%s", "incept run --precision int8 computes what the library does");
    }
    incept_session_free(s);
    incept_model_free(m);
    snprintf(cmd, sizeof cmd, "%s bench /tmp/incept_int8.incept --seconds 1 --precision int8 2>/dev/null | "
             "grep -q mode=int8", cli);
    CHECK_MSG(system(cmd) == 0, "%s", cmd);
    snprintf(cmd, sizeof cmd, "%s bench /tmp/incept_int8.incept --seconds 1 --precision fp16 >/dev/null 2>&1", cli);
    int status = system(cmd);
    CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 2, "%s: exit %d", cmd, WEXITSTATUS(status));
    /* quantize: a QDQ file that runs in int8 on its own ranges, as the session calibrated on
     * the same samples computes */
    snprintf(cmd, sizeof cmd, "%s quantize /tmp/incept_int8.incept --calib /tmp/incept_int8_x.bin --calib-method minmax --out "
             "/tmp/incept_int8_q.onnx 2>/dev/null && %s run /tmp/incept_int8_q.onnx --input /tmp/incept_int8_x.bin "
             "--output /tmp/incept_int8_qy.bin --precision int8 2>&1 | grep -q 'ranges the model holds'", cli, cli);
    CHECK_MSG(system(cmd) == 0, "%s", cmd);
    float qy[2 * 5] = {0};
    CHECK(get_file("/tmp/incept_int8_qy.bin", qy, sizeof qy));
    CHECK_MSG(sqnr_db(want, qy, 10) > 60.0, "quantize then run: %.1f dB from the calibrated session",
              sqnr_db(want, qy, 10));
    unlink("/tmp/incept_int8_q.onnx"), unlink("/tmp/incept_int8_qy.bin");
    /* eval: int8 accuracy beside fp32's and how often they agree */
    check_eval_precision(cli, "/tmp/incept_int8.incept", "/tmp/incept_int8_x.bin", "/tmp/incept_int8_l.bin", "int8",
                         "test_int8");
    unlink("/tmp/incept_int8_x.bin"), unlink("/tmp/incept_int8_y.bin"), unlink("/tmp/incept_int8.incept");
}

/* The QDQ round trip: a calibrated model written as a quantized ONNX file (checked by the onnx
 * package where python3-onnx is installed), loaded back, runs in int8 without calibrating, as
 * the model it came from does in int8; a QuantizeLinear read by another op is refused. */
static void test_qdq(void)
{
    incept_model *m = NULL, *back = NULL;
    incept_session *s = NULL, *t = NULL;
    enum { BATCH = 6, SAMPLE = 3 * 15 * 15 };
    float *x = malloc(sizeof(float) * BATCH * SAMPLE), a[BATCH * 5], b[BATCH * 5];
    fill(x, (size_t)BATCH * SAMPLE, 21);
    CHECK_OK(incept_model_load("models/tiny.incept", NULL, &m));
    if (!m || incept_session_new(m, &s))
        goto done;
    CHECK(incept_model_save_onnx_int8(m, "/tmp/incept_qdq.onnx") == INCEPT_ERR_ARG); /* no ranges yet */
    CHECK_OK(incept_session_calibrate(s, x, BATCH));
    CHECK_OK(incept_session_set_precision(s, INCEPT_PRECISION_INT8));
    CHECK_OK(incept_session_forward(s, x, BATCH, a));
    CHECK_OK(incept_model_save_onnx_int8(m, "/tmp/incept_qdq.onnx"));
    CHECK_OK(incept_model_load("/tmp/incept_qdq.onnx", NULL, &back));
    if (!back || incept_session_new(back, &t))
        goto done;
    CHECK_OK(incept_session_set_precision(t, INCEPT_PRECISION_INT8)); /* its ranges came with it */
    CHECK_OK(incept_session_forward(t, x, BATCH, b));
    double db = sqnr_db(a, b, BATCH * 5);
    printf("QDQ round trip: the loaded int8 model %.1f dB from the int8 session it was written from\n", db);
    CHECK_MSG(db > 60.0, "%.1f dB", db);
    /* onnx.helper, not onnx alone: libonnx-testdata installs an onnx/backend folder that makes
     * `import onnx` succeed as an empty namespace package without python3-onnx */
    if (system("/usr/bin/python3 -c 'import onnx.helper, onnx.checker, numpy' > /dev/null 2>&1") != 0) {
        printf("SKIP test_int8 (onnx checker, refusal cases): python3-onnx is not installed\n");
        goto done;
    }
    CHECK_MSG(system("/usr/bin/python3 -c \"import onnx; onnx.checker.check_model(onnx.load('/tmp/incept_qdq.onnx'), "
                     "full_check=True)\"") == 0, "%s", "the QDQ file passes onnx.checker (full_check)");
    /* QuantizeLinear -> Relu: not a QDQ pair */
    CHECK(system("/usr/bin/python3 -c \"import onnx, onnx.helper as h, numpy as np; T=onnx.TensorProto; "
                 "g=h.make_graph([h.make_node('QuantizeLinear',['x','s','z'],['q']),h.make_node('Relu',['q'],['y'])],'g',"
                 "[h.make_tensor_value_info('x',T.FLOAT,[1,2,3,3])],[h.make_tensor_value_info('y',T.UINT8,[1,2,3,3])],"
                 "[h.make_tensor('s',T.FLOAT,[],[0.1]),h.make_tensor('z',T.UINT8,[],[128])]); "
                 "onnx.save(h.make_model(g,opset_imports=[h.make_opsetid('',13)]),'/tmp/incept_q_relu.onnx')\"") == 0);
    incept_model *bad = NULL;
    CHECK(incept_model_load("/tmp/incept_q_relu.onnx", NULL, &bad) == INCEPT_ERR_UNSUPPORTED);
    CHECK_MSG(strstr(incept_last_error(), "QDQ") != NULL, "%s", incept_last_error());
    incept_model_free(bad);
    unlink("/tmp/incept_q_relu.onnx");
    /* a DequantizeLinear whose int8 weights claim 2^62 values and hold 4: refused, nothing allocated */
    CHECK(system("/usr/bin/python3 -c \"import onnx, onnx.helper as h; T=onnx.TensorProto; "
                 "w=h.make_tensor('w',T.INT8,[1],[1]); w.dims[:]=[2**31,2**31,1,1]; w.raw_data=bytes(4); del w.int32_data[:]; "
                 "g=h.make_graph([h.make_node('DequantizeLinear',['w','s'],['wf']),h.make_node('Conv',['x','wf'],['y'])],'g',"
                 "[h.make_tensor_value_info('x',T.FLOAT,[1,1,3,3])],[h.make_tensor_value_info('y',T.FLOAT,[1,1,3,3])],"
                 "[w,h.make_tensor('s',T.FLOAT,[],[0.1])]); "
                 "onnx.save(h.make_model(g,opset_imports=[h.make_opsetid('',13)]),'/tmp/incept_dq_huge.onnx')\"") == 0);
    CHECK(incept_model_load("/tmp/incept_dq_huge.onnx", NULL, &bad) == INCEPT_ERR_FORMAT);
    CHECK_MSG(strstr(incept_last_error(), "wrong amount of data") != NULL, "%s", incept_last_error());
    incept_model_free(bad);
    unlink("/tmp/incept_dq_huge.onnx");
done:
    free(x);
    incept_session_free(t);
    incept_model_free(back);
    incept_session_free(s);
    incept_model_free(m);
    unlink("/tmp/incept_qdq.onnx");
}

/* The three ways of drawing a range: each gives a working int8 model, and the histogram methods
 * clip non-negative values at or below their maximum (negative ones keep min/max). */
static void test_calibration_methods(void)
{
    static const incept_calibration methods[3] = {INCEPT_CALIBRATE_MINMAX, INCEPT_CALIBRATE_PERCENTILE,
                                                  INCEPT_CALIBRATE_ENTROPY};
    static const char *const names[3] = {"minmax", "percentile", "entropy"};
    enum { BATCH = 8, SAMPLE = 3 * 15 * 15 };
    float *x = malloc(sizeof(float) * BATCH * SAMPLE), ref[BATCH * 5], got[BATCH * 5];
    fill(x, (size_t)BATCH * SAMPLE, 31);
    float top[3] = {0, 0, 0}, bottom[3] = {0, 0, 0};
    for (int i = 0; i < 3; i++) {
        incept_model *m = NULL;
        incept_session *s = NULL;
        CHECK_OK(incept_model_load("models/tiny.incept", NULL, &m));
        if (!m || incept_session_new(m, &s)) {
            incept_model_free(m);
            break;
        }
        CHECK_OK(incept_session_forward(s, x, BATCH, ref));
        CHECK(incept_session_calibrate_with(s, x, BATCH, (incept_calibration)9) == INCEPT_ERR_ARG);
        CHECK_OK(incept_session_calibrate_with(s, x, BATCH, methods[i]));
        CHECK_OK(incept_session_set_precision(s, INCEPT_PRECISION_INT8));
        CHECK_OK(incept_session_forward(s, x, BATCH, got));
        const incept_graph *g = &m->graph;
        for (int v = 0; v < g->n_values; v++) { /* the widest non-negative range, the input's low end */
            if (g->values[v].has_range && g->values[v].range_lo >= 0.0f && g->values[v].range_hi > top[i])
                top[i] = g->values[v].range_hi;
            if (v == g->input)
                bottom[i] = g->values[v].range_lo;
        }
        double db = sqnr_db(ref, got, BATCH * 5);
        printf("tiny model, int8 calibrated by %s: %.1f dB against fp32\n", names[i], db);
        CHECK_MSG(db > 25.0, "%s: %.1f dB", names[i], db);
        incept_session_free(s);
        incept_model_free(m);
    }
    CHECK_MSG(top[1] <= top[0] && top[2] <= top[0] && top[1] > 0.0f && top[2] > 0.0f,
              "clipped tops %g and %g within min/max's %g", (double)top[1], (double)top[2], (double)top[0]);
    CHECK_MSG(bottom[0] < 0.0f && bottom[1] == bottom[0] && bottom[2] == bottom[0],
              "the signed input keeps min/max (%g, %g, %g)", (double)bottom[0], (double)bottom[1], (double)bottom[2]);
    free(x);
}

int main(void)
{
    test_calibration_methods();
    test_qdq();
    test_cli();
    test_refusals();
    test_small_model();
    const char *ref = reference_dir("test_int8 (GoogLeNet)");
    if (ref)
        googlenet_precision_case(ref, INCEPT_PRECISION_INT8, 25.0);
    return test_summary("test_int8");
}
