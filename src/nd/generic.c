/* generic.c — the generic op: a node of the engine's graph evaluated by the N-d reference op of
 * its ONNX type (graph/session.c hands it its tensors). Here too the table of those ops by ONNX
 * type, which the importer consults for a node the fast path does not take. */
#include <string.h>

#include "nd/nd.h"
#include "ops/op.h"

typedef struct {
    const char *name;
    incept_nd_fn run;
} op_entry;

static const op_entry ops[] = {
    {"Add", incept_nd_add}, {"Sub", incept_nd_sub}, {"Mul", incept_nd_mul}, {"Div", incept_nd_div},
    {"Sum", incept_nd_sum}, {"Relu", incept_nd_relu}, {"Clip", incept_nd_clip}, {"Identity", incept_nd_identity},
    {"Dropout", incept_nd_dropout}, {"Reshape", incept_nd_reshape}, {"Flatten", incept_nd_flatten},
    {"Squeeze", incept_nd_squeeze}, {"Unsqueeze", incept_nd_unsqueeze}, {"Concat", incept_nd_concat},
    {"Gather", incept_nd_gather}, {"Shape", incept_nd_shape}, {"Constant", incept_nd_constant},
    {"Pad", incept_nd_pad}, {"Gemm", incept_nd_gemm}, {"MatMul", incept_nd_matmul}, {"Conv", incept_nd_conv},
    {"MaxPool", incept_nd_maxpool}, {"AveragePool", incept_nd_averagepool},
    {"GlobalAveragePool", incept_nd_globalaveragepool}, {"GlobalMaxPool", incept_nd_globalmaxpool},
    {"LRN", incept_nd_lrn}, {"BatchNormalization", incept_nd_batchnorm}, {"Softmax", incept_nd_softmax},
};

incept_nd_fn incept_nd_find_op(const char *op_type)
{
    for (size_t i = 0; op_type && i < sizeof ops / sizeof ops[0]; i++)
        if (strcmp(ops[i].name, op_type) == 0)
            return ops[i].run;
    return NULL;
}

/* Its node's nd function does the work (the session calls it with N-d tensors); nothing here is
 * NCHW, and it has no backward: a loss that depends on a generic node cannot be trained. */
const incept_op incept_op_generic = {
    .name = "generic", .min_inputs = 0, .max_inputs = 0,
};
