/* shape.c — the N-d reference ops that move values without arithmetic: Reshape, Flatten, Squeeze,
 * Unsqueeze, Concat, Gather, Shape, Constant and Pad (constant, edge, reflect and wrap), on any
 * rank and axis, with their opset differences (attributes that became inputs). */
#include <string.h>

#include "nd/nd.h"

/* A copy of in with another shape of the same element count. */
static incept_status reshaped(const incept_nd_context *ctx, const incept_tensor *in, int rank,
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
        memcpy(out->data, in->data, count * incept_nd_dtype_size(in->dtype));
    return st;
}

/* An int64 input's values (at most max). */
static incept_status int_input(const incept_nd_context *ctx, const incept_tensor *const *in, int n_in,
                               int i, long long *values, int max, int *count)
{
    incept_status st = incept_nd_expect(ctx, in, n_in, i, INCEPT_INT64, 0, 1);
    if (st)
        return st;
    size_t n = incept_tensor_count(in[i]);
    if (n > (size_t)max)
        return incept_nd_fail(ctx, INCEPT_ERR_UNSUPPORTED, "input %d has %zu values (at most %d)", i, n, max);
    memcpy(values, in[i]->data, n * sizeof(long long));
    *count = (int)n;
    return INCEPT_OK;
}

INCEPT_ND_OP(reshape)
{
    (void)n_out;
    long long shape[INCEPT_MAX_RANK + 1];
    int rank = 0;
    incept_status st = incept_nd_expect(ctx, in, n_in, 0, in[0] ? in[0]->dtype : INCEPT_FLOAT32, 0, 0);
    if (st)
        return st;
    if (ctx->opset < 5)
        rank = incept_nd_attr_ints(ctx->node, "shape", shape, INCEPT_MAX_RANK + 1);
    else if ((st = int_input(ctx, in, n_in, 1, shape, INCEPT_MAX_RANK + 1, &rank)))
        return st;
    if (rank > INCEPT_MAX_RANK)
        return incept_nd_fail(ctx, INCEPT_ERR_UNSUPPORTED, "a shape of rank %d (at most %d)", rank,
                           INCEPT_MAX_RANK);
    int allow_zero = incept_onnx_attr_int(ctx->node, "allowzero", 0) != 0, infer = -1;
    size_t known = 1;
    for (int d = 0; d < rank; d++) {
        if (shape[d] == 0 && !allow_zero) {
            if (d >= in[0]->rank)
                return incept_nd_fail(ctx, INCEPT_ERR_SHAPE, "shape[%d] = 0 copies an axis the input lacks", d);
            shape[d] = in[0]->dims[d];
        }
        if (shape[d] == -1) {
            if (infer >= 0)
                return incept_nd_fail(ctx, INCEPT_ERR_SHAPE, "more than one -1 in the shape");
            infer = d;
            continue;
        }
        if (shape[d] < 0)
            return incept_nd_fail(ctx, INCEPT_ERR_SHAPE, "shape[%d] = %lld", d, shape[d]);
        known *= (size_t)shape[d];
    }
    if (infer >= 0) {
        size_t count = incept_tensor_count(in[0]);
        if (known == 0 || count % known)
            return incept_nd_fail(ctx, INCEPT_ERR_SHAPE, "cannot infer the -1 of a shape for %zu elements",
                               count);
        shape[infer] = (long long)(count / known);
    }
    return reshaped(ctx, in[0], rank, shape, out);
}

INCEPT_ND_OP(flatten)
{
    (void)n_out;
    int axis;
    incept_status st = incept_nd_expect(ctx, in, n_in, 0, in[0] ? in[0]->dtype : INCEPT_FLOAT32, 0, 0);
    if (st || (st = incept_nd_axis(ctx, incept_onnx_attr_int(ctx->node, "axis", 1), in[0]->rank, 1, &axis)))
        return st;
    long long dims[2] = {(long long)incept_nd_span(in[0], 0, axis),
                         (long long)incept_nd_span(in[0], axis, in[0]->rank)};
    return reshaped(ctx, in[0], 2, dims, out);
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
    return int_input(ctx, in, n_in, 1, axes, INCEPT_MAX_RANK, count);
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
    return reshaped(ctx, in[0], rank, dims, out);
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
    return reshaped(ctx, in[0], rank, dims, out);
}

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
            long long k = index[i] < 0 ? index[i] + extent : index[i];
            if (k < 0 || k >= extent)
                return incept_nd_fail(ctx, INCEPT_ERR_ARG, "index %lld out of range for %lld entries",
                                   index[i], extent);
            memcpy(dst + (o * n_index + i) * inner,
                   (const char *)data->data + (o * (size_t)extent + (size_t)k) * inner, inner);
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
        memcpy(out->data, in[0]->dims + start, sizeof(long long) * (size_t)count);
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
            memcpy(out->data, a->floats, sizeof(float) * a->n_floats);
    } else if ((a = incept_onnx_attr(n, "value_ints"))) {
        one = (long long)a->n_ints;
        if (!(st = incept_nd_array_alloc(ctx, out, INCEPT_INT64, 1, &one)))
            for (size_t i = 0; i < a->n_ints; i++)
                ((long long *)out->data)[i] = (long long)a->ints[i];
    } else
        return incept_nd_fail(ctx, INCEPT_ERR_UNSUPPORTED, "a Constant without a tensor, float or int value");
    return st;
}

/* Where output coordinate o (input extent n, padding `before`) reads, or -1 for the fill value. */
static long long pad_source(long long o, long long before, long long n, int mode)
{
    long long i = o - before;
    if (i >= 0 && i < n)
        return i;
    if (mode == 0 || n == 0)
        return -1;
    if (mode == 1) /* edge */
        return i < 0 ? 0 : n - 1;
    if (mode == 2) { /* reflect: period 2(n-1), the edge not repeated */
        if (n == 1)
            return 0;
        long long period = 2 * (n - 1), r = ((i % period) + period) % period;
        return r < n ? r : period - r;
    }
    return ((i % n) + n) % n; /* wrap */
}

INCEPT_ND_OP(pad)
{
    (void)n_out;
    incept_status st = incept_nd_expect(ctx, in, n_in, 0, in[0] ? in[0]->dtype : INCEPT_FLOAT32, 0, 0);
    if (st)
        return st;
    const incept_tensor *x = in[0];
    int rank = x->rank, n_pads = 0, n_axes = rank;
    long long pads[2 * INCEPT_MAX_RANK], given[2 * INCEPT_MAX_RANK], axes[INCEPT_MAX_RANK];
    double value = 0.0;
    if (ctx->opset < 11) {
        const char *name = ctx->opset < 2 ? "paddings" : "pads";
        n_pads = incept_nd_attr_ints(ctx->node, name, given, 2 * INCEPT_MAX_RANK);
        value = incept_onnx_attr_float(ctx->node, "value", 0.0f);
    } else {
        if ((st = int_input(ctx, in, n_in, 1, given, 2 * INCEPT_MAX_RANK, &n_pads)))
            return st;
        if (n_in > 2 && in[2]) {
            if (in[2]->dtype != x->dtype || incept_tensor_count(in[2]) != 1)
                return incept_nd_fail(ctx, INCEPT_ERR_SHAPE, "constant_value must be one value of the "
                                   "data's type");
            value = x->dtype == INCEPT_FLOAT32 ? *(const float *)in[2]->data
                    : x->dtype == INCEPT_INT64 ? (double)*(const long long *)in[2]->data
                                               : *(const unsigned char *)in[2]->data;
        }
        if (n_in > 3 && in[3] && (st = int_input(ctx, in, n_in, 3, axes, INCEPT_MAX_RANK, &n_axes)))
            return st;
    }
    if (n_axes == rank && !(n_in > 3 && in[3]))
        for (int d = 0; d < rank; d++)
            axes[d] = d;
    if (n_pads != 2 * n_axes)
        return incept_nd_fail(ctx, INCEPT_ERR_SHAPE, "%d pads for %d axes", n_pads, n_axes);
    memset(pads, 0, sizeof pads);
    for (int k = 0; k < n_axes; k++) {
        int axis;
        if ((st = incept_nd_axis(ctx, axes[k], rank, 0, &axis)))
            return st;
        pads[axis] = given[k], pads[rank + axis] = given[n_axes + k];
    }
    int mode = incept_onnx_attr_string_is(ctx->node, "mode", "constant", "constant") ? 0
               : incept_onnx_attr_string_is(ctx->node, "mode", "constant", "edge")   ? 1
               : incept_onnx_attr_string_is(ctx->node, "mode", "constant", "reflect") ? 2
               : incept_onnx_attr_string_is(ctx->node, "mode", "constant", "wrap")    ? 3 : -1;
    if (mode < 0)
        return incept_nd_fail(ctx, INCEPT_ERR_UNSUPPORTED, "an unknown mode");
    long long dims[INCEPT_MAX_RANK], idx[INCEPT_MAX_RANK] = {0}, stride[INCEPT_MAX_RANK];
    for (int d = 0; d < rank; d++) {
        dims[d] = x->dims[d] + pads[d] + pads[rank + d];
        if (dims[d] < 0)
            return incept_nd_fail(ctx, INCEPT_ERR_SHAPE, "pads leave axis %d with %lld entries", d, dims[d]);
        if (mode == 2 && x->dims[d] > 0 && (pads[d] >= x->dims[d] || pads[rank + d] >= x->dims[d]))
            return incept_nd_fail(ctx, INCEPT_ERR_SHAPE, "reflect pads of axis %d reach past its %lld entries",
                               d, x->dims[d]);
    }
    long long extent = 1;
    for (int d = rank - 1; d >= 0; d--)
        stride[d] = extent, extent *= x->dims[d];
    if ((st = incept_nd_array_alloc(ctx, out, x->dtype, rank, dims)))
        return st;
    size_t size = incept_nd_dtype_size(x->dtype);
    union { float f; long long i; unsigned char b; } fill;
    if (x->dtype == INCEPT_FLOAT32)
        fill.f = (float)value;
    else if (x->dtype == INCEPT_INT64)
        fill.i = (long long)value;
    else
        fill.b = value != 0.0;
    const char *src = x->data;
    char *y = out->data;
    for (size_t i = 0, n = incept_tensor_count(out); i < n; i++) {
        long long offset = 0;
        for (int d = 0; d < rank && offset >= 0; d++) {
            long long s = pad_source(idx[d], pads[d], x->dims[d], mode);
            offset = s < 0 ? -1 : offset + s * stride[d];
        }
        memcpy(y + i * size, offset < 0 ? (const char *)&fill : src + (size_t)offset * size, size);
        for (int d = rank - 1; d >= 0 && ++idx[d] == dims[d]; d--)
            idx[d] = 0;
    }
    return INCEPT_OK;
}
