/* run_graph.c — `incept run MODEL`: raw float32 files (the batch from the file size), or
 * serialized TensorProtos (--input A.pb[,B.pb...], the form of ONNX test data: several inputs,
 * any rank and type), through incept_session_run. Where some nodes of an ONNX model run on the
 * generic N-d path (the library chooses), a line on stderr says how many and why. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* Splits a comma-separated list in place; returns how many (at most max). */
static int split(char *list, char **items, int max)
{
    int n = 0;
    for (char *item = strtok(list, ","); item && n < max; item = strtok(NULL, ","))
        items[n++] = item;
    return n;
}

static void print_dims(const long long *dims, int rank)
{
    fprintf(stderr, "[");
    for (int d = 0; d < rank; d++)
        fprintf(stderr, d ? " x %lld" : "%lld", dims[d]);
    fprintf(stderr, "]\n");
}

/* .pb tensors in, one per model input in order, and the first outputs out. */
static int run_tensors(const options *o, incept_model *m, incept_session *s)
{
    char *input_list = strdup(o->input), *output_list = strdup(o->output);
    char *inputs[64], *outputs[64];
    incept_tensor in[64], out[64];
    int n_in = 0, n_out = 0, rc = 1;
    memset(in, 0, sizeof in);
    memset(out, 0, sizeof out);
    if (!input_list || !output_list) {
        fprintf(stderr, "incept: out of memory\n");
        goto done;
    }
    n_in = split(input_list, inputs, 64);
    n_out = split(output_list, outputs, 64);
    if (n_in != incept_model_inputs(m) || n_out < 1 || n_out > incept_model_outputs(m)) {
        fprintf(stderr, "incept: %s takes %d input(s) and gives %d output(s); --input names %d "
                        "file(s), --output %d\n", o->model, incept_model_inputs(m),
                incept_model_outputs(m), n_in, n_out);
        rc = 2;
        goto done;
    }
    for (int k = 0; k < n_in; k++)
        if (incept_tensor_load(inputs[k], &in[k])) {
            rc = cli_fail("run");
            goto done;
        }
    if (incept_session_run(s, n_in, NULL, in, n_out, NULL, out)) { /* which files it was given */
        fprintf(stderr, "incept: run on %s: %s\n", o->input, incept_last_error());
        goto done;
    }
    rc = 0;
    for (int k = 0; k < n_out && !rc; k++) {
        if (incept_tensor_save(outputs[k], &out[k])) {
            rc = cli_fail("run");
        } else {
            fprintf(stderr, "incept: %s -> %s ", incept_model_output_name(m, k), outputs[k]);
            print_dims(out[k].dims, out[k].rank);
        }
    }
done:
    for (int k = 0; k < 64; k++)
        incept_tensor_free(&in[k]), incept_tensor_free(&out[k]);
    free(input_list);
    free(output_list);
    return rc;
}

/* Raw float32 in and out: one float input whose sizes after the batch are declared, the batch
 * from the file size, output 0 written raw (its shape as the run gives it). */
static int run_raw(const options *o, incept_model *m, incept_session *s)
{
    incept_tensor in = {.dtype = INCEPT_FLOAT32}, out = {0};
    size_t sample;
    in.rank = cli_sample_size(m, 0, &sample, in.dims);
    if (!in.rank) {
        fprintf(stderr, "incept: %s: raw --input needs one input (float32) with declared sizes "
                        "after the first; give .pb arrays (--input A.pb[,B.pb...])\n", o->model);
        return 1;
    }
    char shape[64];
    int c, h, w, batch, rc;
    incept_model_input_dims(m, &c, &h, &w);
    if ((size_t)c * h * w == sample && sample)
        snprintf(shape, sizeof shape, "%dx%dx%d", c, h, w);
    else
        snprintf(shape, sizeof shape, "%zu-value", sample);
    float *data;
    if ((rc = cli_read_samples(o->input, sample, shape, &data, &batch)))
        return rc;
    in.data = data;
    in.dims[0] = batch;
    if ((rc = cli_set_precision(o, m, s, data, batch, "input sample(s) themselves (--calib gives representative ones)"))) {
        free(data);
        return rc;
    }
    rc = 1;
    if (incept_session_run(s, 1, NULL, &in, 1, NULL, &out))
        rc = cli_fail("forward");
    else if (out.dtype != INCEPT_FLOAT32)
        fprintf(stderr, "incept: %s: output 0 is not float32; give --output Y.pb\n", o->model);
    else if (!(rc = cli_write_floats(o->output, out.data, incept_tensor_count(&out)))) {
        fprintf(stderr, "incept: %d sample(s) -> %s ", batch, o->output);
        print_dims(out.dims, out.rank);
    }
    free(data);
    incept_tensor_free(&out);
    return rc;
}

int cmd_run(const options *o)
{
    if (!o->input || !o->output) {
        fprintf(stderr, "incept: run needs --input IN.bin and --output OUT.bin\n");
        return 2;
    }
    incept_model *m;
    incept_session *s;
    int rc = cli_load(o, &m);
    if (rc)
        return rc;
    if ((rc = cli_session(m, o->threads, &s))) {
        incept_model_free(m);
        return rc;
    }
    if (incept_model_generic_nodes(m))
        fprintf(stderr, "incept: %d of %d nodes run on the generic N-d path (the first because %s)\n",
                incept_model_generic_nodes(m), incept_model_layer_count(m),
                incept_model_generic_reason(m) ? incept_model_generic_reason(m) : "?");
    size_t len = strlen(o->input);
    if (incept_session_set_exact(s, o->exact))
        rc = cli_fail("run");
    else if (len > 3 && strcmp(o->input + len - 3, ".pb") == 0 && o->precision && strcmp(o->precision, "fp32"))
        fprintf(stderr, "incept: --precision %s runs raw float32 input (IN.bin), not .pb arrays\n", o->precision),
            rc = 2;
    else if (len > 3 && strcmp(o->input + len - 3, ".pb") == 0)
        rc = run_tensors(o, m, s);
    else
        rc = run_raw(o, m, s);
    incept_session_free(s);
    incept_model_free(m);
    return rc;
}
