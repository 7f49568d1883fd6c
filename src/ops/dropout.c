/* dropout.c — dropout with probability `ratio`; the identity at inference (PyTorch scales
 * the kept activations by 1/(1-ratio) during training, so nothing changes at inference). The
 * training mask is a hash of (step seed, element): backward recomputes it, nothing is stored. */
#include <stdio.h>

#include "core/status.h"
#include "io/onnx_writer.h"
#include "io/description.h"
#include "io/onnx_import.h"
#include "nd/nd.h"
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
    /* opset 12 made the ratio an input; an inference graph never drops, so a newer file leaves
     * it out */
    struct Onnx__AttributeProto *attrs[] = {
        e->opset < 12 ? incept_onnx_put_float(e->w, "ratio", e->n->attrs.ratio) : NULL, NULL};
    e->rank[e->n->output] = e->rank[e->n->inputs[0]];
    return incept_onnx_put_node(e->w, "Dropout", e->n->name, ins, e->out, attrs) ? INCEPT_OK : INCEPT_ERR_NOMEM;
}

/* dropout NAME RATIO */
static incept_status dropout_from_description(incept_desc_line *l, incept_attrs *a)
{
    return incept_desc_positional_float(l, 0, "a dropout ratio such as 0.4", &a->ratio);
}

/* ---- the N-d reference (the generic path: any rank and dtype; nd/nd.h) ---- */

/* Dropout: opset 12+ takes ratio and training_mode as inputs, earlier opsets ratio (and is_test
 * before 7) as attributes and run it as the identity. */
static incept_status dropout_mode(const incept_nd_context *ctx, const incept_tensor *const *in, int n_in,
                                  float *ratio, int *training)
{
    *ratio = incept_onnx_attr_float(ctx->node, "ratio", 0.5f);
    *training = 0;
    if (ctx->opset >= 12) {
        if (n_in > 1 && in[1]) {
            if (in[1]->dtype != INCEPT_FLOAT32 || incept_tensor_count(in[1]) != 1)
                return incept_nd_fail(ctx, INCEPT_ERR_FORMAT, "ratio must be one float");
            *ratio = *(const float *)in[1]->data;
        }
        if (n_in > 2 && in[2]) {
            if (in[2]->dtype != INCEPT_BOOL || incept_tensor_count(in[2]) != 1)
                return incept_nd_fail(ctx, INCEPT_ERR_FORMAT, "training_mode must be one bool");
            *training = *(const unsigned char *)in[2]->data != 0;
        }
    }
    if (*training && (*ratio < 0.0f || *ratio >= 1.0f))
        return incept_nd_fail(ctx, INCEPT_ERR_ARG, "ratio %g outside [0, 1)", *ratio);
    return INCEPT_OK;
}

/* The mask is bool from opset 10, before that the data's type. */
INCEPT_ND_OP(dropout)
{
    incept_status st = incept_nd_expect(ctx, in, n_in, 0, INCEPT_FLOAT32, 0, 0);
    float ratio;
    int training;
    if (st || (st = dropout_mode(ctx, in, n_in, &ratio, &training)))
        return st;
    if ((st = incept_nd_array_copy(ctx, &out[0], in[0])))
        return st;
    unsigned char *mask = NULL;
    float *float_mask = NULL;
    if (n_out > 1) {
        incept_dtype mask_type = ctx->opset >= 10 ? INCEPT_BOOL : INCEPT_FLOAT32;
        if ((st = incept_nd_array_alloc(ctx, &out[1], mask_type, in[0]->rank, in[0]->dims)))
            return st;
        if (mask_type == INCEPT_BOOL)
            mask = out[1].data;
        else
            float_mask = out[1].data;
    }
    float *y = out[0].data, keep_scale = training ? 1.0f / (1.0f - ratio) : 1.0f;
    for (size_t i = 0, n = incept_tensor_count(in[0]); i < n; i++) {
        int keep = !training || incept_rng_uniform(ctx->rng) >= ratio;
        y[i] = keep ? y[i] * keep_scale : 0.0f;
        if (mask)
            mask[i] = (unsigned char)keep;
        if (float_mask)
            float_mask[i] = (float)keep;
    }
    return INCEPT_OK;
}

/* Only where it ran as the identity (inference, or a ratio of 0): in training mode the mask it
 * drew is an output the backward would have to be handed, and its ratio input a gradient. */
INCEPT_ND_GRAD(dropout)
{
    float ratio;
    int training;
    incept_status st = incept_nd_expect(ctx, in, n_in, 0, INCEPT_FLOAT32, 0, 0);
    if (st || (st = dropout_mode(ctx, in, n_in, &ratio, &training)))
        return st;
    if (training && ratio != 0.0f)
        return incept_nd_fail(ctx, INCEPT_ERR_UNSUPPORTED, "no backward for Dropout in training mode "
                              "(only as the identity it is in inference)");
    return incept_nd_grad_pass(ctx, in, n_in, out, n_out < 1 ? n_out : 1, dout, din);
}

/* ONNX Dropout: the identity at inference (its mask output, if read, is not made here). */
static incept_status dropout_from_onnx(importer *im, const Onnx__NodeProto *n)
{
    binding *x;
    incept_status st = incept_onnx_activation(im, n, 0, &x);
    if (st)
        return st;
    if (n->n_output > 1 && n->output[1][0] && incept_onnx_readers_of(im, n->output[1]) > 0)
        return incept_onnx_node_error(im, n, INCEPT_ERR_UNSUPPORTED, "%s", "the mask output");
    return incept_onnx_bind(im, n->output[0], x->value, NULL, x->rank);
}

const incept_op incept_op_dropout = {
    .name = "dropout", .min_inputs = 1, .max_inputs = 1, .in_place = 1,
    .infer = dropout_infer, .forward = dropout_forward, .backward = dropout_backward,
    .label = "dropout",
    .describe = dropout_describe,
    .to_onnx = dropout_to_onnx,
    .onnx_types = {"Dropout"},
    .from_onnx = dropout_from_onnx,
    .from_description = dropout_from_description,
};
