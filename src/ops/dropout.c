/* dropout.c — dropout with probability `ratio`; the identity at inference (PyTorch scales
 * the kept activations by 1/(1-ratio) during training, so nothing changes at inference). */
#include "core/status.h"
#include "ops/op.h"

void incept_copy_forward(const incept_op_args *args);

static incept_status dropout_infer(const incept_graph *g, const incept_node *n, int *c, int *h, int *w)
{
    const incept_value *in = incept_node_input(g, n, 0);
    if (!(n->attrs.ratio >= 0.0f && n->attrs.ratio < 1.0f))
        return incept_fail(INCEPT_ERR_ARG, "dropout ratio must be in [0, 1), got %g",
                           (double)n->attrs.ratio);
    *c = in->c, *h = in->h, *w = in->w;
    return INCEPT_OK;
}

const incept_op incept_op_dropout = {
    .name = "dropout", .min_inputs = 1, .max_inputs = 1, .in_place = 1,
    .infer = dropout_infer, .forward = incept_copy_forward,
};
