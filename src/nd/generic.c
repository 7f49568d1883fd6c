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
    {"Add", incept_nd_add, NULL},
    {"Sub", incept_nd_sub, NULL},
    {"Mul", incept_nd_mul, NULL},
    {"Div", incept_nd_div, NULL},
    {"Sum", incept_nd_sum, NULL},
    {"Relu", incept_nd_relu, NULL},
    {"Clip", incept_nd_clip, NULL},
    {"Identity", incept_nd_identity, NULL},
    {"Dropout", incept_nd_dropout, NULL},
    {"Reshape", incept_nd_reshape, NULL},
    {"Flatten", incept_nd_flatten, NULL},
    {"Squeeze", incept_nd_squeeze, NULL},
    {"Unsqueeze", incept_nd_unsqueeze, NULL},
    {"Concat", incept_nd_concat, NULL},
    {"Gather", incept_nd_gather, NULL},
    {"Shape", incept_nd_shape, NULL},
    {"Constant", incept_nd_constant, NULL},
    {"Pad", incept_nd_pad, NULL},
    {"Gemm", incept_nd_gemm, NULL},
    {"MatMul", incept_nd_matmul, NULL},
    {"Conv", incept_nd_conv, NULL},
    {"MaxPool", incept_nd_maxpool, NULL},
    {"AveragePool", incept_nd_averagepool, NULL},
    {"GlobalAveragePool", incept_nd_globalaveragepool, NULL},
    {"GlobalMaxPool", incept_nd_globalmaxpool, NULL},
    {"LRN", incept_nd_lrn, NULL},
    {"BatchNormalization", incept_nd_batchnorm, NULL},
    {"Softmax", incept_nd_softmax, NULL},
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

/* Its node's nd function does the work (the session calls it with N-d tensors); nothing here is
 * NCHW, and it has no backward: a loss that depends on a generic node cannot be trained. */
const incept_op incept_op_generic = {
    .name = "generic", .min_inputs = 0, .max_inputs = 0,
};
