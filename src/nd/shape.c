/* shape.c — the N-d reference ops that move values without arithmetic: Squeeze, Unsqueeze,
 * Gather, Shape and Constant, on any rank and axis, with their opset differences (attributes that
 * became inputs), and the backward of those that carry gradients (Squeeze, Unsqueeze, Gather); and the reshaping and int64-input helpers that ops/flatten.c (Reshape,
 * Flatten) and ops/pad.c (Pad) share with them. */
#include <string.h>

#include "core/checked.h"
#include "nd/nd.h"

/* A copy of in with another shape of the same element count. */
incept_status incept_nd_reshaped(const incept_nd_context *ctx, const incept_tensor *in, int rank,
                              const long long *dims, incept_tensor *out)
{
    size_t count = 1;
    for (int d = 0; d < rank; d++)
        count *= (size_t)dims[d];
    if (count != incept_tensor_count(in))
        return incept_nd_fail(ctx, INCEPT_ERR_SHAPE, "a shape of %zu elements for an input of %zu", count,
                           incept_tensor_count(in));
    incept_status st = incept_nd_array_alloc(ctx, out, in->dtype, rank, dims);
    if (!st)
        incept_copy(out->data, in->data, count * incept_nd_dtype_size(in->dtype));
    return st;
}

/* An int64 input's values (at most max). */
incept_status incept_nd_int_input(const incept_nd_context *ctx, const incept_tensor *const *in, int n_in,
                               int i, long long *values, int max, int *count)
{
    incept_status st = incept_nd_expect(ctx, in, n_in, i, INCEPT_INT64, 0, 1);
    if (st)
        return st;
    size_t n = incept_tensor_count(in[i]);
    if (n > (size_t)max)
        return incept_nd_fail(ctx, INCEPT_ERR_UNSUPPORTED, "input %d has %zu values (at most %d)", i, n, max);
    incept_copy(values, in[i]->data, n * sizeof(long long));
    *count = (int)n;
    return INCEPT_OK;
}



/* Squeeze and Unsqueeze: axes from the attribute (before opset 13) or input 1. */
static incept_status axes_of(const incept_nd_context *ctx, const incept_tensor *const *in, int n_in,
                             long long *axes, int *count)
{
    if (ctx->opset < 13) {
        *count = incept_nd_attr_ints(ctx->node, "axes", axes, INCEPT_MAX_RANK);
        return *count > INCEPT_MAX_RANK ? incept_nd_fail(ctx, INCEPT_ERR_UNSUPPORTED, "too many axes")
                                        : INCEPT_OK;
    }
    *count = 0;
    if (n_in < 2 || !in[1])
        return INCEPT_OK;
    return incept_nd_int_input(ctx, in, n_in, 1, axes, INCEPT_MAX_RANK, count);
}

INCEPT_ND_OP(squeeze)
{
    (void)n_out;
    long long axes[INCEPT_MAX_RANK], dims[INCEPT_MAX_RANK];
    int n_axes, rank = 0, drop[INCEPT_MAX_RANK] = {0};
    incept_status st = incept_nd_expect(ctx, in, n_in, 0, in[0] ? in[0]->dtype : INCEPT_FLOAT32, 0, 0);
    if (st || (st = axes_of(ctx, in, n_in, axes, &n_axes)))
        return st;
    for (int k = 0; k < n_axes; k++) {
        int axis;
        if ((st = incept_nd_axis(ctx, axes[k], in[0]->rank, 0, &axis)))
            return st;
        if (in[0]->dims[axis] != 1)
            return incept_nd_fail(ctx, INCEPT_ERR_SHAPE, "squeezing axis %d of size %lld", axis,
                               in[0]->dims[axis]);
        drop[axis] = 1;
    }
    for (int d = 0; d < in[0]->rank; d++)
        if (!(n_axes ? drop[d] : in[0]->dims[d] == 1))
            dims[rank++] = in[0]->dims[d];
    return incept_nd_reshaped(ctx, in[0], rank, dims, out);
}

INCEPT_ND_OP(unsqueeze)
{
    (void)n_out;
    long long axes[INCEPT_MAX_RANK], dims[INCEPT_MAX_RANK];
    int n_axes, added[INCEPT_MAX_RANK] = {0};
    incept_status st = incept_nd_expect(ctx, in, n_in, 0, in[0] ? in[0]->dtype : INCEPT_FLOAT32, 0, 0);
    if (st || (st = axes_of(ctx, in, n_in, axes, &n_axes)))
        return st;
    int rank = in[0]->rank + n_axes;
    if (rank > INCEPT_MAX_RANK)
        return incept_nd_fail(ctx, INCEPT_ERR_UNSUPPORTED, "a result of rank %d (at most %d)", rank,
                           INCEPT_MAX_RANK);
    for (int k = 0; k < n_axes; k++) {
        int axis;
        if ((st = incept_nd_axis(ctx, axes[k], rank, 0, &axis)))
            return st;
        if (added[axis])
            return incept_nd_fail(ctx, INCEPT_ERR_SHAPE, "axis %d given twice", axis);
        added[axis] = 1;
    }
    for (int d = 0, from = 0; d < rank; d++)
        dims[d] = added[d] ? 1 : in[0]->dims[from++];
    return incept_nd_reshaped(ctx, in[0], rank, dims, out);
}

/* Squeeze and Unsqueeze keep the values in their order (the axes input, int64, has none). */
INCEPT_ND_GRAD(squeeze)
{
    return incept_nd_grad_pass(ctx, in, n_in, out, n_out, dout, din);
}

INCEPT_ND_GRAD(unsqueeze)
{
    return incept_nd_grad_pass(ctx, in, n_in, out, n_out, dout, din);
}

/* A Gather index (negative: from the end) as an entry of `extent`, or an error. */
static incept_status gather_index(const incept_nd_context *ctx, long long index, long long extent,
                                  long long *k)
{
    *k = index < 0 ? index + extent : index;
    if (*k < 0 || *k >= extent)
        return incept_nd_fail(ctx, INCEPT_ERR_ARG, "index %lld out of range for %lld entries", index,
                              extent);
    return INCEPT_OK;
}

INCEPT_ND_OP(gather)
{
    (void)n_out;
    int axis;
    incept_status st = incept_nd_expect(ctx, in, n_in, 0, in[0] ? in[0]->dtype : INCEPT_FLOAT32, 1, 0);
    if (st || (st = incept_nd_expect(ctx, in, n_in, 1, INCEPT_INT64, 0, 0)) ||
        (st = incept_nd_axis(ctx, incept_onnx_attr_int(ctx->node, "axis", 0), in[0]->rank, 0, &axis)))
        return st;
    const incept_tensor *data = in[0], *indices = in[1];
    int rank = data->rank - 1 + indices->rank;
    if (rank > INCEPT_MAX_RANK)
        return incept_nd_fail(ctx, INCEPT_ERR_UNSUPPORTED, "a result of rank %d", rank);
    long long dims[INCEPT_MAX_RANK];
    int r = 0;
    for (int d = 0; d < axis; d++)
        dims[r++] = data->dims[d];
    for (int d = 0; d < indices->rank; d++)
        dims[r++] = indices->dims[d];
    for (int d = axis + 1; d < data->rank; d++)
        dims[r++] = data->dims[d];
    if ((st = incept_nd_array_alloc(ctx, out, data->dtype, rank, dims)))
        return st;
    size_t outer = incept_nd_span(data, 0, axis), n_index = incept_tensor_count(indices);
    size_t size = incept_nd_dtype_size(data->dtype), inner = incept_nd_span(data, axis + 1, data->rank) * size;
    long long extent = data->dims[axis];
    const long long *index = indices->data;
    char *dst = out->data;
    for (size_t o = 0; o < outer; o++)
        for (size_t i = 0; i < n_index; i++) {
            long long k;
            if ((st = gather_index(ctx, index[i], extent, &k)))
                return st;
            memcpy(dst + (o * n_index + i) * inner,
                   (const char *)data->data + (o * (size_t)extent + (size_t)k) * inner, inner);
        }
    return INCEPT_OK;
}

/* The data's gradient: each result's gradient added back into the entry it was copied from (an
 * entry gathered twice gets both); the indices have none. */
INCEPT_ND_GRAD(gather)
{
    int axis;
    incept_status st = incept_nd_grad_expect(ctx, in, n_in, out, n_out, dout, din);
    if (st || n_in < 2 || n_out < 1 || !din[0] || !dout[0])
        return st;
    if ((st = incept_nd_expect(ctx, in, n_in, 1, INCEPT_INT64, 0, 0)) ||
        (st = incept_nd_axis(ctx, incept_onnx_attr_int(ctx->node, "axis", 0), in[0]->rank, 0, &axis)))
        return st;
    const incept_tensor *data = in[0], *indices = in[1];
    size_t outer = incept_nd_span(data, 0, axis), n_index = incept_tensor_count(indices);
    size_t inner = incept_nd_span(data, axis + 1, data->rank);
    if (incept_tensor_count(dout[0]) != outer * n_index * inner)
        return incept_nd_fail(ctx, INCEPT_ERR_SHAPE, "the output's gradient does not match the gather");
    long long extent = data->dims[axis];
    const long long *index = indices->data;
    const float *g = dout[0]->data;
    float *dx = din[0]->data;
    for (size_t o = 0; o < outer; o++)
        for (size_t i = 0; i < n_index; i++) {
            long long k;
            if ((st = gather_index(ctx, index[i], extent, &k)))
                return st;
            const float *from = g + (o * n_index + i) * inner;
            float *to = dx + (o * (size_t)extent + (size_t)k) * inner;
            for (size_t j = 0; j < inner; j++)
                to[j] += from[j];
        }
    return INCEPT_OK;
}

INCEPT_ND_OP(shape)
{
    (void)n_out;
    if (n_in < 1 || !in[0])
        return incept_nd_fail(ctx, INCEPT_ERR_FORMAT, "input 0 is missing");
    int rank = in[0]->rank, start, end;
    long long s = incept_onnx_attr_int(ctx->node, "start", 0);
    long long e = incept_onnx_attr_int(ctx->node, "end", rank);
    s = s < 0 ? s + rank : s, e = e < 0 ? e + rank : e; /* clamped, as the spec says */
    start = s < 0 ? 0 : s > rank ? rank : (int)s;
    end = e < 0 ? 0 : e > rank ? rank : (int)e;
    long long count = end > start ? end - start : 0;
    incept_status st = incept_nd_array_alloc(ctx, out, INCEPT_INT64, 1, &count);
    if (!st)
        incept_copy(out->data, in[0]->dims + start, sizeof(long long) * (size_t)count);
    return st;
}

INCEPT_ND_OP(constant)
{
    (void)in, (void)n_in, (void)n_out;
    const Onnx__NodeProto *n = ctx->node;
    const Onnx__AttributeProto *a;
    if ((a = incept_onnx_attr(n, "value")) && a->t)
        return incept_nd_array_from_tensor(ctx->path, a->t, NULL, 0, out);
    long long one = 1;
    incept_status st;
    if ((a = incept_onnx_attr(n, "value_float")) && a->has_f) {
        if (!(st = incept_nd_array_alloc(ctx, out, INCEPT_FLOAT32, 0, NULL)))
            *(float *)out->data = a->f;
    } else if ((a = incept_onnx_attr(n, "value_int")) && a->has_i) {
        if (!(st = incept_nd_array_alloc(ctx, out, INCEPT_INT64, 0, NULL)))
            *(long long *)out->data = (long long)a->i;
    } else if ((a = incept_onnx_attr(n, "value_floats"))) {
        one = (long long)a->n_floats;
        if (!(st = incept_nd_array_alloc(ctx, out, INCEPT_FLOAT32, 1, &one)) && one)
            incept_copy(out->data, a->floats, sizeof(float) * a->n_floats);
    } else if ((a = incept_onnx_attr(n, "value_ints"))) {
        one = (long long)a->n_ints;
        if (!(st = incept_nd_array_alloc(ctx, out, INCEPT_INT64, 1, &one)))
            for (size_t i = 0; i < a->n_ints; i++)
                ((long long *)out->data)[i] = (long long)a->ints[i];
    } else
        return incept_nd_fail(ctx, INCEPT_ERR_UNSUPPORTED, "a Constant without a tensor, float or int value");
    return st;
}


