/* elementwise.c — the N-d reference element-by-element ops: Add, Sub, Mul, Div and Sum with numpy
 * broadcasting (float32, uint8 and int64), and Identity. (Relu, Clip and Dropout, which have NCHW
 * fast paths, keep theirs in their op files.) */
#include <float.h>
#include <limits.h>
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
            /* int64 wraps on overflow, as numpy's does: computed unsigned (C's signed overflow is
             * undefined) */
            unsigned long long ux = (unsigned long long)x, uy = (unsigned long long)y;
            io[i] = op == ARITH_COPY ? y : op == ARITH_ADD ? (long long)(ux + uy)
                    : op == ARITH_SUB ? (long long)(ux - uy) : op == ARITH_MUL ? (long long)(ux * uy)
                    : x == LLONG_MIN && y == -1 ? LLONG_MIN : x / y;
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



INCEPT_ND_OP(identity)
{
    (void)n_out;
    if (n_in < 1 || !in[0])
        return incept_nd_fail(ctx, INCEPT_ERR_FORMAT, "input 0 is missing");
    return incept_nd_array_copy(ctx, out, in[0]);
}

