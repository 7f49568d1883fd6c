/* relu.c — rectified linear unit, y = max(x, 0). After a conv or fc it is fused into their
 * output instead (see the ONNX importer and the builders). */
#include <math.h>
#include <string.h>
#include <stdlib.h>
#include <stdio.h>
#include "io/onnx_writer.h"
#include "core/status.h"
#include "io/onnx_import.h"
#include "nd/nd.h"
#include "ops/op.h"

static incept_status relu_infer(const incept_graph *g, const incept_node *n, int *c, int *h, int *w)
{
    const incept_value *in = incept_node_input(g, n, 0);
    *c = in->c, *h = in->h, *w = in->w;
    return INCEPT_OK;
}

static void relu_forward(const incept_op_args *args)
{
    const incept_view *in = &args->inputs[0], *out = &args->output;
    size_t count = (size_t)in->c * in->h * in->w;
    for (int s = 0; s < in->n; s++) {
        const float *x = in->data + s * in->batch_stride;
        float *y = out->data + s * out->batch_stride;
        for (size_t i = 0; i < count; i++)
            y[i] = x[i] > 0.0f ? x[i] : 0.0f;
    }
}

/* dx += dy where y > 0. */
static void relu_backward(const incept_backward_args *args)
{
    if (!args->input_grads[0].data)
        return;
    incept_view dy = args->output_grad;
    incept_relu_mask_grad(&args->output, &dy);
    incept_view dx = args->input_grads[0];
    incept_view_accumulate(&dx, &dy);
}

static incept_status relu_to_onnx(const incept_onnx_export *e)
{
    const char *ins[] = {e->in, NULL};
    e->rank[e->n->output] = e->rank[e->n->inputs[0]];
    return incept_onnx_put_node(e->w, "Relu", e->n->name, ins, e->out, NULL) ? INCEPT_OK : INCEPT_ERR_NOMEM;
}

/* Relu (passes/fuse_activations.c moves it into the conv or fc before it where it can). */
static incept_status relu_from_onnx(importer *im, const Onnx__NodeProto *n)
{
    binding *x;
    incept_status st = incept_onnx_activation(im, n, 0, &x);
    if (st)
        return st;
    incept_attrs a = incept_attrs_default();
    return incept_onnx_emit(im, n, "relu", &x->value, 1, &a, -1, -1, x->rank);
}

/* ---- the N-d reference (the generic path: any rank and dtype; nd/nd.h) ---- */

INCEPT_ND_OP(relu)
{
    (void)n_out;
    incept_status st = incept_nd_expect(ctx, in, n_in, 0, INCEPT_FLOAT32, 0, 0);
    if (st || (st = incept_nd_array_alloc(ctx, out, INCEPT_FLOAT32, in[0]->rank, in[0]->dims)))
        return st;
    const float *x = in[0]->data;
    float *y = out->data;
    for (size_t i = 0, n = incept_tensor_count(in[0]); i < n; i++)
        y[i] = x[i] > 0.0f ? x[i] : 0.0f;
    return INCEPT_OK;
}

/* The gradient passes where x > 0 (none at 0, as PyTorch's). */
INCEPT_ND_GRAD(relu)
{
    incept_status st = incept_nd_grad_expect(ctx, in, n_in, out, n_out, dout, din);
    if (st || n_in < 1 || n_out < 1 || !din[0] || !dout[0])
        return st;
    const float *x = in[0]->data, *g = dout[0]->data;
    float *dx = din[0]->data;
    for (size_t i = 0, n = incept_tensor_count(in[0]); i < n; i++)
        if (x[i] > 0.0f)
            dx[i] += g[i];
    return INCEPT_OK;
}

const incept_op incept_op_relu = {
    .name = "relu", .min_inputs = 1, .max_inputs = 1, .in_place = 1,
    .infer = relu_infer, .forward = relu_forward,
    .backward = relu_backward,
    .label = "ReLU",
    .to_onnx = relu_to_onnx,
    .onnx_types = {"Relu"},
    .from_onnx = relu_from_onnx,
    .from_description = incept_no_description_attrs,
};
