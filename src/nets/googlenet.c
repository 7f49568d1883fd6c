/* googlenet.c — GoogLeNet exactly as Table 1 of the paper lays it out (Caffe bvlc_googlenet
 * form: ReLU after every convolution, LRN after pool1 and conv2, max pools in ceil mode, 40%
 * dropout before the classifier, auxiliary classifiers on inception 4a and 4d). */
#include <string.h>

#include "core/status.h"
#include "nets/layers.h"

static const struct {
    const char *name;
    incept_inception_widths widths;
} table1[] = {
    {"inception_3a", {64, 96, 128, 16, 32, 32}},
    {"inception_3b", {128, 128, 192, 32, 96, 64}},
    {"inception_4a", {192, 96, 208, 16, 48, 64}},
    {"inception_4b", {160, 112, 224, 24, 64, 64}},
    {"inception_4c", {128, 128, 256, 24, 64, 64}},
    {"inception_4d", {112, 144, 288, 32, 64, 64}},
    {"inception_4e", {256, 160, 320, 32, 128, 128}},
    {"inception_5a", {256, 160, 320, 32, 128, 128}},
    {"inception_5b", {384, 192, 384, 48, 128, 128}},
};

incept_status incept_build_googlenet(incept_graph *g, int classes)
{
    static const int none[4] = {0, 0, 0, 0}, one[4] = {1, 1, 1, 1}, three[4] = {3, 3, 3, 3};
    incept_builder b = {g, NULL, 0, 0};
    incept_attrs lrn = incept_attrs_default(); /* size 5, alpha 1e-4, beta 0.75, bias 1 */
    incept_attrs drop = incept_attrs_default();
    drop.ratio = 0.4f;
    int x, aux;
    incept_status st;
    if (classes <= 0)
        return incept_fail(INCEPT_ERR_ARG, "GoogLeNet needs a positive number of classes");
    if ((st = incept_graph_set_input(g, "data", 3, 224, 224)))
        return st;
    x = g->input;
    if ((st = incept_build_conv(&b, "conv1", x, 64, 7, 7, 2, three, 1, INCEPT_ROLE_NONE, &x)) ||
        (st = incept_build_pool(&b, "maxpool", "pool1", x, 3, 2, none, 1, INCEPT_ROLE_NONE, &x)) ||
        (st = incept_build_op(&b, "lrn", "norm1", &x, 1, &lrn, INCEPT_ROLE_NONE, &x)) ||
        (st = incept_build_conv(&b, "conv2_reduce", x, 64, 1, 1, 1, none, 1, INCEPT_ROLE_NONE, &x)) ||
        (st = incept_build_conv(&b, "conv2", x, 192, 3, 3, 1, one, 1, INCEPT_ROLE_NONE, &x)) ||
        (st = incept_build_op(&b, "lrn", "norm2", &x, 1, &lrn, INCEPT_ROLE_NONE, &x)) ||
        (st = incept_build_pool(&b, "maxpool", "pool2", x, 3, 2, none, 1, INCEPT_ROLE_NONE, &x)))
        return st;
    for (size_t i = 0; i < sizeof table1 / sizeof table1[0]; i++) {
        const char *name = table1[i].name;
        if ((st = incept_build_inception(&b, name, x, &table1[i].widths, &x)))
            return st;
        if (strcmp(name, "inception_4a") == 0 &&
            (st = incept_build_aux_classifier(&b, "aux1", x, INCEPT_AUX_CONV_CHANNELS,
                                                 INCEPT_AUX_FC_FEATURES, classes, &aux)))
            return st;
        if (strcmp(name, "inception_4d") == 0 &&
            (st = incept_build_aux_classifier(&b, "aux2", x, INCEPT_AUX_CONV_CHANNELS,
                                                 INCEPT_AUX_FC_FEATURES, classes, &aux)))
            return st;
        const char *pool = strcmp(name, "inception_3b") == 0 ? "pool3"
                           : strcmp(name, "inception_4e") == 0 ? "pool4" : NULL;
        if (pool && (st = incept_build_pool(&b, "maxpool", pool, x, 3, 2, none, 1,
                                            INCEPT_ROLE_NONE, &x)))
            return st;
    }
    if ((st = incept_build_pool(&b, "avgpool", "pool5", x, 7, 1, none, 0, INCEPT_ROLE_NONE, &x)) ||
        (st = incept_build_op(&b, "flatten", "flatten", &x, 1, NULL, INCEPT_ROLE_NONE, &x)) ||
        (st = incept_build_op(&b, "dropout", "dropout", &x, 1, &drop, INCEPT_ROLE_NONE, &x)) ||
        (st = incept_build_fc(&b, "classifier", x, classes, 0, &x)))
        return st;
    g->output = x;
    return INCEPT_OK;
}
