/* affine.c — y = x * scale[c] + shift[c] per channel (one value for all channels when the
 * parameters hold one): ONNX Mul/Add by constants (imported here, with Add and Sum of
 * activations, which become add nodes), and BatchNormalization at inference (batchnorm.c
 * imports it) where it cannot be folded into the convolution before it. */
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "io/onnx_import.h"
#include "ops/op.h"

static incept_status affine_infer(const incept_graph *g, const incept_node *n, int *c, int *h, int *w)
{
    const incept_value *in = incept_node_input(g, n, 0);
    if (n->weight < 0 || n->bias < 0)
        return incept_fail(INCEPT_ERR_ARG, "affine needs a scale and a shift");
    size_t ns = g->params[n->weight].count, nb = g->params[n->bias].count;
    if ((ns != 1 && ns != (size_t)in->c) || (nb != 1 && nb != (size_t)in->c))
        return incept_fail(INCEPT_ERR_SHAPE, "scale of %zu and shift of %zu values for %d channels",
                           ns, nb, in->c);
    *c = in->c, *h = in->h, *w = in->w;
    return INCEPT_OK;
}

static void affine_forward(const incept_op_args *args)
{
    const incept_view *in = &args->inputs[0], *out = &args->output;
    const incept_graph *g = args->graph;
    const int per_channel_scale = g->params[args->node->weight].count > 1;
    const int per_channel_shift = g->params[args->node->bias].count > 1;
    size_t plane = (size_t)in->h * in->w;
    for (int s = 0; s < in->n; s++)
        for (int ch = 0; ch < in->c; ch++) {
            const float a = args->weight[per_channel_scale ? ch : 0];
            const float b = args->bias[per_channel_shift ? ch : 0];
            const float *x = in->data + s * in->batch_stride + ch * plane;
            float *y = out->data + s * out->batch_stride + ch * plane;
            for (size_t i = 0; i < plane; i++)
                y[i] = x[i] * a + b;
        }
}

static void affine_backward(const incept_backward_args *args)
{
    const incept_view *in = &args->inputs[0], *dy = &args->output_grad, *dx = &args->input_grads[0];
    const incept_graph *g = args->graph;
    const int per_channel_scale = g->params[args->node->weight].count > 1;
    const int per_channel_shift = g->params[args->node->bias].count > 1;
    size_t plane = (size_t)in->h * in->w;
    for (int s = 0; s < in->n; s++)
        for (int ch = 0; ch < in->c; ch++) {
            const float *x = in->data + s * in->batch_stride + ch * plane;
            const float *gy = dy->data + s * dy->batch_stride + ch * plane;
            const float a = args->weight[per_channel_scale ? ch : 0];
            float da = 0.0f, db = 0.0f;
            for (size_t i = 0; i < plane; i++) {
                da += gy[i] * x[i];
                db += gy[i];
            }
            args->weight_grad[per_channel_scale ? ch : 0] += da;
            args->bias_grad[per_channel_shift ? ch : 0] += db;
            if (dx->data) {
                float *d = dx->data + s * dx->batch_stride + ch * plane;
                for (size_t i = 0; i < plane; i++)
                    d[i] += gy[i] * a;
            }
        }
}

/* y = x * scale + shift per channel, scale and shift computed from the file (taken). */
incept_status incept_onnx_emit_affine(importer *im, const Onnx__NodeProto *n, binding *x, float *scale,
                                      int n_scale, float *shift, int n_shift, const char *shift_name)
{
    int weight, bias;
    incept_status st = incept_onnx_node_param(im, n, "scale", scale, n_scale, &weight);
    if (st) {
        free(shift);
        return st;
    }
    if ((st = incept_onnx_node_param(im, n, shift_name, shift, n_shift, &bias)))
        return st;
    /* values computed from the file's constants have no initializer to go back to on export:
     * they stay as imported (PyTorch's transform_input constants are not trained either) */
    im->graph->params[weight].frozen = im->graph->params[bias].frozen = 1;
    incept_attrs a = incept_attrs_default();
    return incept_onnx_emit(im, n, "affine", &x->value, 1, &a, weight, bias, x->rank);
}

/* ONNX Mul or Add of an activation and a constant scalar or per-channel vector: an affine; Add
 * or Sum of activations of one shape: an add node (add.c). */
static incept_status affine_from_onnx(importer *im, const Onnx__NodeProto *n)
{
    const int add = strcmp(n->op_type, "Mul") != 0; /* Add or Sum */
    int constant = -1;
    for (size_t i = 0; i < n->n_input && i < 2; i++) {
        binding *b = incept_onnx_has_input(n, i) ? incept_onnx_find_binding(im, n->input[i]) : NULL;
        if (b && b->tensor)
            constant = (int)i;
    }
    if (constant < 0) {
        if (!add)
            return incept_onnx_node_error(im, n, INCEPT_ERR_UNSUPPORTED, "%s", "a product of two activations");
        int *inputs = incept_malloc(sizeof(int) * (n->n_input ? n->n_input : 1));
        if (!inputs)
            return INCEPT_ERR_NOMEM;
        incept_status st = INCEPT_OK;
        int rank = 4;
        for (size_t i = 0; i < n->n_input && !st; i++) {
            binding *b;
            if (!(st = incept_onnx_activation(im, n, i, &b)))
                inputs[i] = b->value, rank = b->rank;
        }
        incept_attrs a = incept_attrs_default();
        if (!st)
            st = incept_onnx_emit(im, n, "add", inputs, (int)n->n_input, &a, -1, -1, rank);
        free(inputs);
        return st;
    }
    if (n->n_input != 2)
        return incept_onnx_node_error(im, n, INCEPT_ERR_UNSUPPORTED, "%s", "more than two operands with a constant");
    binding *x;
    incept_status st = incept_onnx_activation(im, n, (size_t)(1 - constant), &x);
    if (st)
        return st;
    size_t count = 0;
    float *values;
    if ((st = incept_onnx_constant_floats(im, n, (size_t)constant, &count, &values)))
        return st;
    const incept_value *v = &im->graph->values[x->value];
    if (!values || (count != 1 && count != (size_t)v->c))
        return free(values), incept_onnx_node_error(im, n, INCEPT_ERR_UNSUPPORTED, "%s",
                                        "a constant that is neither a scalar nor one value per channel");
    float *other = incept_malloc(sizeof(float));
    if (!other)
        return free(values), INCEPT_ERR_NOMEM;
    other[0] = add ? 1.0f : 0.0f; /* Add: scale 1, shift = constant; Mul: scale = constant, shift 0 */
    return add ? incept_onnx_emit_affine(im, n, x, other, 1, values, (int)count, "shift")
               : incept_onnx_emit_affine(im, n, x, values, (int)count, other, 1, "shift");
}

const incept_op incept_op_affine = {
    .name = "affine", .min_inputs = 1, .max_inputs = 1, .in_place = 1,
    .infer = affine_infer, .forward = affine_forward, .backward = affine_backward,
    .onnx_types = {"Mul", "Add", "Sum"},
    .from_onnx = affine_from_onnx,
};
