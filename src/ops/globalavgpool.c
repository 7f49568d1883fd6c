/* globalavgpool.c — mean over each channel's whole plane: [N,C,H,W] -> [N,C,1,1]. */
#include <string.h>
#include <stdlib.h>
#include <stdio.h>
#include "io/onnx_writer.h"
#include "core/status.h"
#include "io/onnx_import.h"
#include "ops/op.h"

static incept_status gap_infer(const incept_graph *g, const incept_node *n, int *c, int *h, int *w)
{
    *c = incept_node_input(g, n, 0)->c;
    *h = *w = 1;
    return INCEPT_OK;
}

static void gap_forward(const incept_op_args *args)
{
    const incept_view *in = &args->inputs[0], *out = &args->output;
    size_t plane = (size_t)in->h * in->w;
    for (int s = 0; s < in->n; s++)
        for (int ch = 0; ch < in->c; ch++) {
            const float *x = in->data + s * in->batch_stride + ch * plane;
            float sum = 0.0f;
            for (size_t i = 0; i < plane; i++)
                sum += x[i];
            out->data[s * out->batch_stride + ch] = sum / (float)plane;
        }
}

static void gap_backward(const incept_backward_args *args)
{
    const incept_view *dy = &args->output_grad, *dx = &args->input_grads[0];
    size_t plane = (size_t)dx->h * dx->w;
    for (int s = 0; s < dx->n && dx->data; s++)
        for (int ch = 0; ch < dx->c; ch++) {
            float g = dy->data[s * dy->batch_stride + ch] / (float)plane;
            float *d = dx->data + s * dx->batch_stride + ch * plane;
            for (size_t i = 0; i < plane; i++)
                d[i] += g;
        }
}

static incept_status gap_to_onnx(const incept_onnx_export *e)
{
    const char *ins[] = {e->in, NULL};
    e->rank[e->n->output] = e->rank[e->n->inputs[0]];
    return incept_onnx_put_node(e->w, "GlobalAveragePool", e->n->name, ins, e->out, NULL) ? INCEPT_OK
                                                                                           : INCEPT_ERR_NOMEM;
}

static incept_status gap_from_onnx(importer *im, const Onnx__NodeProto *n)
{
    binding *x;
    incept_status st = incept_onnx_activation(im, n, 0, &x);
    if (st)
        return st;
    incept_attrs a = incept_attrs_default();
    return incept_onnx_emit(im, n, "globalavgpool", &x->value, 1, &a, -1, -1, 4);
}

const incept_op incept_op_globalavgpool = {
    .name = "globalavgpool", .min_inputs = 1, .max_inputs = 1,
    .infer = gap_infer, .forward = gap_forward,
    .backward = gap_backward,
    .label = "avg pool",
    .drawing_color = "#e3f4e1",
    .to_onnx = gap_to_onnx,
    .onnx_types = {"GlobalAveragePool"},
    .from_onnx = gap_from_onnx,
    .from_description = incept_no_description_attrs,
};
