/* linear.c — the N-d reference matrix products: Gemm (transposes, alpha, beta, a bias C broadcast
 * to [M, N]) and MatMul with numpy semantics (1-D operands promoted, batch axes broadcast), both
 * on the engine's SGEMM kernels. */
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "nd/nd.h"
#include "kernels/kernels.h"

/* c[M, N] = a[M, K] * b (b[K, N], or bt[N, K] when b_transposed), contiguous rows. */
static incept_status product(const incept_nd_context *ctx, int m, int n, int k, const float *a,
                             const float *b, int b_transposed, float *c, float *workspace)
{
    if (m == 0 || n == 0)
        return INCEPT_OK;
    if (k == 0) {
        memset(c, 0, sizeof(float) * (size_t)m * (size_t)n);
        return INCEPT_OK;
    }
    if (b_transposed)
        incept_gemm_bt(ctx->threads, m, n, k, a, k, b, k, c, n, workspace);
    else
        incept_gemm(ctx->threads, m, n, k, a, k, b, n, c, n, NULL, 0, workspace);
    return INCEPT_OK;
}

static int fits_int(long long v) { return v >= 0 && v < (1LL << 31); }

static float *workspace_for(const incept_nd_context *ctx, int m, int n, int k)
{
    float *w = incept_alloc_floats(incept_gemm_workspace(m, n, k, ctx->threads) + 1);
    if (!w)
        incept_nd_fail(ctx, INCEPT_ERR_NOMEM, "out of memory for a %d x %d x %d product", m, n, k);
    return w;
}

INCEPT_ND_OP(gemm)
{
    (void)n_out;
    incept_status st;
    if ((st = incept_nd_expect(ctx, in, n_in, 0, INCEPT_FLOAT32, 2, 2)) ||
        (st = incept_nd_expect(ctx, in, n_in, 1, INCEPT_FLOAT32, 2, 2)))
        return st;
    int trans_a = incept_onnx_attr_int(ctx->node, "transA", 0) != 0;
    int trans_b = incept_onnx_attr_int(ctx->node, "transB", 0) != 0;
    float alpha = incept_onnx_attr_float(ctx->node, "alpha", 1.0f);
    float beta = incept_onnx_attr_float(ctx->node, "beta", 1.0f);
    const incept_tensor *a = in[0], *b = in[1], *c = n_in > 2 ? in[2] : NULL;
    long long m = a->dims[trans_a], k = a->dims[!trans_a], n = b->dims[!trans_b];
    if (b->dims[trans_b] != k)
        return incept_nd_fail(ctx, INCEPT_ERR_SHAPE, "A has %lld columns and B %lld rows", k, b->dims[trans_b]);
    if (!fits_int(m) || !fits_int(n) || !fits_int(k))
        return incept_nd_fail(ctx, INCEPT_ERR_UNSUPPORTED, "a product of %lld x %lld x %lld", m, n, k);
    long long dims[2] = {m, n}, c_strides[2] = {0, 0};
    if (c) {
        if ((st = incept_nd_expect(ctx, in, n_in, 2, INCEPT_FLOAT32, 0, 2)))
            return st;
        for (int d = 0; d < c->rank; d++) {
            long long want = dims[2 - c->rank + d];
            if (c->dims[d] != want && c->dims[d] != 1)
                return incept_nd_fail(ctx, INCEPT_ERR_SHAPE, "C does not broadcast to %lld x %lld", m, n);
        }
        incept_nd_broadcast_strides(c, 2, dims, c_strides);
    }
    if ((st = incept_nd_array_alloc(ctx, out, INCEPT_FLOAT32, 2, dims)))
        return st;
    float *a_rows = NULL, *workspace = workspace_for(ctx, (int)m, (int)n, (int)k);
    if (!workspace)
        return INCEPT_ERR_NOMEM;
    const float *a_data = a->data;
    if (trans_a) { /* A given as [K, M]: rows of A made contiguous */
        if (!(a_rows = incept_malloc(sizeof(float) * (size_t)(m * k + 1)))) {
            free(workspace);
            return incept_nd_fail(ctx, INCEPT_ERR_NOMEM, "out of memory");
        }
        for (long long i = 0; i < m; i++)
            for (long long j = 0; j < k; j++)
                a_rows[i * k + j] = a_data[j * m + i];
        a_data = a_rows;
    }
    float *y = out->data;
    product(ctx, (int)m, (int)n, (int)k, a_data, b->data, trans_b, y, workspace);
    free(a_rows);
    free(workspace);
    const float *bias = c ? c->data : NULL;
    for (long long i = 0; i < m; i++)
        for (long long j = 0; j < n; j++) {
            float v = alpha * y[i * n + j];
            y[i * n + j] = bias ? v + beta * bias[i * c_strides[0] + j * c_strides[1]] : v;
        }
    return INCEPT_OK;
}

INCEPT_ND_OP(matmul)
{
    (void)n_out;
    incept_status st;
    if ((st = incept_nd_expect(ctx, in, n_in, 0, INCEPT_FLOAT32, 1, 0)) ||
        (st = incept_nd_expect(ctx, in, n_in, 1, INCEPT_FLOAT32, 1, 0)))
        return st;
    const incept_tensor *a = in[0], *b = in[1];
    /* the batch axes as arrays of their own, to broadcast them */
    incept_tensor a_batch = {.rank = a->rank > 2 ? a->rank - 2 : 0};
    incept_tensor b_batch = {.rank = b->rank > 2 ? b->rank - 2 : 0};
    memcpy(a_batch.dims, a->dims, sizeof(long long) * (size_t)a_batch.rank);
    memcpy(b_batch.dims, b->dims, sizeof(long long) * (size_t)b_batch.rank);
    long long m = a->rank == 1 ? 1 : a->dims[a->rank - 2], k = a->dims[a->rank - 1];
    long long kb = b->rank == 1 ? b->dims[0] : b->dims[b->rank - 2];
    long long n = b->rank == 1 ? 1 : b->dims[b->rank - 1];
    if (k != kb)
        return incept_nd_fail(ctx, INCEPT_ERR_SHAPE, "A has %lld columns and B %lld rows", k, kb);
    if (!fits_int(m) || !fits_int(n) || !fits_int(k))
        return incept_nd_fail(ctx, INCEPT_ERR_UNSUPPORTED, "a product of %lld x %lld x %lld", m, n, k);
    const incept_tensor *batches[2] = {&a_batch, &b_batch};
    int batch_rank;
    long long dims[INCEPT_MAX_RANK + 2], sa[INCEPT_MAX_RANK], sb[INCEPT_MAX_RANK], idx[INCEPT_MAX_RANK] = {0};
    if ((st = incept_nd_broadcast_shape(ctx, batches, 2, &batch_rank, dims)))
        return st;
    incept_nd_broadcast_strides(&a_batch, batch_rank, dims, sa);
    incept_nd_broadcast_strides(&b_batch, batch_rank, dims, sb);
    size_t n_batch = 1;
    for (int d = 0; d < batch_rank; d++)
        n_batch *= (size_t)dims[d];
    int rank = batch_rank;
    if (a->rank > 1)
        dims[rank++] = m;
    if (b->rank > 1)
        dims[rank++] = n;
    if ((st = incept_nd_array_alloc(ctx, out, INCEPT_FLOAT32, rank, dims)))
        return st;
    float *workspace = workspace_for(ctx, (int)m, (int)n, (int)k);
    if (!workspace)
        return INCEPT_ERR_NOMEM;
    const float *a_data = a->data, *b_data = b->data;
    float *y = out->data;
    long long oa = 0, ob = 0;
    for (size_t i = 0; i < n_batch; i++) {
        product(ctx, (int)m, (int)n, (int)k, a_data + oa * m * k, b_data + ob * k * n, 0,
                y + (long long)i * m * n, workspace);
        for (int d = batch_rank - 1; d >= 0; d--) {
            oa += sa[d], ob += sb[d];
            if (++idx[d] < dims[d])
                break;
            oa -= sa[d] * dims[d], ob -= sb[d] * dims[d];
            idx[d] = 0;
        }
    }
    free(workspace);
    return INCEPT_OK;
}
