/* fc.c — fully connected layer (ONNX Gemm with transB = 1, PyTorch Linear):
 * y[N, M] = x[N, K] * W[M, K]^T + b, with an optionally fused ReLU. The input's C*H*W is K. */
#include <cblas.h>

#include "core/status.h"
#include "ops/op.h"

void incept_relu_inplace(float *x, size_t count);

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

static void fc_forward(const incept_op_args *args)
{
    const incept_tensor *in = &args->inputs[0], *out = &args->output;
    int k = in->c * in->h * in->w, m = out->c;
    for (int s = 0; s < in->n; s++) {
        float *y = out->data + s * out->batch_stride;
        for (int j = 0; j < m; j++)
            y[j] = args->bias ? args->bias[j] : 0.0f;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, in->n, m, k, 1.0f, in->data,
                (int)in->batch_stride, args->weight, k, 1.0f, out->data, (int)out->batch_stride);
    if (args->node->attrs.relu)
        for (int s = 0; s < in->n; s++)
            incept_relu_inplace(out->data + s * out->batch_stride, (size_t)m);
}

const incept_op incept_op_fc = {
    .name = "fc", .min_inputs = 1, .max_inputs = 1,
    .infer = fc_infer, .multiply_adds = fc_macs, .forward = fc_forward,
};
