/* concat.c — concatenation along channels, the join of an Inception module's branches.
 * When the planner has placed a branch's output directly in its slice of the concat output,
 * that input is already in place and is not copied. */
#include <stdlib.h>
#include <limits.h>
#include <stdio.h>

#include <string.h>

#include "core/status.h"
#include "io/onnx_writer.h"
#include "io/onnx_import.h"
#include "nd/nd.h"
#include "ops/op.h"

static incept_status concat_infer(const incept_graph *g, const incept_node *n, int *c, int *h, int *w)
{
    const incept_value *first = incept_node_input(g, n, 0);
    long long channels = 0;
    for (int i = 0; i < n->n_inputs; i++) {
        const incept_value *v = incept_node_input(g, n, i);
        if (v->h != first->h || v->w != first->w)
            return incept_fail(INCEPT_ERR_SHAPE, "input '%s' is %dx%d but '%s' is %dx%d", v->name,
                               v->h, v->w, first->name, first->h, first->w);
        channels += v->c;
        if (channels > INT_MAX) /* the value's own check (graph.c) then bounds c x h x w */
            return incept_fail(INCEPT_ERR_SHAPE, "the inputs' channels add up past %d", INT_MAX);
    }
    *c = (int)channels, *h = first->h, *w = first->w;
    return INCEPT_OK;
}

static void concat_forward(const incept_op_args *args)
{
    const incept_view *out = &args->output;
    size_t plane = (size_t)out->h * out->w, channel_offset = 0;
    for (int i = 0; i < args->n_inputs; i++) {
        const incept_view *in = &args->inputs[i];
        size_t count = (size_t)in->c * plane;
        for (int s = 0; s < out->n; s++) {
            float *dst = out->data + s * out->batch_stride + channel_offset * plane;
            const float *src = in->data + s * in->batch_stride;
            if (dst != src)
                memcpy(dst, src, count * sizeof(float));
        }
        channel_offset += in->c;
    }
}

/* Each input's gradient is its slice of the output's; inputs the planner wrote in place already
 * share that memory, the others get it added. */
static void concat_backward(const incept_backward_args *args)
{
    const incept_view *dy = &args->output_grad;
    size_t plane = (size_t)dy->h * dy->w, channel_offset = 0;
    for (int i = 0; i < args->n_inputs; i++) {
        incept_view dx = args->input_grads[i];
        incept_view slice = *dy;
        slice.data = dy->data + channel_offset * plane;
        slice.c = args->inputs[i].c;
        if (dx.data)
            incept_view_accumulate(&dx, &slice);
        channel_offset += (size_t)args->inputs[i].c;
    }
}

static void concat_describe(const incept_graph *g, const incept_node *n, int drawing, char *buf,
                            size_t size)
{
    if (drawing)
        snprintf(buf, size, "filter concatenation\\n%d", g->values[n->output].c);
    else
        snprintf(buf, size, "concat");
}

/* Concat on the channel axis. */
static incept_status concat_to_onnx(const incept_onnx_export *e)
{
    const incept_node *n = e->n;
    const char **ins = incept_onnx_put_scratch(e->w, sizeof(char *) * (size_t)(n->n_inputs + 1));
    if (!ins)
        return INCEPT_ERR_NOMEM;
    for (int i = 0; i < n->n_inputs; i++)
        ins[i] = e->g->values[n->inputs[i]].name;
    struct Onnx__AttributeProto *attrs[] = {incept_onnx_put_int(e->w, "axis", 1), NULL};
    return incept_onnx_put_node(e->w, "Concat", n->name, ins, e->out, attrs) ? INCEPT_OK : INCEPT_ERR_NOMEM;
}

/* Concat on the channel axis. */
static incept_status concat_from_onnx(importer *im, const Onnx__NodeProto *n)
{
    binding *x;
    incept_status st = incept_onnx_activation(im, n, 0, &x);
    if (st)
        return st;
    incept_attrs a = incept_attrs_default();
    if (incept_onnx_axis(n, x, 1) != 1)
        return incept_onnx_node_error(im, n, INCEPT_ERR_UNSUPPORTED, "%s", "concatenation on an axis other "
                          "than the channels");
    int *inputs = incept_malloc(sizeof(int) * (n->n_input ? n->n_input : 1));
    if (!inputs)
        return INCEPT_ERR_NOMEM;
    for (size_t i = 0; i < n->n_input && !st; i++) {
        binding *b;
        if (!(st = incept_onnx_activation(im, n, i, &b)))
            inputs[i] = b->value;
    }
    if (!st)
        st = incept_onnx_emit(im, n, "concat", inputs, (int)n->n_input, &a, -1, -1, x->rank);
    free(inputs);
    return st;
}

/* ---- the N-d reference (the generic path: any rank and dtype; nd/nd.h) ---- */

INCEPT_ND_OP(concat)
{
    (void)n_out;
    int axis;
    incept_status st = incept_nd_expect(ctx, in, n_in, 0, in[0] ? in[0]->dtype : INCEPT_FLOAT32, 1, 0);
    if (st || (st = incept_nd_axis(ctx, incept_onnx_attr_int(ctx->node, "axis", 1), in[0]->rank, 0, &axis)))
        return st;
    long long dims[INCEPT_MAX_RANK];
    memcpy(dims, in[0]->dims, sizeof dims);
    dims[axis] = 0;
    for (int k = 0; k < n_in; k++) {
        if ((st = incept_nd_expect(ctx, in, n_in, k, in[0]->dtype, in[0]->rank, in[0]->rank)))
            return st;
        for (int d = 0; d < in[0]->rank; d++)
            if (d != axis && in[k]->dims[d] != in[0]->dims[d])
                return incept_nd_fail(ctx, INCEPT_ERR_SHAPE, "input %d has %lld along axis %d where input "
                                   "0 has %lld", k, in[k]->dims[d], d, in[0]->dims[d]);
        dims[axis] += in[k]->dims[axis];
    }
    if ((st = incept_nd_array_alloc(ctx, out, in[0]->dtype, in[0]->rank, dims)))
        return st;
    size_t outer = incept_nd_span(in[0], 0, axis), size = incept_nd_dtype_size(in[0]->dtype);
    size_t row = incept_nd_span(out, axis, out->rank) * size;
    char *dst = out->data;
    size_t offset = 0;
    for (int k = 0; k < n_in; k++) {
        size_t chunk = incept_nd_span(in[k], axis, in[k]->rank) * size;
        for (size_t o = 0; o < outer && chunk; o++)
            memcpy(dst + o * row + offset, (const char *)in[k]->data + o * chunk, chunk);
        offset += chunk;
    }
    return INCEPT_OK;
}

/* Each input's gradient is its slice of dout along the axis. */
INCEPT_ND_GRAD(concat)
{
    int axis;
    incept_status st = incept_nd_grad_expect(ctx, in, n_in, out, n_out, dout, din);
    if (st || n_in < 1 || n_out < 1 || !dout[0])
        return st;
    if ((st = incept_nd_axis(ctx, incept_onnx_attr_int(ctx->node, "axis", 1), out[0].rank, 0, &axis)))
        return st;
    size_t outer = incept_nd_span(&out[0], 0, axis), row = incept_nd_span(&out[0], axis, out[0].rank);
    const float *g = dout[0]->data;
    size_t offset = 0;
    for (int k = 0; k < n_in; k++) {
        if (!in[k] || in[k]->rank != out[0].rank)
            return incept_nd_fail(ctx, INCEPT_ERR_SHAPE, "input %d does not match the output", k);
        size_t chunk = incept_nd_span(in[k], axis, in[k]->rank);
        if (offset + chunk > row)
            return incept_nd_fail(ctx, INCEPT_ERR_SHAPE, "the inputs are larger than the output");
        for (size_t o = 0; din[k] && o < outer; o++) {
            float *dx = (float *)din[k]->data + o * chunk;
            const float *from = g + o * row + offset;
            for (size_t j = 0; j < chunk; j++)
                dx[j] += from[j];
        }
        offset += chunk;
    }
    return INCEPT_OK;
}

const incept_op incept_op_concat = {
    .name = "concat", .min_inputs = 1, .max_inputs = 0, .inputs_are_channel_slices = 1,
    .infer = concat_infer, .forward = concat_forward,
    .backward = concat_backward,
    .label = "concat",
    .drawing_color = "#fbeedd",
    .describe = concat_describe,
    .to_onnx = concat_to_onnx,
    .onnx_types = {"Concat"},
    .from_onnx = concat_from_onnx,
    .from_description = incept_no_description_attrs,
};
