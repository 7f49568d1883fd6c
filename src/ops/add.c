/* add.c — the elementwise sum of inputs of one shape (ONNX Add and Sum of activations, which
 * affine.c imports with the Add of a constant). */
#include "core/status.h"
#include "ops/op.h"

static incept_status add_infer(const incept_graph *g, const incept_node *n, int *c, int *h, int *w)
{
    const incept_value *first = incept_node_input(g, n, 0);
    for (int i = 1; i < n->n_inputs; i++) {
        const incept_value *v = incept_node_input(g, n, i);
        if (v->c != first->c || v->h != first->h || v->w != first->w)
            return incept_fail(INCEPT_ERR_SHAPE, "'%s' is %dx%dx%d but '%s' is %dx%dx%d (no "
                               "broadcasting between activations)", v->name, v->c, v->h, v->w,
                               first->name, first->c, first->h, first->w);
    }
    *c = first->c, *h = first->h, *w = first->w;
    return INCEPT_OK;
}

static void add_forward(const incept_op_args *args)
{
    const incept_view *out = &args->output;
    size_t count = (size_t)out->c * out->h * out->w;
    for (int s = 0; s < out->n; s++) {
        float *y = out->data + s * out->batch_stride;
        for (int i = 0; i < args->n_inputs; i++) {
            const float *x = args->inputs[i].data + s * args->inputs[i].batch_stride;
            for (size_t k = 0; k < count; k++)
                y[k] = i ? y[k] + x[k] : x[k];
        }
    }
}

static void add_backward(const incept_backward_args *args)
{
    for (int i = 0; i < args->n_inputs; i++) {
        incept_view dx = args->input_grads[i];
        if (dx.data)
            incept_view_accumulate(&dx, &args->output_grad);
    }
}

const incept_op incept_op_add = {
    .name = "add", .min_inputs = 1, .max_inputs = 0,
    .infer = add_infer, .forward = add_forward, .backward = add_backward,
};
