/* generic.c — the generic op: a node of the engine's graph evaluated by the N-d reference op of
 * its ONNX type (graph/session.c hands it its tensors). Here too the table of those ops by ONNX
 * type, which the importer consults for a node the fast path does not take. */
#include <string.h>

#include "nd/nd.h"
#include "ops/op.h"

typedef struct {
    const char *name;
    incept_nd_fn run;
    incept_nd_grad_fn grad; /* NULL: no backward */
} op_entry;

static const op_entry ops[] = {
    {"Add", incept_nd_add, incept_nd_add_grad},
    {"Sub", incept_nd_sub, incept_nd_sub_grad},
    {"Mul", incept_nd_mul, incept_nd_mul_grad},
    {"Div", incept_nd_div, incept_nd_div_grad},
    {"Sum", incept_nd_sum, incept_nd_sum_grad},
    {"Relu", incept_nd_relu, incept_nd_relu_grad},
    {"Clip", incept_nd_clip, incept_nd_clip_grad},
    {"Identity", incept_nd_identity, incept_nd_identity_grad},
    {"Dropout", incept_nd_dropout, incept_nd_dropout_grad},
    {"Reshape", incept_nd_reshape, incept_nd_reshape_grad},
    {"Flatten", incept_nd_flatten, incept_nd_flatten_grad},
    {"Squeeze", incept_nd_squeeze, incept_nd_squeeze_grad},
    {"Unsqueeze", incept_nd_unsqueeze, incept_nd_unsqueeze_grad},
    {"Concat", incept_nd_concat, incept_nd_concat_grad},
    {"Gather", incept_nd_gather, incept_nd_gather_grad},
    {"Shape", incept_nd_shape, NULL},       /* int64 results: nothing flows back */
    {"Constant", incept_nd_constant, NULL}, /* no inputs */
    {"Pad", incept_nd_pad, incept_nd_pad_grad},
    {"Gemm", incept_nd_gemm, incept_nd_gemm_grad},
    {"MatMul", incept_nd_matmul, incept_nd_matmul_grad},
    {"Conv", incept_nd_conv, incept_nd_conv_grad},
    {"MaxPool", incept_nd_maxpool, incept_nd_maxpool_grad},
    {"AveragePool", incept_nd_averagepool, incept_nd_averagepool_grad},
    {"GlobalAveragePool", incept_nd_globalaveragepool, incept_nd_globalaveragepool_grad},
    {"GlobalMaxPool", incept_nd_globalmaxpool, incept_nd_globalmaxpool_grad},
    {"LRN", incept_nd_lrn, incept_nd_lrn_grad},
    /* none: it normalises with the running statistics here, while training's would use the
     * batch's own (and update the running ones), a different function to differentiate */
    {"BatchNormalization", incept_nd_batchnorm, NULL},
    {"Softmax", incept_nd_softmax, incept_nd_softmax_grad},
};

incept_nd_fn incept_nd_find_op(const char *op_type)
{
    for (size_t i = 0; op_type && i < sizeof ops / sizeof ops[0]; i++)
        if (strcmp(ops[i].name, op_type) == 0)
            return ops[i].run;
    return NULL;
}

incept_nd_grad_fn incept_nd_find_grad(const char *op_type)
{
    for (size_t i = 0; op_type && i < sizeof ops / sizeof ops[0]; i++)
        if (strcmp(ops[i].name, op_type) == 0)
            return ops[i].grad;
    return NULL;
}

/* Its node's nd function does the work (the session calls it with N-d tensors), and its op's
 * backward from the table above in training (train/generic_backward.c); nothing here is NCHW. */
const incept_op incept_op_generic = {
    .name = "generic", .min_inputs = 0, .max_inputs = 0,
};
