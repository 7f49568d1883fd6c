/* flatten.c — [N, C, H, W] -> [N, C*H*W] (stored as [N, C*H*W, 1, 1]); data is unchanged. */
#include <string.h>

#include "ops/op.h"

static incept_status flatten_infer(const incept_graph *g, const incept_node *n, int *c, int *h, int *w)
{
    const incept_value *in = incept_node_input(g, n, 0);
    *c = in->c * in->h * in->w;
    *h = *w = 1;
    return INCEPT_OK;
}

/* Also the inference pass of dropout: a copy, unless the planner made input and output one. */
void incept_copy_forward(const incept_op_args *args)
{
    const incept_tensor *in = &args->inputs[0], *out = &args->output;
    size_t count = (size_t)in->c * in->h * in->w;
    for (int s = 0; s < in->n; s++) {
        float *dst = out->data + s * out->batch_stride;
        const float *src = in->data + s * in->batch_stride;
        if (dst != src)
            memcpy(dst, src, count * sizeof(float));
    }
}

/* The data order is unchanged: dx += dy. */
static void flatten_backward(const incept_backward_args *args)
{
    incept_tensor dx = args->input_grads[0];
    if (dx.data)
        incept_tensor_accumulate(&dx, &args->output_grad);
}

const incept_op incept_op_flatten = {
    .name = "flatten", .min_inputs = 1, .max_inputs = 1, .in_place = 1,
    .infer = flatten_infer, .forward = incept_copy_forward,
    .backward = flatten_backward,
};
