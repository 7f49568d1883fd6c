/* elementwise.c — the N-d reference element-by-element ops: Add, Sub, Mul, Div and Sum with numpy
 * broadcasting (float32, uint8 and int64), Relu, Identity, and Dropout (the identity with an all-true
 * mask at inference; random zeros scaled by 1/(1-ratio) in training mode). */
#include <float.h>
#include <math.h>
#include <string.h>

#include "nd/nd.h"

typedef enum { ARITH_COPY, ARITH_ADD, ARITH_SUB, ARITH_MUL, ARITH_DIV } arith;

/* out = a (op) b elementwise, a and b broadcast to out's shape; out may be a. */
static incept_status apply(const incept_nd_context *ctx, incept_tensor *out, const incept_tensor *a,
                           const incept_tensor *b, arith op)
{
    long long sa[INCEPT_MAX_RANK], sb[INCEPT_MAX_RANK], idx[INCEPT_MAX_RANK] = {0};
    int rank = out->rank;
    incept_nd_broadcast_strides(a, rank, out->dims, sa);
    incept_nd_broadcast_strides(b, rank, out->dims, sb);
    size_t count = incept_tensor_count(out);
    long long oa = 0, ob = 0;
    const float *fa = a->data, *fb = b->data;
    const long long *ia = a->data, *ib = b->data;
    float *fo = out->data;
    long long *io = out->data;
    for (size_t i = 0; i < count; i++) {
        if (out->dtype == INCEPT_FLOAT32) {
            float x = fa[oa], y = fb[ob];
            fo[i] = op == ARITH_COPY ? y : op == ARITH_ADD ? x + y : op == ARITH_SUB ? x - y
                    : op == ARITH_MUL ? x * y : x / y;
        } else if (out->dtype == INCEPT_UINT8) { /* modulo 256, as numpy's uint8 */
            unsigned x = ((const unsigned char *)a->data)[oa], y = ((const unsigned char *)b->data)[ob];
            if (op == ARITH_DIV && y == 0)
                return incept_nd_fail(ctx, INCEPT_ERR_ARG, "integer division by zero");
            ((unsigned char *)out->data)[i] = (unsigned char)(op == ARITH_COPY ? y : op == ARITH_ADD ? x + y
                                                              : op == ARITH_SUB ? x - y
                                                              : op == ARITH_MUL ? x * y : x / y);
        } else {
            long long x = ia[oa], y = ib[ob];
            if (op == ARITH_DIV && y == 0)
                return incept_nd_fail(ctx, INCEPT_ERR_ARG, "integer division by zero");
            io[i] = op == ARITH_COPY ? y : op == ARITH_ADD ? x + y : op == ARITH_SUB ? x - y
                    : op == ARITH_MUL ? x * y : x / y;
        }
        for (int d = rank - 1; d >= 0; d--) { /* next index: carry through the axes */
            oa += sa[d], ob += sb[d];
            if (++idx[d] < out->dims[d])
                break;
            oa -= sa[d] * out->dims[d], ob -= sb[d] * out->dims[d];
            idx[d] = 0;
        }
    }
    return INCEPT_OK;
}

/* Sum of all inputs (or the binary op for two), broadcast together. */
static incept_status fold(const incept_nd_context *ctx, const incept_tensor *const *in, int n_in,
                          incept_tensor *out, arith op)
{
    if (n_in < 1)
        return incept_nd_fail(ctx, INCEPT_ERR_FORMAT, "no inputs");
    for (int k = 0; k < n_in; k++) {
        if (!in[k])
            return incept_nd_fail(ctx, INCEPT_ERR_FORMAT, "input %d is missing", k);
        if (in[k]->dtype != in[0]->dtype || in[k]->dtype == INCEPT_BOOL)
            return incept_nd_fail(ctx, INCEPT_ERR_UNSUPPORTED, "inputs must all be float32, all uint8 or all "
                               "int64");
    }
    int rank;
    long long dims[INCEPT_MAX_RANK];
    incept_status st = incept_nd_broadcast_shape(ctx, in, n_in, &rank, dims);
    if (!st)
        st = incept_nd_array_alloc(ctx, out, in[0]->dtype, rank, dims);
    if (!st)
        st = apply(ctx, out, out, in[0], ARITH_COPY);
    for (int k = 1; k < n_in && !st; k++)
        st = apply(ctx, out, out, in[k], op);
    return st;
}

static incept_status binary(const incept_nd_context *ctx, const incept_tensor *const *in, int n_in,
                            incept_tensor *out, arith op)
{
    if (n_in != 2)
        return incept_nd_fail(ctx, INCEPT_ERR_FORMAT, "%d inputs where 2 are expected", n_in);
    return fold(ctx, in, n_in, out, op);
}

INCEPT_ND_OP(add)
{
    (void)n_out;
    return binary(ctx, in, n_in, out, ARITH_ADD);
}

INCEPT_ND_OP(sub)
{
    (void)n_out;
    return binary(ctx, in, n_in, out, ARITH_SUB);
}

INCEPT_ND_OP(mul)
{
    (void)n_out;
    return binary(ctx, in, n_in, out, ARITH_MUL);
}

INCEPT_ND_OP(div)
{
    (void)n_out;
    return binary(ctx, in, n_in, out, ARITH_DIV);
}

INCEPT_ND_OP(sum)
{
    (void)n_out;
    return fold(ctx, in, n_in, out, ARITH_ADD);
}

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

/* Clip: bounds from attributes before opset 11, from optional scalar inputs after. */
INCEPT_ND_OP(clip)
{
    (void)n_out;
    incept_status st = incept_nd_expect(ctx, in, n_in, 0, INCEPT_FLOAT32, 0, 0);
    if (st)
        return st;
    float lo = -INFINITY, hi = INFINITY;
    if (ctx->opset < 11) {
        lo = incept_onnx_attr_float(ctx->node, "min", -FLT_MAX);
        hi = incept_onnx_attr_float(ctx->node, "max", FLT_MAX);
    }
    for (int i = 1; i <= 2 && ctx->opset >= 11; i++) {
        if (i >= n_in || !in[i])
            continue;
        if (in[i]->dtype != INCEPT_FLOAT32 || incept_tensor_count(in[i]) != 1)
            return incept_nd_fail(ctx, INCEPT_ERR_SHAPE, "%s must be one float", i == 1 ? "min" : "max");
        *(i == 1 ? &lo : &hi) = *(const float *)in[i]->data;
    }
    if ((st = incept_nd_array_alloc(ctx, out, INCEPT_FLOAT32, in[0]->rank, in[0]->dims)))
        return st;
    const float *x = in[0]->data;
    float *y = out->data;
    for (size_t i = 0, n = incept_tensor_count(in[0]); i < n; i++) { /* NaN stays NaN */
        float v = x[i] < lo ? lo : x[i];
        y[i] = v > hi ? hi : v;
    }
    return INCEPT_OK;
}

INCEPT_ND_OP(identity)
{
    (void)n_out;
    if (n_in < 1 || !in[0])
        return incept_nd_fail(ctx, INCEPT_ERR_FORMAT, "input 0 is missing");
    return incept_nd_array_copy(ctx, out, in[0]);
}

/* Dropout: opset 12+ takes ratio and training_mode as inputs, earlier opsets ratio (and is_test
 * before 7) as attributes and run it as the identity. The mask is bool from opset 10, before
 * that the data's type. */
INCEPT_ND_OP(dropout)
{
    incept_status st = incept_nd_expect(ctx, in, n_in, 0, INCEPT_FLOAT32, 0, 0);
    if (st)
        return st;
    float ratio = incept_onnx_attr_float(ctx->node, "ratio", 0.5f);
    int training = 0;
    if (ctx->opset >= 12) {
        if (n_in > 1 && in[1]) {
            if (in[1]->dtype != INCEPT_FLOAT32 || incept_tensor_count(in[1]) != 1)
                return incept_nd_fail(ctx, INCEPT_ERR_FORMAT, "ratio must be one float");
            ratio = *(const float *)in[1]->data;
        }
        if (n_in > 2 && in[2]) {
            if (in[2]->dtype != INCEPT_BOOL || incept_tensor_count(in[2]) != 1)
                return incept_nd_fail(ctx, INCEPT_ERR_FORMAT, "training_mode must be one bool");
            training = *(const unsigned char *)in[2]->data != 0;
        }
    }
    if (training && (ratio < 0.0f || ratio >= 1.0f))
        return incept_nd_fail(ctx, INCEPT_ERR_ARG, "ratio %g outside [0, 1)", ratio);
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
