/* channels.c — a run of channels of the input, [first, first + count): ONNX Gather on the
 * channel axis with constant indices, as torchvision's transform_input uses it. */
#include <stdint.h>
#include <string.h>

#include "core/status.h"
#include "io/onnx_import.h"
#include "ops/op.h"

static incept_status channels_infer(const incept_graph *g, const incept_node *n, int *c, int *h, int *w)
{
    const incept_value *in = incept_node_input(g, n, 0);
    const incept_attrs *a = &n->attrs;
    if (a->size < 1 || a->groups < 0 || a->groups + a->size > in->c) /* groups: first, size: count */
        return incept_fail(INCEPT_ERR_SHAPE, "channels %d..%d of a %d-channel input", a->groups,
                           a->groups + a->size - 1, in->c);
    *c = a->size, *h = in->h, *w = in->w;
    return INCEPT_OK;
}

static void channels_forward(const incept_op_args *args)
{
    const incept_view *in = &args->inputs[0], *out = &args->output;
    size_t plane = (size_t)in->h * in->w, count = (size_t)out->c * plane;
    for (int s = 0; s < in->n; s++)
        memcpy(out->data + s * out->batch_stride,
               in->data + s * in->batch_stride + (size_t)args->node->attrs.groups * plane,
               count * sizeof(float));
}

static void channels_backward(const incept_backward_args *args)
{
    const incept_view *dy = &args->output_grad;
    incept_view dx = args->input_grads[0];
    if (!dx.data)
        return;
    dx.data += (size_t)args->node->attrs.groups * dx.h * dx.w; /* the slice the output came from */
    dx.c = dy->c;
    incept_view_accumulate(&dx, dy);
}

/* ONNX Gather on the channel axis with constant indices: a run of channels (one index drops the axis,
 * as ONNX does: rank 3, the same memory in our NCHW layout). */
static incept_status channels_from_onnx(importer *im, const Onnx__NodeProto *n)
{
    binding *x;
    incept_status st = incept_onnx_activation(im, n, 0, &x);
    if (st)
        return st;
    int64_t axis = incept_onnx_axis(n, x, 0), idx[1024];
    const Onnx__TensorProto *t = incept_onnx_constant_input(im, n, 1);
    long count = t ? incept_onnx_tensor_int64s(t, idx, 1024) : -1;
    int c = im->graph->values[x->value].c;
    if (axis != 1 || x->rank != 4 || count < 1)
        return incept_onnx_node_error(im, n, INCEPT_ERR_UNSUPPORTED, "%s",
                          "only gathering channels of a 4-D tensor with constant indices");
    for (long i = 0; i < count; i++) {
        if (idx[i] < 0)
            idx[i] += c;
        if (idx[i] != idx[0] + i || idx[i] >= c)
            return incept_onnx_node_error(im, n, INCEPT_ERR_UNSUPPORTED, "%s", "indices that are not a run of channels");
    }
    incept_attrs a = incept_attrs_default();
    a.groups = (int)idx[0], a.size = (int)count; /* first channel, count */
    return incept_onnx_emit(im, n, "channels", &x->value, 1, &a, -1, -1, t->n_dims == 0 ? 3 : 4);
}

const incept_op incept_op_channels = {
    .name = "channels", .min_inputs = 1, .max_inputs = 1,
    .infer = channels_infer, .forward = channels_forward, .backward = channels_backward,
    .onnx_types = {"Gather"},
    .from_onnx = channels_from_onnx,
};
