/* array.c — the N-d reference ops' tensors: allocation, conversion from ONNX tensors, the checks
 * every op makes on its inputs, numpy broadcasting, and reading node attributes. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/checked.h"
#include "core/status.h"
#include "nd/nd.h"
#include "io/io.h"

incept_status incept_nd_fail(const incept_nd_context *ctx, incept_status st, const char *fmt, ...)
{
    char message[768];
    va_list args;
    va_start(args, fmt);
    vsnprintf(message, sizeof message, fmt, args);
    va_end(args);
    const Onnx__NodeProto *n = ctx->node;
    return incept_fail(st, "%s: node '%s' (%s): %s", ctx->path, n && n->name && *n->name ? n->name : "?",
                       n && n->op_type ? n->op_type : "?", message);
}

/* ---- attributes ---- */

int incept_nd_attr_ints(const Onnx__NodeProto *n, const char *name, long long *out, int max)
{
    const Onnx__AttributeProto *a = incept_onnx_attr(n, name);
    if (!a)
        return 0;
    for (size_t i = 0; i < a->n_ints && (int)i < max; i++)
        out[i] = (long long)a->ints[i];
    return (int)a->n_ints;
}

/* ---- arrays ---- */

size_t incept_tensor_count(const incept_tensor *a)
{
    size_t count = 1;
    for (int d = 0; d < a->rank; d++) /* SIZE_MAX, which nothing can hold, when it overflows */
        if (!incept_mul_size(count, a->dims[d] > 0 ? (size_t)a->dims[d] : 0, &count))
            return SIZE_MAX;
    return count;
}

void incept_tensor_free(incept_tensor *a)
{
    if (!a)
        return;
    free(a->data);
    a->data = NULL;
}

size_t incept_nd_dtype_size(incept_dtype dtype)
{
    return dtype == INCEPT_FLOAT32 ? sizeof(float) : dtype == INCEPT_INT64 ? sizeof(long long) : 1;
}

size_t incept_nd_span(const incept_tensor *a, int from, int to)
{
    size_t n = 1;
    for (int d = from; d < to; d++)
        n *= (size_t)a->dims[d];
    return n;
}

incept_status incept_nd_array_alloc(const incept_nd_context *ctx, incept_tensor *a, incept_dtype dtype,
                                 int rank, const long long *dims)
{
    long long shape[INCEPT_MAX_RANK];
    if (rank < 0 || rank > INCEPT_MAX_RANK)
        return incept_nd_fail(ctx, INCEPT_ERR_UNSUPPORTED, "a result of rank %d (at most %d)", rank,
                           INCEPT_MAX_RANK);
    size_t count = 1;
    for (int d = 0; d < rank; d++) {
        if (dims[d] < 0 || dims[d] > (1LL << 40))
            return incept_nd_fail(ctx, INCEPT_ERR_SHAPE, "a result dimension of %lld", dims[d]);
        shape[d] = dims[d];
        if (!incept_mul_size(count, (size_t)dims[d], &count) || count > ((size_t)1 << 40))
            return incept_nd_fail(ctx, INCEPT_ERR_SHAPE, "a result of more than 2^40 elements");
    }
    a->data = incept_calloc(count ? count : 1, incept_nd_dtype_size(dtype));
    if (!a->data)
        return incept_nd_fail(ctx, INCEPT_ERR_NOMEM, "out of memory for a result of %zu elements", count);
    a->dtype = dtype;
    a->rank = rank;
    memcpy(a->dims, shape, sizeof(long long) * (size_t)rank);
    return INCEPT_OK;
}

incept_status incept_nd_array_copy(const incept_nd_context *ctx, incept_tensor *dst, const incept_tensor *src)
{
    incept_status st = incept_nd_array_alloc(ctx, dst, src->dtype, src->rank, src->dims);
    if (!st)
        incept_copy(dst->data, src->data, incept_tensor_count(src) * incept_nd_dtype_size(src->dtype));
    return st;
}

#define ONNX_FLOAT 1
#define ONNX_UINT8 2
#define ONNX_INT32 6
#define ONNX_INT64 7
#define ONNX_BOOL 9

incept_status incept_nd_array_from_tensor(const char *path, const Onnx__TensorProto *t,
                                       const uint8_t *payload, size_t payload_len, incept_tensor *a)
{
    const char *name = t->name && *t->name ? t->name : "?";
    memset(a, 0, sizeof *a);
    if (t->n_dims > INCEPT_MAX_RANK)
        return incept_fail(INCEPT_ERR_UNSUPPORTED, "%s: tensor '%s' has rank %zu (at most %d)", path,
                           name, t->n_dims, INCEPT_MAX_RANK);
    if (t->has_data_location && t->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL)
        return incept_fail(INCEPT_ERR_UNSUPPORTED, "%s: tensor '%s' keeps its data in an external file",
                           path, name);
    incept_dtype dtype;
    size_t stored; /* bytes per element as stored */
    switch (t->data_type) {
    case ONNX_FLOAT: dtype = INCEPT_FLOAT32, stored = 4; break;
    case ONNX_INT64: dtype = INCEPT_INT64, stored = 8; break;
    case ONNX_INT32: dtype = INCEPT_INT64, stored = 4; break;
    case ONNX_BOOL: dtype = INCEPT_BOOL, stored = 1; break;
    case ONNX_UINT8: dtype = INCEPT_UINT8, stored = 1; break;
    default:
        return incept_fail(INCEPT_ERR_UNSUPPORTED, "%s: tensor '%s' has data type %d (float32, uint8, "
                           "int32, int64 and bool are supported)", path, name, t->data_type);
    }
    a->dtype = dtype;
    a->rank = (int)t->n_dims;
    size_t count = 1;
    for (size_t d = 0; d < t->n_dims; d++) {
        if (t->dims[d] < 0 || t->dims[d] > (1LL << 40))
            return incept_fail(INCEPT_ERR_FORMAT, "%s: tensor '%s' has a dimension of %lld", path, name,
                               (long long)t->dims[d]);
        a->dims[d] = (long long)t->dims[d];
        if (!incept_mul_size(count, (size_t)t->dims[d], &count) || count > ((size_t)1 << 40))
            return incept_fail(INCEPT_ERR_FORMAT, "%s: tensor '%s' has more than 2^40 elements", path, name);
    }
    if (!payload && t->has_raw_data)
        payload = t->raw_data.data, payload_len = t->raw_data.len;
    size_t listed = t->data_type == ONNX_FLOAT ? t->n_float_data
                    : t->data_type == ONNX_INT64 ? t->n_int64_data : t->n_int32_data;
    if (payload ? payload_len / stored != count || payload_len % stored : listed != count)
        return incept_fail(INCEPT_ERR_FORMAT, "%s: tensor '%s' holds the wrong amount of data for its "
                           "shape", path, name);
    if (!(a->data = incept_malloc((count ? count : 1) * incept_nd_dtype_size(dtype))))
        return incept_fail_prefix(INCEPT_ERR_NOMEM, "%s: tensor '%s': ", path, name);
    long long *ints = a->data;
    unsigned char *bools = a->data;
    if (payload && dtype == INCEPT_INT64 && stored == 4) {
        for (size_t i = 0; i < count; i++) {
            int32_t v;
            memcpy(&v, payload + 4 * i, 4); /* little-endian host, as the format */
            ints[i] = v;
        }
    } else if (!count) {
        /* nothing to copy: an empty tensor's data pointers may be NULL */
    } else if (payload)
        incept_copy(a->data, payload, count * stored);
    else if (!payload && dtype == INCEPT_FLOAT32)
        incept_copy(a->data, t->float_data, count * sizeof(float));
    else if (!payload && t->data_type == ONNX_INT64)
        for (size_t i = 0; i < count; i++)
            ints[i] = (long long)t->int64_data[i];
    else if (!payload && dtype == INCEPT_INT64)
        for (size_t i = 0; i < count; i++)
            ints[i] = t->int32_data[i];
    else if (!payload) /* bool and uint8 are listed as int32 */
        for (size_t i = 0; i < count; i++)
            bools[i] = (unsigned char)t->int32_data[i];
    if (dtype == INCEPT_BOOL)
        for (size_t i = 0; i < count; i++)
            bools[i] = bools[i] != 0;
    return INCEPT_OK;
}

/* ---- input checks ---- */

static const char *dtype_name(incept_dtype dtype)
{
    return dtype == INCEPT_FLOAT32 ? "float32" : dtype == INCEPT_INT64 ? "int64"
           : dtype == INCEPT_UINT8 ? "uint8" : "bool";
}

incept_status incept_nd_expect(const incept_nd_context *ctx, const incept_tensor *const *in, int n_in,
                            int i, incept_dtype dtype, int rank_min, int rank_max)
{
    if (i >= n_in || !in[i])
        return incept_nd_fail(ctx, INCEPT_ERR_FORMAT, "input %d is missing", i);
    if (in[i]->dtype != dtype)
        return incept_nd_fail(ctx, INCEPT_ERR_UNSUPPORTED, "input %d is %s where %s is expected", i,
                           dtype_name(in[i]->dtype), dtype_name(dtype));
    if (in[i]->rank < rank_min || (rank_max && in[i]->rank > rank_max))
        return incept_nd_fail(ctx, INCEPT_ERR_SHAPE, "input %d has rank %d (expected %d to %d)", i,
                           in[i]->rank, rank_min, rank_max ? rank_max : INCEPT_MAX_RANK);
    return INCEPT_OK;
}

incept_status incept_nd_axis(const incept_nd_context *ctx, long long axis, int rank, int end_ok, int *out)
{
    if (axis < -rank || axis >= rank + (end_ok ? 1 : 0))
        return incept_nd_fail(ctx, INCEPT_ERR_SHAPE, "axis %lld out of range for rank %d", axis, rank);
    *out = (int)(axis < 0 ? axis + rank : axis);
    return INCEPT_OK;
}

/* ---- backward ---- */

static int same_shape(const incept_tensor *a, const incept_tensor *b)
{
    if (a->rank != b->rank)
        return 0;
    for (int d = 0; d < a->rank; d++)
        if (a->dims[d] != b->dims[d])
            return 0;
    return 1;
}

incept_status incept_nd_grad_expect(const incept_nd_context *ctx, const incept_tensor *const *in, int n_in,
                                    const incept_tensor *out, int n_out, const incept_tensor *const *dout,
                                    incept_tensor *const *din)
{
    for (int k = 0; k < n_out; k++) {
        if (!dout[k])
            continue;
        if (dout[k]->dtype != INCEPT_FLOAT32 || out[k].dtype != INCEPT_FLOAT32)
            return incept_nd_fail(ctx, INCEPT_ERR_UNSUPPORTED, "a gradient of output %d, which is %s (a "
                                  "backward is float32 only)", k, dtype_name(out[k].dtype));
        if (!same_shape(dout[k], &out[k]) || (!dout[k]->data && incept_tensor_count(dout[k])))
            return incept_nd_fail(ctx, INCEPT_ERR_SHAPE, "the gradient of output %d is not shaped as the "
                                  "output", k);
    }
    for (int i = 0; i < n_in; i++) {
        if (!din[i])
            continue;
        if (!in[i])
            return incept_nd_fail(ctx, INCEPT_ERR_ARG, "a gradient of input %d, which is missing", i);
        if (in[i]->dtype != INCEPT_FLOAT32 || din[i]->dtype != INCEPT_FLOAT32)
            return incept_nd_fail(ctx, INCEPT_ERR_UNSUPPORTED, "a gradient of input %d, which is %s (a "
                                  "backward is float32 only)", i, dtype_name(in[i]->dtype));
        if (!same_shape(din[i], in[i]) || (!din[i]->data && incept_tensor_count(din[i])))
            return incept_nd_fail(ctx, INCEPT_ERR_SHAPE, "the gradient of input %d is not shaped as the "
                                  "input", i);
    }
    return INCEPT_OK;
}

incept_status incept_nd_grad_pass(const incept_nd_context *ctx, const incept_tensor *const *in, int n_in,
                                  const incept_tensor *out, int n_out, const incept_tensor *const *dout,
                                  incept_tensor *const *din)
{
    incept_status st = incept_nd_grad_expect(ctx, in, n_in, out, n_out, dout, din);
    if (st || n_in < 1 || n_out < 1 || !din[0] || !dout[0])
        return st;
    size_t n = incept_tensor_count(in[0]);
    if (n != incept_tensor_count(dout[0]))
        return incept_nd_fail(ctx, INCEPT_ERR_SHAPE, "an output of %zu elements for an input of %zu",
                              incept_tensor_count(dout[0]), n);
    const float *g = dout[0]->data;
    float *dx = din[0]->data;
    for (size_t i = 0; i < n; i++)
        dx[i] += g[i];
    return INCEPT_OK;
}

/* ---- broadcasting ---- */

incept_status incept_nd_broadcast_shape(const incept_nd_context *ctx, const incept_tensor *const *arrays,
                                     int n, int *rank, long long *dims)
{
    int r = 0;
    for (int k = 0; k < n; k++)
        r = arrays[k]->rank > r ? arrays[k]->rank : r;
    for (int d = 0; d < r; d++)
        dims[d] = 1;
    for (int k = 0; k < n; k++) {
        const incept_tensor *a = arrays[k];
        for (int d = 0; d < a->rank; d++) {
            long long *o = &dims[r - a->rank + d], v = a->dims[d];
            if (v == *o || v == 1)
                continue;
            if (*o != 1)
                return incept_nd_fail(ctx, INCEPT_ERR_SHAPE, "inputs of sizes %lld and %lld along axis "
                                   "%d do not broadcast", *o, v, r - a->rank + d);
            *o = v;
        }
    }
    *rank = r;
    return INCEPT_OK;
}

void incept_nd_broadcast_strides(const incept_tensor *a, int rank, const long long *dims, long long *strides)
{
    long long stride = 1;
    for (int d = rank - 1; d >= 0; d--) {
        int ad = d - (rank - a->rank);
        if (ad < 0 || a->dims[ad] == 1 || dims[d] == 1) {
            strides[d] = 0;
            if (ad >= 0)
                stride *= a->dims[ad];
        } else {
            strides[d] = stride;
            stride *= a->dims[ad];
        }
    }
}

incept_status incept_tensor_load(const char *path, incept_tensor *out)
{
    if (!path || !out)
        return incept_fail(INCEPT_ERR_ARG, "array_load needs a path and an array");
    memset(out, 0, sizeof *out);
    char *bytes;
    size_t size;
    incept_status st = incept_read_file(path, &bytes, &size);
    if (st)
        return st;
    Onnx__TensorProto *t = onnx__tensor_proto__unpack(NULL, size, (const uint8_t *)bytes);
    free(bytes);
    if (!t)
        return incept_fail(INCEPT_ERR_FORMAT, "%s: not a serialized ONNX TensorProto", path);
    st = incept_nd_array_from_tensor(path, t, NULL, 0, out);
    onnx__tensor_proto__free_unpacked(t, NULL);
    return st;
}

incept_status incept_tensor_save(const char *path, const incept_tensor *a)
{
    if (!path || !a || a->rank < 0 || a->rank > INCEPT_MAX_RANK || (!a->data && incept_tensor_count(a)))
        return incept_fail(INCEPT_ERR_ARG, "array_save needs a path and an array with data");
    Onnx__TensorProto t;
    onnx__tensor_proto__init(&t);
    int64_t dims[INCEPT_MAX_RANK];
    for (int d = 0; d < a->rank; d++)
        dims[d] = a->dims[d];
    t.n_dims = (size_t)a->rank;
    t.dims = dims;
    t.has_data_type = 1;
    t.data_type = (int32_t)a->dtype;
    t.has_raw_data = 1;
    t.raw_data.len = incept_tensor_count(a) * incept_nd_dtype_size(a->dtype);
    t.raw_data.data = a->data;
    size_t size = onnx__tensor_proto__get_packed_size(&t);
    unsigned char *bytes = incept_malloc(size + 1);
    if (!bytes)
        return INCEPT_ERR_NOMEM;
    onnx__tensor_proto__pack(&t, bytes);
    incept_status st = incept_write_atomically(path, bytes, size);
    free(bytes);
    return st;
}
