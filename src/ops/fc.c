/* fc.c — fully connected layer (ONNX Gemm with transB = 1, PyTorch Linear):
 * y[N, M] = x[N, K] * W[M, K]^T + b, with an optionally fused ReLU. The input's C*H*W is K.
 *
 * A few samples at a time (inference) is a matrix-vector product bound by reading W once: each
 * output row is a dot product, rows split across threads. Larger batches go through the SGEMM
 * with W as a transposed B. */
#include <string.h>
#include <stdlib.h>
#include <stdio.h>

#include <stddef.h>

#include "kernels/kernels.h"

#include "core/status.h"
#include "io/onnx_writer.h"
#include "io/onnx_import.h"
#include "nd/nd.h"
#include "ops/op.h"

static incept_status fc_infer(const incept_graph *g, const incept_node *n, int *c, int *h, int *w)
{
    const incept_value *in = incept_node_input(g, n, 0);
    int k = in->c * in->h * in->w, m = n->attrs.out_channels;
    if (n->weight < 0 || m <= 0)
        return incept_fail(INCEPT_ERR_ARG, "fully connected layer without weights");
    const incept_param *wp = &g->params[n->weight];
    if (wp->ndim != 2 || wp->dims[0] != m || wp->dims[1] != k)
        return incept_fail(INCEPT_ERR_SHAPE, "weight '%s' is not [%d,%d] for an input of %d features",
                           wp->name, m, k, k);
    if (n->bias >= 0 && g->params[n->bias].count != (size_t)m)
        return incept_fail(INCEPT_ERR_SHAPE, "bias '%s' has %zu values, expected %d",
                           g->params[n->bias].name, g->params[n->bias].count, m);
    *c = m, *h = *w = 1;
    return INCEPT_OK;
}

static long long fc_macs(const incept_graph *g, const incept_node *n)
{
    const incept_value *in = incept_node_input(g, n, 0);
    return (long long)in->c * in->h * in->w * n->attrs.out_channels;
}

#define GEMV_BATCH 8 /* up to this many samples: dot products */
#define PARTIALS 16  /* independent partial sums: vectorizable, and the same order every time */

static float dot(const float *restrict x, const float *restrict w, int k)
{
    float partial[PARTIALS] = {0};
    int i = 0;
    for (; i + PARTIALS <= k; i += PARTIALS)
        for (int l = 0; l < PARTIALS; l++)
            partial[l] += x[i + l] * w[i + l];
    for (; i < k; i++)
        partial[i % PARTIALS] += x[i] * w[i];
    float sum = 0.0f;
    for (int l = 0; l < PARTIALS; l++)
        sum += partial[l];
    return sum;
}

static size_t fc_workspace(const incept_graph *g, const incept_node *n, const incept_run_config *cfg)
{
    const incept_value *in = incept_node_input(g, n, 0);
    if (cfg->batch <= GEMV_BATCH)
        return 0;
    return incept_gemm_workspace(cfg->batch, n->attrs.out_channels, in->c * in->h * in->w,
                                 cfg->threads);
}

static void fc_forward(const incept_op_args *args)
{
    const incept_view *in = &args->inputs[0], *out = &args->output;
    const int k = in->c * in->h * in->w, m = out->c, relu = args->node->attrs.relu;
    const float hi = args->node->attrs.relu_max; /* a fused ReLU6's bound (inf: none) */
    if (in->n > GEMV_BATCH) {
        incept_gemm_bt(args->threads, in->n, m, k, in->data, (int)in->batch_stride, args->weight, k,
                       out->data, (int)out->batch_stride, args->workspace);
        for (int s = 0; s < in->n; s++) {
            float *y = out->data + s * out->batch_stride;
            for (int j = 0; j < m; j++) {
                float v = y[j] + (args->bias ? args->bias[j] : 0.0f);
                y[j] = relu ? (v < 0.0f ? 0.0f : v > hi ? hi : v) : v;
            }
        }
        return;
    }
#pragma omp parallel for num_threads(args->threads) schedule(static)
    for (int j = 0; j < m; j++) {
        const float *w = args->weight + (size_t)j * k;
        for (int s = 0; s < in->n; s++) {
            float v = dot(in->data + s * in->batch_stride, w, k) + (args->bias ? args->bias[j] : 0.0f);
            out->data[s * out->batch_stride + j] = relu ? (v < 0.0f ? 0.0f : v > hi ? hi : v) : v;
        }
    }
}

/* y = x W^T + b:  db += sum over the batch of dy;  dW[M, K] += dy^T x;  dx[N, K] += dy W. */
static size_t fc_backward_workspace(const incept_graph *g, const incept_node *n,
                                    const incept_run_config *cfg)
{
    const incept_value *in = incept_node_input(g, n, 0);
    int k = in->c * in->h * in->w, m = n->attrs.out_channels;
    return (size_t)m * cfg->batch + incept_gemm_workspace(m, k, cfg->batch, cfg->threads) +
           incept_gemm_workspace(cfg->batch, k, m, cfg->threads);
}

static void fc_backward(const incept_backward_args *args)
{
    const incept_view *in = &args->inputs[0], *dx = &args->input_grads[0];
    incept_view dy = args->output_grad;
    if (args->node->attrs.relu)
        incept_activation_mask_grad(&args->output, &dy, args->node->attrs.relu_max);
    const int n = in->n, k = in->c * in->h * in->w, m = dy.c;
    float *dyt = args->workspace, *packing = dyt + (size_t)m * n;
    for (int s = 0; s < n; s++)
        for (int j = 0; j < m; j++) {
            float v = dy.data[s * dy.batch_stride + j];
            dyt[(size_t)j * n + s] = v;
            if (args->bias_grad)
                args->bias_grad[j] += v;
        }
    incept_gemm_accumulate(args->threads, m, k, n, dyt, n, in->data, (int)in->batch_stride, 0,
                           args->weight_grad, k, packing);
    if (dx->data)
        incept_gemm_accumulate(args->threads, n, k, m, dy.data, (int)dy.batch_stride, args->weight, k,
                               0, dx->data, (int)dx->batch_stride, packing);
}

static void fc_describe(const incept_graph *g, const incept_node *n, int drawing, char *buf, size_t size)
{
    if (drawing)
        snprintf(buf, size, "linear\\n%d", g->values[n->output].c);
    else
        snprintf(buf, size, "linear");
}

/* Gemm (transB = 1: our weight is [out, in]) after a Flatten when ONNX sees a 4-D input. */
static incept_status fc_to_onnx(const incept_onnx_export *e)
{
    const incept_graph *g = e->g;
    const incept_node *n = e->n;
    const char *in = e->in;
    char flat[1100];
    int ok = 1;
    if (e->rank[n->inputs[0]] != 2) {
        snprintf(flat, sizeof flat, "%s/flat", g->values[n->output].name);
        const char *fin[] = {in, NULL};
        struct Onnx__AttributeProto *fa[] = {incept_onnx_put_int(e->w, "axis", 1), NULL};
        ok = incept_onnx_put_node(e->w, "Flatten", flat, fin, flat, fa);
        in = flat;
    }
    const char *ins[] = {in, g->params[n->weight].name, n->bias >= 0 ? g->params[n->bias].name : NULL, NULL};
    struct Onnx__AttributeProto *attrs[] = {incept_onnx_put_int(e->w, "transB", 1), NULL};
    ok = ok && incept_onnx_put_param(e->w, g, n->weight) && (n->bias < 0 || incept_onnx_put_param(e->w, g, n->bias)) &&
         incept_onnx_put_node(e->w, "Gemm", n->name, ins, e->out, attrs);
    e->rank[n->output] = 2;
    return ok ? INCEPT_OK : INCEPT_ERR_NOMEM;
}

/* Gemm (transB either way, alpha and beta folded into the parameters, C per output or a scalar). */
static incept_status gemm_from_onnx(importer *im, const Onnx__NodeProto *n)
{
    binding *x;
    incept_status st = incept_onnx_activation(im, n, 0, &x);
    if (st)
        return st;
    if (incept_onnx_attr_int(n, "transA", 0) != 0)
        return incept_onnx_node_error(im, n, INCEPT_ERR_UNSUPPORTED, "%s", "transA = 1");
    const Onnx__TensorProto *w = incept_onnx_constant_input(im, n, 1);
    if (!w || w->n_dims != 2)
        return incept_onnx_node_error(im, n, INCEPT_ERR_UNSUPPORTED, "%s", "B must be a 2-D initializer");
    int trans_b = incept_onnx_attr_int(n, "transB", 0) != 0;
    float alpha = incept_onnx_attr_float(n, "alpha", 1.0f), beta = incept_onnx_attr_float(n, "beta", 1.0f);
    int wd[2];
    if ((st = incept_onnx_tensor_dims(im, n, w, wd, 2)))
        return st;
    int m = trans_b ? wd[0] : wd[1], k = trans_b ? wd[1] : wd[0];
    const incept_value *in = &im->graph->values[x->value];
    if (in->c * in->h * in->w != k) {
        char detail[128];
        snprintf(detail, sizeof detail, "A has %d features, B expects %d", in->c * in->h * in->w, k);
        return incept_onnx_node_error(im, n, INCEPT_ERR_SHAPE, "%s", detail);
    }
    int dims[2] = {m, k}, weight, bias = -1;
    if ((st = incept_onnx_weight_param(im, n, 1, 2, dims, !trans_b, alpha, &weight)))
        return st;
    if (incept_onnx_has_input(n, 2)) {
        const Onnx__TensorProto *c = incept_onnx_constant_input(im, n, 2);
        if (!c || (incept_onnx_tensor_count(c) != (size_t)m && incept_onnx_tensor_count(c) != 1))
            return incept_onnx_node_error(im, n, INCEPT_ERR_UNSUPPORTED, "%s",
                              "C must be a constant with one value per output, or a scalar");
        if (incept_onnx_tensor_count(c) == 1) { /* broadcast to every output */
            size_t count;
            float *one, *values = NULL;
            if ((st = incept_onnx_constant_floats(im, n, 2, &count, &one)))
                return st;
            if (!(values = incept_malloc(sizeof(float) * (size_t)m)))
                return free(one), INCEPT_ERR_NOMEM;
            for (int j = 0; j < m; j++)
                values[j] = one[0] * beta;
            free(one);
            if ((st = incept_onnx_node_param(im, n, "bias", values, m, &bias)))
                return st;
            im->graph->params[bias].frozen = 1; /* see emit_affine */
        } else if ((st = incept_onnx_weight_param(im, n, 2, 1, &m, 0, beta, &bias))) {
            return st;
        }
    }
    incept_attrs a = incept_attrs_default();
    a.out_channels = m;
    return incept_onnx_emit(im, n, "fc", &x->value, 1, &a, weight, bias, 2);
}

/* MatMul of an activation [N, K] and a constant [K, M]: a fully connected layer. */
static incept_status matmul_from_onnx(importer *im, const Onnx__NodeProto *n)
{
    binding *x;
    incept_status xst = incept_onnx_activation(im, n, 0, &x);
    if (xst)
        return xst;
    const Onnx__TensorProto *w = incept_onnx_constant_input(im, n, 1);
    const incept_value *v = &im->graph->values[x->value];
    if (!w || w->n_dims != 2 || w->dims[0] != (int64_t)v->c * v->h * v->w)
        return incept_onnx_node_error(im, n, INCEPT_ERR_UNSUPPORTED, "%s", "B must be a [K, M] initializer");
    int dims[2] = {(int)w->dims[1], (int)w->dims[0]}, weight;
    incept_status st = incept_onnx_weight_param(im, n, 1, 2, dims, 1, 1.0f, &weight);
    if (st)
        return st;
    incept_attrs a = incept_attrs_default();
    a.out_channels = dims[0];
    return incept_onnx_emit(im, n, "fc", &x->value, 1, &a, weight, -1, 2);
}

static incept_status fc_from_onnx(importer *im, const Onnx__NodeProto *n)
{
    return strcmp(n->op_type, "MatMul") == 0 ? matmul_from_onnx(im, n) : gemm_from_onnx(im, n);
}

/* ---- the N-d reference (the generic path: any rank and dtype; nd/nd.h) ---- */

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

/* Gemm's attributes, for its forward and backward alike. */
static void gemm_attrs(const incept_nd_context *ctx, int *trans_a, int *trans_b, float *alpha, float *beta)
{
    *trans_a = incept_onnx_attr_int(ctx->node, "transA", 0) != 0;
    *trans_b = incept_onnx_attr_int(ctx->node, "transB", 0) != 0;
    *alpha = incept_onnx_attr_float(ctx->node, "alpha", 1.0f);
    *beta = incept_onnx_attr_float(ctx->node, "beta", 1.0f);
}

INCEPT_ND_OP(gemm)
{
    (void)n_out;
    incept_status st;
    if ((st = incept_nd_expect(ctx, in, n_in, 0, INCEPT_FLOAT32, 2, 2)) ||
        (st = incept_nd_expect(ctx, in, n_in, 1, INCEPT_FLOAT32, 2, 2)))
        return st;
    int trans_a, trans_b;
    float alpha, beta;
    gemm_attrs(ctx, &trans_a, &trans_b, &alpha, &beta);
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

/* MatMul's shapes: A[..., M, K] times B[..., K, N] over the broadcast batch axes (a rank-1 A is
 * [1, K], a rank-1 B [K, 1], that axis dropped from the result); the result's dims, and the
 * strides of A's and B's matrices along the batch axes. */
typedef struct {
    long long m, k, n, dims[INCEPT_MAX_RANK + 2], sa[INCEPT_MAX_RANK], sb[INCEPT_MAX_RANK];
    int batch_rank, rank;
    size_t batches;
} matmul_plan;

static incept_status matmul_plan_of(const incept_nd_context *ctx, const incept_tensor *a,
                                    const incept_tensor *b, matmul_plan *p)
{
    /* the batch axes as arrays of their own, to broadcast them */
    incept_tensor a_batch = {.rank = a->rank > 2 ? a->rank - 2 : 0};
    incept_tensor b_batch = {.rank = b->rank > 2 ? b->rank - 2 : 0};
    memcpy(a_batch.dims, a->dims, sizeof(long long) * (size_t)a_batch.rank);
    memcpy(b_batch.dims, b->dims, sizeof(long long) * (size_t)b_batch.rank);
    p->m = a->rank == 1 ? 1 : a->dims[a->rank - 2], p->k = a->dims[a->rank - 1];
    long long kb = b->rank == 1 ? b->dims[0] : b->dims[b->rank - 2];
    p->n = b->rank == 1 ? 1 : b->dims[b->rank - 1];
    if (p->k != kb)
        return incept_nd_fail(ctx, INCEPT_ERR_SHAPE, "A has %lld columns and B %lld rows", p->k, kb);
    if (!fits_int(p->m) || !fits_int(p->n) || !fits_int(p->k))
        return incept_nd_fail(ctx, INCEPT_ERR_UNSUPPORTED, "a product of %lld x %lld x %lld", p->m, p->n,
                              p->k);
    const incept_tensor *batches[2] = {&a_batch, &b_batch};
    incept_status st = incept_nd_broadcast_shape(ctx, batches, 2, &p->batch_rank, p->dims);
    if (st)
        return st;
    incept_nd_broadcast_strides(&a_batch, p->batch_rank, p->dims, p->sa);
    incept_nd_broadcast_strides(&b_batch, p->batch_rank, p->dims, p->sb);
    p->batches = 1;
    for (int d = 0; d < p->batch_rank; d++)
        p->batches *= (size_t)p->dims[d];
    p->rank = p->batch_rank;
    if (a->rank > 1)
        p->dims[p->rank++] = p->m;
    if (b->rank > 1)
        p->dims[p->rank++] = p->n;
    return INCEPT_OK;
}

/* Steps the matrices' offsets oa, ob to the next batch entry. */
static void matmul_next(const matmul_plan *p, long long *idx, long long *oa, long long *ob)
{
    for (int d = p->batch_rank - 1; d >= 0; d--) {
        *oa += p->sa[d], *ob += p->sb[d];
        if (++idx[d] < p->dims[d])
            break;
        *oa -= p->sa[d] * p->dims[d], *ob -= p->sb[d] * p->dims[d];
        idx[d] = 0;
    }
}

INCEPT_ND_OP(matmul)
{
    (void)n_out;
    incept_status st;
    matmul_plan p;
    if ((st = incept_nd_expect(ctx, in, n_in, 0, INCEPT_FLOAT32, 1, 0)) ||
        (st = incept_nd_expect(ctx, in, n_in, 1, INCEPT_FLOAT32, 1, 0)) ||
        (st = matmul_plan_of(ctx, in[0], in[1], &p)) ||
        (st = incept_nd_array_alloc(ctx, out, INCEPT_FLOAT32, p.rank, p.dims)))
        return st;
    long long m = p.m, k = p.k, n = p.n, idx[INCEPT_MAX_RANK] = {0};
    float *workspace = workspace_for(ctx, (int)m, (int)n, (int)k);
    if (!workspace)
        return INCEPT_ERR_NOMEM;
    const float *a_data = in[0]->data, *b_data = in[1]->data;
    float *y = out->data;
    long long oa = 0, ob = 0;
    for (size_t i = 0; i < p.batches; i++) {
        product(ctx, (int)m, (int)n, (int)k, a_data + oa * m * k, b_data + ob * k * n, 0,
                y + (long long)i * m * n, workspace);
        matmul_next(&p, idx, &oa, &ob);
    }
    free(workspace);
    return INCEPT_OK;
}

/* ---- backward (plain loops: a reference, as the forwards above) ---- */

/* For Y = alpha op(A) op(B) + beta C: op(A)'s gradient alpha dY op(B)^T, op(B)'s alpha op(A)^T dY,
 * written back through the transposes; C's beta dY, summed over the axes it was broadcast along. */
INCEPT_ND_GRAD(gemm)
{
    incept_status st = incept_nd_grad_expect(ctx, in, n_in, out, n_out, dout, din);
    if (st || n_in < 2 || n_out < 1 || !dout[0])
        return st;
    int trans_a, trans_b;
    float alpha, beta;
    gemm_attrs(ctx, &trans_a, &trans_b, &alpha, &beta);
    const incept_tensor *a = in[0], *b = in[1], *c = n_in > 2 ? in[2] : NULL;
    if (a->rank != 2 || b->rank != 2 || out[0].rank != 2)
        return incept_nd_fail(ctx, INCEPT_ERR_SHAPE, "Gemm's A, B and Y are matrices");
    long long m = a->dims[trans_a], k = a->dims[!trans_a], n = b->dims[!trans_b];
    if (b->dims[trans_b] != k || out[0].dims[0] != m || out[0].dims[1] != n)
        return incept_nd_fail(ctx, INCEPT_ERR_SHAPE, "A, B and Y do not match");
    const float *g = dout[0]->data, *as = a->data, *bs = b->data;
    /* op(A)[i, l] and op(B)[l, j] as offsets into A and B */
#define GEMM_A_AT(i, l) (trans_a ? (l) * m + (i) : (i) * k + (l))
#define GEMM_B_AT(l, j) (trans_b ? (j) * k + (l) : (l) * n + (j))
    if (din[0]) {
        float *da = din[0]->data;
        for (long long i = 0; i < m; i++)
            for (long long l = 0; l < k; l++) {
                float sum = 0.0f;
                for (long long j = 0; j < n; j++)
                    sum += g[i * n + j] * bs[GEMM_B_AT(l, j)];
                da[GEMM_A_AT(i, l)] += alpha * sum;
            }
    }
    if (din[1]) {
        float *db = din[1]->data;
        for (long long l = 0; l < k; l++)
            for (long long j = 0; j < n; j++) {
                float sum = 0.0f;
                for (long long i = 0; i < m; i++)
                    sum += as[GEMM_A_AT(i, l)] * g[i * n + j];
                db[GEMM_B_AT(l, j)] += alpha * sum;
            }
    }
#undef GEMM_A_AT
#undef GEMM_B_AT
    if (c && n_in > 2 && din[2]) {
        long long strides[2];
        for (int d = 0; d < c->rank; d++)
            if (c->rank > 2 || (c->dims[d] != out[0].dims[2 - c->rank + d] && c->dims[d] != 1))
                return incept_nd_fail(ctx, INCEPT_ERR_SHAPE, "C does not broadcast to %lld x %lld", m, n);
        incept_nd_broadcast_strides(c, 2, out[0].dims, strides);
        float *dc = din[2]->data;
        for (long long i = 0; i < m; i++)
            for (long long j = 0; j < n; j++)
                dc[i * strides[0] + j * strides[1]] += beta * g[i * n + j];
    }
    return INCEPT_OK;
}

/* Per batch entry dA += dY B^T and dB += A^T dY; an A or B broadcast along batch axes gathers the
 * gradients of all the entries that read it. */
INCEPT_ND_GRAD(matmul)
{
    incept_status st = incept_nd_grad_expect(ctx, in, n_in, out, n_out, dout, din);
    matmul_plan p;
    if (st || n_in < 2 || n_out < 1 || !dout[0] || (!din[0] && !din[1]))
        return st;
    if ((st = matmul_plan_of(ctx, in[0], in[1], &p)))
        return st;
    if (incept_tensor_count(dout[0]) != p.batches * (size_t)(p.m * p.n))
        return incept_nd_fail(ctx, INCEPT_ERR_SHAPE, "the output's gradient does not match the product");
    long long m = p.m, k = p.k, n = p.n, idx[INCEPT_MAX_RANK] = {0}, oa = 0, ob = 0;
    const float *as = in[0]->data, *bs = in[1]->data;
    float *da = din[0] ? din[0]->data : NULL, *db = din[1] ? din[1]->data : NULL;
    for (size_t batch = 0; batch < p.batches; batch++) {
        const float *g = (const float *)dout[0]->data + (long long)batch * m * n;
        const float *a = as + oa * m * k, *b = bs + ob * k * n;
        for (long long i = 0; da && i < m; i++)
            for (long long l = 0; l < k; l++) {
                float sum = 0.0f;
                for (long long j = 0; j < n; j++)
                    sum += g[i * n + j] * b[l * n + j];
                da[oa * m * k + i * k + l] += sum;
            }
        for (long long l = 0; db && l < k; l++)
            for (long long i = 0; i < m; i++) {
                float v = a[i * k + l];
                float *row = db + ob * k * n + l * n;
                for (long long j = 0; j < n; j++)
                    row[j] += v * g[i * n + j];
            }
        matmul_next(&p, idx, &oa, &ob);
    }
    return INCEPT_OK;
}

const incept_op incept_op_fc = {
    .name = "fc", .min_inputs = 1, .max_inputs = 1,
    .infer = fc_infer, .multiply_adds = fc_macs, .workspace_floats = fc_workspace,
    .forward = fc_forward,
    .backward_workspace_floats = fc_backward_workspace,
    .backward = fc_backward,
    .label = "linear",
    .describe = fc_describe,
    .to_onnx = fc_to_onnx,
    .onnx_types = {"Gemm", "MatMul"},
    .from_onnx = fc_from_onnx,
    .fuses_activation = 1,
};
