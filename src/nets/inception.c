/* inception.c — the Inception module (Figure 2 of the paper) and the auxiliary classifier,
 * built from single layers. The branches read the same input and their outputs are
 * concatenated on channels; the planner lets each branch write straight into its slice. */
#include <stdio.h>

#include "core/status.h"
#include "nets/layers.h"

static const int no_pad[4] = {0, 0, 0, 0};

/* One branch: an optional 1x1 reduction, then a k x k convolution padded to keep the size. */
static incept_status reduce_then_conv(incept_builder *b, const char *module, const char *tag,
                                      int input, int reduce, int width, int k,
                                      incept_role reduce_role, incept_role role, int *out)
{
    char name[512];
    int x = input;
    incept_status st;
    if (reduce > 0) {
        snprintf(name, sizeof name, "%s/%s_reduce", module, tag);
        if ((st = incept_build_conv(b, name, x, reduce, 1, 1, 1, no_pad, 1, reduce_role, &x)))
            return st;
    }
    int pad[4] = {k / 2, k / 2, k / 2, k / 2};
    snprintf(name, sizeof name, "%s/%s", module, tag);
    return incept_build_conv(b, name, x, width, k, k, 1, pad, 1, role, out);
}

incept_status incept_build_inception(incept_builder *b, const char *name, int input,
                                     const incept_inception_widths *w, int *out)
{
    if (w->n1x1 < 0 || w->n3x3_reduce < 0 || w->n3x3 < 0 || w->n5x5_reduce < 0 || w->n5x5 < 0 ||
        w->pool_proj < 0)
        return incept_fail(INCEPT_ERR_ARG, "%s: widths must not be negative", name);
    if ((w->n3x3_reduce && !w->n3x3) || (w->n5x5_reduce && !w->n5x5))
        return incept_fail(INCEPT_ERR_ARG, "%s: a reduction without its convolution", name);
    incept_builder module = {b->graph, name, b->aux, b->batchnorm};
    int branches[4], n = 0;
    char layer[512];
    const int pool_pad[4] = {1, 1, 1, 1};
    incept_status st;
    if (w->n1x1 > 0) {
        snprintf(layer, sizeof layer, "%s/1x1", name);
        if ((st = incept_build_conv(&module, layer, input, w->n1x1, 1, 1, 1, no_pad, 1,
                                    INCEPT_ROLE_1X1, &branches[n++])))
            return st;
    }
    if (w->n3x3 > 0 && (st = reduce_then_conv(&module, name, "3x3", input, w->n3x3_reduce, w->n3x3,
                                              3, INCEPT_ROLE_3X3_REDUCE, INCEPT_ROLE_3X3,
                                              &branches[n++])))
        return st;
    if (w->n5x5 > 0 && (st = reduce_then_conv(&module, name, "5x5", input, w->n5x5_reduce, w->n5x5,
                                              5, INCEPT_ROLE_5X5_REDUCE, INCEPT_ROLE_5X5,
                                              &branches[n++])))
        return st;
    snprintf(layer, sizeof layer, "%s/pool", name);
    int pooled;
    if ((st = incept_build_pool(&module, "maxpool", layer, input, 3, 1, pool_pad, 1, INCEPT_ROLE_POOL,
                                &pooled)))
        return st;
    branches[n] = pooled;
    if (w->pool_proj > 0) {
        snprintf(layer, sizeof layer, "%s/pool_proj", name);
        if ((st = incept_build_conv(&module, layer, pooled, w->pool_proj, 1, 1, 1, no_pad, 1,
                                    INCEPT_ROLE_POOL_PROJ, &branches[n])))
            return st;
    }
    n++;
    return incept_build_op(&module, "concat", name, branches, n, NULL, INCEPT_ROLE_CONCAT, out);
}

incept_status incept_build_aux_classifier(incept_builder *b, const char *name, int input,
                                          int conv_channels, int fc_features, int classes, int *out)
{
    incept_builder head = {b->graph, name, 1, b->batchnorm};
    char layer[512];
    int x;
    incept_status st;
    snprintf(layer, sizeof layer, "%s/pool", name);
    if ((st = incept_build_pool(&head, "avgpool", layer, input, 5, 3, no_pad, 1, INCEPT_ROLE_NONE, &x)))
        return st;
    snprintf(layer, sizeof layer, "%s/conv", name);
    if ((st = incept_build_conv(&head, layer, x, conv_channels, 1, 1, 1, no_pad, 1, INCEPT_ROLE_NONE,
                                &x)))
        return st;
    snprintf(layer, sizeof layer, "%s/flatten", name);
    if ((st = incept_build_op(&head, "flatten", layer, &x, 1, NULL, INCEPT_ROLE_NONE, &x)))
        return st;
    snprintf(layer, sizeof layer, "%s/fc", name);
    if ((st = incept_build_fc(&head, layer, x, fc_features, 1, &x)))
        return st;
    incept_attrs drop = incept_attrs_default();
    drop.ratio = 0.7f;
    snprintf(layer, sizeof layer, "%s/dropout", name);
    if ((st = incept_build_op(&head, "dropout", layer, &x, 1, &drop, INCEPT_ROLE_NONE, &x)))
        return st;
    snprintf(layer, sizeof layer, "%s/classifier", name);
    return incept_build_fc(&head, layer, x, classes, 0, out);
}
