/* run_graph.c — `incept run MODEL.onnx --input A.pb[,B.pb...] --output Y.pb[,...]`: an ONNX graph
 * through the ONNX graph evaluator, for models the engine does not take (several inputs, other
 * ranks and types), with the arrays as serialized TensorProtos, the form of ONNX test data. */
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

int cmd_run_graph(const options *o)
{
    char *input_list = strdup(o->input), *output_list = strdup(o->output);
    char *inputs[64], *outputs[64];
    incept_array in[64], out[64];
    incept_onnx_graph *g = NULL;
    int n_in = 0, n_out = 0, loaded = 0, rc = 1;
    memset(in, 0, sizeof in);
    memset(out, 0, sizeof out);
    if (!input_list || !output_list) {
        fprintf(stderr, "incept: out of memory\n");
        goto done;
    }
    n_in = split(input_list, inputs, 64);
    n_out = split(output_list, outputs, 64);
    if (incept_onnx_graph_load(o->model, &g)) {
        rc = cli_fail("run");
        goto done;
    }
    if (n_in != incept_onnx_graph_inputs(g) || n_out < 1 || n_out > incept_onnx_graph_outputs(g) ||
        incept_onnx_graph_outputs(g) > 64) {
        fprintf(stderr, "incept: %s takes %d input(s) and gives %d output(s); --input names %d file(s), "
                        "--output %d\n", o->model, incept_onnx_graph_inputs(g), incept_onnx_graph_outputs(g),
                n_in, n_out);
        rc = 2;
        goto done;
    }
    for (; loaded < n_in; loaded++)
        if (incept_array_load(inputs[loaded], &in[loaded])) {
            rc = cli_fail("run");
            goto done;
        }
    if (incept_onnx_graph_set_threads(g, o->threads) || incept_onnx_graph_run(g, in, out)) {
        rc = cli_fail("run");
        goto done;
    }
    rc = 0;
    for (int k = 0; k < n_out && !rc; k++) {
        if (incept_array_save(outputs[k], &out[k]))
            rc = cli_fail("run");
        else {
            fprintf(stderr, "incept: %s -> %s [", incept_onnx_graph_output_name(g, k), outputs[k]);
            for (int d = 0; d < out[k].rank; d++)
                fprintf(stderr, d ? " x %lld" : "%lld", out[k].dims[d]);
            fprintf(stderr, "]\n");
        }
    }
done:
    for (int k = 0; k < 64; k++)
        incept_array_free(&in[k]), incept_array_free(&out[k]);
    incept_onnx_graph_free(g);
    free(input_list);
    free(output_list);
    return rc;
}

/* `run` on raw float32 files for an ONNX model the engine does not take: one float input whose
 * sizes after the first are declared (the batch comes from the file size), output 0 written raw. */
int cmd_run_graph_raw(const options *o)
{
    incept_onnx_graph *g = NULL;
    incept_array in = {.dtype = INCEPT_FLOAT32}, out = {0};
    int rc = 1;
    if (incept_onnx_graph_load(o->model, &g))
        return cli_fail("run");
    in.rank = incept_onnx_graph_input_shape(g, 0, in.dims);
    size_t sample = 1;
    for (int d = 1; d < in.rank; d++)
        sample *= in.dims[d] > 0 ? (size_t)in.dims[d] : 0;
    if (incept_onnx_graph_inputs(g) != 1 || in.rank < 1 || sample == 0) {
        fprintf(stderr, "incept: %s: raw --input needs one input with declared sizes after the first; "
                        "give .pb arrays (--input A.pb[,B.pb...])\n", o->model);
        goto done;
    }
    char shape[32];
    snprintf(shape, sizeof shape, "%zu-value", sample);
    int batch;
    float *data;
    if ((rc = cli_read_samples(o->input, sample, shape, &data, &batch)))
        goto done;
    rc = 1;
    in.data = data;
    in.dims[0] = batch;
    if (incept_onnx_graph_set_threads(g, o->threads) || incept_onnx_graph_run(g, &in, &out)) {
        rc = cli_fail("run");
        goto done;
    }
    if (out.dtype != INCEPT_FLOAT32) {
        fprintf(stderr, "incept: %s: output 0 is not float32; give --output Y.pb\n", o->model);
        goto done;
    }
    if ((rc = cli_write_floats(o->output, out.data, incept_array_count(&out))))
        goto done;
    fprintf(stderr, "incept: %lld sample(s) -> %s [", in.dims[0], o->output);
    for (int d = 0; d < out.rank; d++)
        fprintf(stderr, d ? " x %lld" : "%lld", out.dims[d]);
    fprintf(stderr, "] (ONNX graph evaluator)\n");
    rc = 0;
done:
    free(in.data);
    incept_array_free(&out);
    incept_onnx_graph_free(g);
    return rc;
}
