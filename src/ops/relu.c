/* relu.c — rectified linear unit, y = max(x, 0). After a conv or fc it is fused into their
 * output instead (see the ONNX importer and the builders). */
#include <stdio.h>
#include "io/onnx_writer.h"
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

const incept_op incept_op_relu = {
    .name = "relu", .min_inputs = 1, .max_inputs = 1, .in_place = 1,
    .infer = relu_infer, .forward = relu_forward,
    .backward = relu_backward,
    .label = "ReLU",
    .to_onnx = relu_to_onnx,
};
