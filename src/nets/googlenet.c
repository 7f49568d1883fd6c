/* googlenet.c — GoogLeNet exactly as Table 1 of the paper lays it out (Caffe bvlc_googlenet
 * form: ReLU after every convolution, LRN after pool1 and conv2, max pools in ceil mode, 40%
 * dropout before the classifier, auxiliary classifiers on inception 4a and 4d, global average
 * pooling: Table 1's 7x7 average pool at 224x224), or a variant of it under the knobs of
 * variant.h, applied as the description parser applies them to models/googlenet.incept. */
#include <string.h>

#include "core/status.h"
#include "nets/layers.h"
#include "nets/variant.h"

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

#define MODULES (int)(sizeof table1 / sizeof table1[0])

/* conv NAME with `channels` output channels after the width knob. */
static incept_status conv(incept_builder *b, const incept_knobs *k, const char *name, int x,
                          int channels, int kernel, int stride, const int pad[4], int *out)
{
    incept_status st = incept_knobs_scale(k, name, channels, &channels);
    return st ? st : incept_build_conv(b, name, x, channels, kernel, kernel, stride, pad, 1,
                                       INCEPT_ROLE_NONE, out);
}

incept_status incept_build_googlenet(incept_graph *g, int classes, const incept_knobs *k)
{
    static const int none[4] = {0, 0, 0, 0}, one[4] = {1, 1, 1, 1}, three[4] = {3, 3, 3, 3};
    incept_builder b = {g, NULL, 0, 0};
    incept_attrs lrn = incept_attrs_default(); /* size 5, alpha 1e-4, beta 0.75, bias 1 */
    incept_attrs drop = incept_attrs_default();
    drop.ratio = 0.4f;
    const char *names[MODULES];
    int x, built = 0, index = 0;
    incept_status st;
    if (classes <= 0)
        return incept_fail(INCEPT_ERR_ARG, "GoogLeNet needs a positive number of classes");
    for (int i = 0; i < MODULES; i++) {
        names[i] = table1[i].name;
        built += incept_knobs_copies(k, names[i]);
    }
    if ((st = incept_knobs_check_modules(k, names, MODULES, "GoogLeNet")) ||
        (st = incept_graph_set_input(g, "data", 3, k->input_h ? k->input_h : 224,
                                     k->input_w ? k->input_w : 224)))
        return st;
    x = g->input;
    if ((st = conv(&b, k, "conv1", x, 64, 7, 2, three, &x)) ||
        (st = incept_build_pool(&b, "maxpool", "pool1", x, 3, 2, none, 1, INCEPT_ROLE_NONE, &x)) ||
        (st = incept_build_op(&b, "lrn", "norm1", &x, 1, &lrn, INCEPT_ROLE_NONE, &x)) ||
        (st = conv(&b, k, "conv2_reduce", x, 64, 1, 1, none, &x)) ||
        (st = conv(&b, k, "conv2", x, 192, 3, 1, one, &x)) ||
        (st = incept_build_op(&b, "lrn", "norm2", &x, 1, &lrn, INCEPT_ROLE_NONE, &x)) ||
        (st = incept_build_pool(&b, "maxpool", "pool2", x, 3, 2, none, 1, INCEPT_ROLE_NONE, &x)))
        return st;
    for (int i = 0; i < MODULES; i++) {
        const char *name = table1[i].name;
        if ((st = incept_knobs_build_module(k, &b, name, x, &table1[i].widths, &index, built, &x)))
            return st;
        int aux;
        if (strcmp(name, "inception_4a") == 0 &&
            (st = incept_knobs_build_aux(k, &b, "aux1", x, classes, &aux)))
            return st;
        if (strcmp(name, "inception_4d") == 0 &&
            (st = incept_knobs_build_aux(k, &b, "aux2", x, classes, &aux)))
            return st;
        const char *pool = strcmp(name, "inception_3b") == 0 ? "pool3"
                           : strcmp(name, "inception_4e") == 0 ? "pool4" : NULL;
        if (pool && (st = incept_build_pool(&b, "maxpool", pool, x, 3, 2, none, 1,
                                            INCEPT_ROLE_NONE, &x)))
            return st;
    }
    if ((st = incept_build_op(&b, "globalavgpool", "pool5", &x, 1, NULL, INCEPT_ROLE_NONE, &x)) ||
        (st = incept_build_op(&b, "flatten", "flatten", &x, 1, NULL, INCEPT_ROLE_NONE, &x)) ||
        (st = incept_build_op(&b, "dropout", "dropout", &x, 1, &drop, INCEPT_ROLE_NONE, &x)) ||
        (st = incept_build_fc(&b, "classifier", x, classes, 0, &x)))
        return st;
    g->output = x;
    return INCEPT_OK;
}
