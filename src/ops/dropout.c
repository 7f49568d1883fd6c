/* dropout.c — dropout with probability `ratio`; the identity at inference (PyTorch scales
 * the kept activations by 1/(1-ratio) during training, so nothing changes at inference). The
 * training mask is a hash of (step seed, element): backward recomputes it, nothing is stored. */
#include <stdio.h>

#include "core/status.h"
#include "io/onnx_writer.h"
#include "io/description.h"
#include "ops/op.h"

void incept_copy_forward(const incept_op_args *args);

/* At inference a copy; in training y = x * mask, the mask kept or dropped per element from the
 * step's seed (and rescaled by 1/(1-ratio), as PyTorch does). */
static void dropout_forward(const incept_op_args *args)
{
    const float ratio = args->node->attrs.ratio;
    if (!args->training || !args->dropout || ratio == 0.0f) {
        incept_copy_forward(args);
        return;
    }
    const incept_view *in = &args->inputs[0], *out = &args->output;
    size_t count = (size_t)in->c * in->h * in->w;
    for (int s = 0; s < in->n; s++) {
        const float *x = in->data + s * in->batch_stride;
        float *y = out->data + s * out->batch_stride;
        for (size_t i = 0; i < count; i++)
            y[i] = x[i] * incept_dropout_scale(args->dropout_seed, s * count + i, ratio);
    }
}

static void dropout_backward(const incept_backward_args *args)
{
    const float ratio = args->node->attrs.ratio;
    const incept_view *dy = &args->output_grad;
    incept_view dx = args->input_grads[0];
    if (!dx.data)
        return;
    if (!args->dropout || ratio == 0.0f) {
        incept_view_accumulate(&dx, dy);
        return;
    }
    size_t count = (size_t)dy->c * dy->h * dy->w;
    for (int s = 0; s < dy->n; s++) {
        float *d = dx.data + s * dx.batch_stride;
        const float *g = dy->data + s * dy->batch_stride;
        for (size_t i = 0; i < count; i++)
            d[i] += g[i] * incept_dropout_scale(args->dropout_seed, s * count + i, ratio);
    }
}

static incept_status dropout_infer(const incept_graph *g, const incept_node *n, int *c, int *h, int *w)
{
    const incept_value *in = incept_node_input(g, n, 0);
    if (!(n->attrs.ratio >= 0.0f && n->attrs.ratio < 1.0f))
        return incept_fail(INCEPT_ERR_ARG, "dropout ratio must be in [0, 1), got %g",
                           (double)n->attrs.ratio);
    *c = in->c, *h = in->h, *w = in->w;
    return INCEPT_OK;
}

/* With its ratio: "dropout (40%)" in the summary, "dropout 40%" in the drawing. */
static void dropout_describe(const incept_graph *g, const incept_node *n, int drawing, char *buf,
                             size_t size)
{
    (void)g;
    snprintf(buf, size, drawing ? "dropout %.0f%%" : "dropout (%.0f%%)", (double)n->attrs.ratio * 100.0);
}

static incept_status dropout_to_onnx(const incept_onnx_export *e)
{
    const char *ins[] = {e->in, NULL};
    struct Onnx__AttributeProto *attrs[] = {incept_onnx_put_float(e->w, "ratio", e->n->attrs.ratio), NULL};
    e->rank[e->n->output] = e->rank[e->n->inputs[0]];
    return incept_onnx_put_node(e->w, "Dropout", e->n->name, ins, e->out, attrs) ? INCEPT_OK : INCEPT_ERR_NOMEM;
}

/* dropout NAME RATIO */
static incept_status dropout_from_description(incept_desc_line *l, incept_attrs *a)
{
    return incept_desc_positional_float(l, 0, "a dropout ratio such as 0.4", &a->ratio);
}

const incept_op incept_op_dropout = {
    .name = "dropout", .min_inputs = 1, .max_inputs = 1, .in_place = 1,
    .infer = dropout_infer, .forward = dropout_forward, .backward = dropout_backward,
    .label = "dropout",
    .describe = dropout_describe,
    .to_onnx = dropout_to_onnx,
    .from_description = dropout_from_description,
};
