/* registry.c — the table of ops by name, used by every file format and builder, and by the ONNX
 * op types they import. */
#include <string.h>

#include "ops/op.h"

static const incept_op *const all_ops[] = {
    &incept_op_conv,    &incept_op_relu,    &incept_op_maxpool, &incept_op_avgpool,
    &incept_op_globalavgpool, &incept_op_lrn, &incept_op_concat, &incept_op_fc,
    &incept_op_flatten, &incept_op_dropout, &incept_op_softmax, &incept_op_pad,
    &incept_op_channels, &incept_op_affine, &incept_op_add, &incept_op_reshape,
    &incept_op_batchnorm, &incept_op_clip,
};

const incept_op *incept_op_find(const char *name)
{
    for (size_t i = 0; i < sizeof all_ops / sizeof all_ops[0]; i++)
        if (strcmp(all_ops[i]->name, name) == 0)
            return all_ops[i];
    return NULL;
}

const incept_op *incept_op_for_onnx(const char *type)
{
    for (size_t i = 0; type && i < sizeof all_ops / sizeof all_ops[0]; i++)
        for (int k = 0; k < 3 && all_ops[i]->onnx_types[k]; k++)
            if (strcmp(all_ops[i]->onnx_types[k], type) == 0)
                return all_ops[i]->from_onnx ? all_ops[i] : NULL;
    return NULL;
}

incept_status incept_no_description_attrs(struct incept_desc_line *l, incept_attrs *a)
{
    (void)l, (void)a;
    return INCEPT_OK;
}
