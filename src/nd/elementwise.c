/* elementwise.c — the N-d reference element-by-element ops: Add, Sub, Mul, Div and Sum with numpy
 * broadcasting (float32, uint8 and int64), and Identity. (Relu, Clip and Dropout, which have NCHW
 * fast paths, keep theirs in their op files.) Each with its backward, which sums the gradients
 * over the axes an input was broadcast along. */
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

/* ---- backward ---- */

/* da += the gradient of `a (op) b` for the upstream g, db likewise (either NULL: not wanted); b
 * NULL: a alone (Sum's terms). a and b broadcast to g's shape, so an entry of theirs that several
 * results read gathers all their gradients. */
static void accumulate(const incept_tensor *g, const incept_tensor *a, const incept_tensor *b,
                       incept_tensor *da, incept_tensor *db, arith op)
{
    long long sa[INCEPT_MAX_RANK], sb[INCEPT_MAX_RANK] = {0}, idx[INCEPT_MAX_RANK] = {0};
    int rank = g->rank;
    incept_nd_broadcast_strides(a, rank, g->dims, sa);
    if (b)
        incept_nd_broadcast_strides(b, rank, g->dims, sb);
    const float *dy = g->data, *x = a->data, *y = b ? b->data : NULL;
    float *dx = da ? da->data : NULL, *dz = db ? db->data : NULL;
    long long oa = 0, ob = 0;
    for (size_t i = 0, count = incept_tensor_count(g); i < count; i++) {
        float v = dy[i];
        if (op == ARITH_ADD || op == ARITH_SUB) {
            if (dx)
                dx[oa] += v;
            if (dz)
                dz[ob] += op == ARITH_ADD ? v : -v;
        } else if (op == ARITH_MUL) {
            if (dx)
                dx[oa] += v * y[ob];
            if (dz)
                dz[ob] += v * x[oa];
        } else { /* d(x / y) = dx / y - x dy / y^2 */
            if (dx)
                dx[oa] += v / y[ob];
            if (dz)
                dz[ob] -= v * (x[oa] / y[ob]) / y[ob];
        }
        for (int d = rank - 1; d >= 0; d--) {
            oa += sa[d], ob += sb[d];
            if (++idx[d] < g->dims[d])
                break;
            oa -= sa[d] * g->dims[d], ob -= sb[d] * g->dims[d];
            idx[d] = 0;
        }
    }
}

static incept_status binary_grad(const incept_nd_context *ctx, const incept_tensor *const *in, int n_in,
                                 const incept_tensor *out, int n_out, const incept_tensor *const *dout,
                                 incept_tensor *const *din, arith op)
{
    if (n_in != 2 || !in[0] || !in[1] || n_out < 1)
        return incept_nd_fail(ctx, INCEPT_ERR_FORMAT, "two inputs and an output expected");
    incept_status st = incept_nd_grad_expect(ctx, in, n_in, out, n_out, dout, din);
    if (st || !dout[0] || (!din[0] && !din[1]))
        return st;
    if (in[0]->dtype != INCEPT_FLOAT32 || in[1]->dtype != INCEPT_FLOAT32) /* Mul and Div read both */
        return incept_nd_fail(ctx, INCEPT_ERR_UNSUPPORTED, "a backward of non-float32 inputs");
    accumulate(dout[0], in[0], in[1], din[0], din[1], op);
    return INCEPT_OK;
}

INCEPT_ND_GRAD(add)
{
    return binary_grad(ctx, in, n_in, out, n_out, dout, din, ARITH_ADD);
}

INCEPT_ND_GRAD(sub)
{
    return binary_grad(ctx, in, n_in, out, n_out, dout, din, ARITH_SUB);
}

INCEPT_ND_GRAD(mul)
{
    return binary_grad(ctx, in, n_in, out, n_out, dout, din, ARITH_MUL);
}

INCEPT_ND_GRAD(div)
{
    return binary_grad(ctx, in, n_in, out, n_out, dout, din, ARITH_DIV);
}

INCEPT_ND_GRAD(sum)
{
    if (n_out < 1)
        return incept_nd_fail(ctx, INCEPT_ERR_FORMAT, "an output expected");
    incept_status st = incept_nd_grad_expect(ctx, in, n_in, out, n_out, dout, din);
    for (int k = 0; k < n_in && !st && dout[0]; k++)
        if (din[k])
            accumulate(dout[0], in[k], NULL, din[k], NULL, ARITH_ADD);
    return st;
}

INCEPT_ND_OP(identity)
{
    (void)n_out;
    if (n_in < 1 || !in[0])
        return incept_nd_fail(ctx, INCEPT_ERR_FORMAT, "input 0 is missing");
    return incept_nd_array_copy(ctx, out, in[0]);
}

INCEPT_ND_GRAD(identity)
{
    return incept_nd_grad_pass(ctx, in, n_in, out, n_out, dout, din);
}
