/* layers.h — building blocks over the graph: a layer (conv, pool, fc, ...) with its parameters
 * named as PyTorch would ("conv1.weight"), and the Inception module and GoogLeNet built from them.
 * The description parser and the C builders share these, so both make identical graphs. */
#ifndef INCEPT_NETS_LAYERS_H
#define INCEPT_NETS_LAYERS_H

#include "graph/graph.h"

/* Where new nodes go and how they are tagged for the summary. */
typedef struct {
    incept_graph *graph;
    const char *group; /* module or head name, or NULL */
    int aux;           /* nodes belong to a training-only head */
    int batchnorm;     /* convolutions are followed by batch normalization */
} incept_builder;

/* Convolution with bias; pad is (top, left, bottom, right). With b->batchnorm: the convolution
 * NAME (no bias, its output named NAME/conv) then batch normalization NAME/bn, with the ReLU,
 * whose output is NAME, as torchvision's BasicConv2d. */
incept_status incept_build_conv(incept_builder *b, const char *name, int input, int out_channels,
                                int kernel_h, int kernel_w, int stride, const int pad[4], int relu,
                                incept_role role, int *out);
/* Batch normalization of `input` (params NAME.weight/.bias/.running_mean/.running_var), its
 * output named output_name (NAME when NULL). */
incept_status incept_build_batchnorm(incept_builder *b, const char *name, int input, int relu,
                                     const char *output_name, int *out);
/* "maxpool" or "avgpool"; pad is (top, left, bottom, right). */
incept_status incept_build_pool(incept_builder *b, const char *op, const char *name, int input,
                                int kernel, int stride, const int pad[4], int ceil_mode,
                                incept_role role, int *out);
incept_status incept_build_fc(incept_builder *b, const char *name, int input, int out_features,
                              int relu, int *out);
/* An op with no parameters (relu, lrn, dropout, flatten, softmax, globalavgpool, pad, concat). */
incept_status incept_build_op(incept_builder *b, const char *op, const char *name, const int *inputs,
                              int n_inputs, const incept_attrs *attrs, incept_role role, int *out);

/* The widths of one Inception module, as in the columns of Table 1. A reduce of 0 builds the
 * branch without its 1x1 reduction, and pool_proj 0 passes the pooled input through: all zeros
 * but n1x1/n3x3/n5x5 is the naive module of Figure 2(a). */
typedef struct {
    int n1x1, n3x3_reduce, n3x3, n5x5_reduce, n5x5, pool_proj;
} incept_inception_widths;

/* Figure 2(b): 1x1 | 1x1 -> 3x3 | 1x1 -> 5x5 | 3x3 max pool -> 1x1, concatenated on channels.
 * Layers are named NAME/1x1, NAME/3x3_reduce, NAME/3x3, ... as in Caffe's bvlc_googlenet. */
incept_status incept_build_inception(incept_builder *b, const char *name, int input,
                                     const incept_inception_widths *widths, int *out);

/* The paper's auxiliary classifier: 5x5/3 average pool, 1x1 conv of conv_channels (the paper:
 * INCEPT_AUX_CONV_CHANNELS), FC of fc_features (INCEPT_AUX_FC_FEATURES), dropout 70%, linear to
 * `classes`. Marked training-only. */
#define INCEPT_AUX_CONV_CHANNELS 128
#define INCEPT_AUX_FC_FEATURES 1024
incept_status incept_build_aux_classifier(incept_builder *b, const char *name, int input,
                                          int conv_channels, int fc_features, int classes, int *out);

/* GoogLeNet of Table 1 into an empty graph (RGB input, 224x224 unless the resolution knob says
 * otherwise), under the knobs k (variant.h; initialized and unset: Table 1 itself). */
struct incept_knobs;
incept_status incept_build_googlenet(incept_graph *g, int classes, const struct incept_knobs *k);

#endif
