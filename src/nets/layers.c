/* layers.c — single layers with their parameters, and tagging nodes for the summary. */
#include "nets/layers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"

static incept_status tag(incept_builder *b, int node, incept_role role)
{
    incept_node *n = &b->graph->nodes[node];
    n->role = role;
    n->aux = b->aux;
    if (b->group) {
        n->group = incept_strdup(b->group);
        if (!n->group)
            return INCEPT_ERR_NOMEM;
    }
    return INCEPT_OK;
}

/* Adds NAME.weight and, unless bias is NULL, NAME.bias. */
static incept_status add_weight_bias(incept_graph *g, const char *name, int ndim, const int *dims,
                                     int *weight, int *bias)
{
    char pname[512];
    snprintf(pname, sizeof pname, "%s.weight", name);
    incept_status st = incept_graph_add_param(g, pname, ndim, dims, weight);
    if (st || !bias)
        return st;
    snprintf(pname, sizeof pname, "%s.bias", name);
    return incept_graph_add_param(g, pname, 1, dims, bias);
}

static incept_status add_named(incept_builder *b, const char *op, const char *name,
                               const int *inputs, int n_inputs, const incept_attrs *a, int weight,
                               int bias, incept_role role, const char *output_name, int *out)
{
    int node;
    incept_status st = incept_graph_add_node(b->graph, op, name, inputs, n_inputs, a, weight, bias,
                                             output_name, &node);
    if (st)
        return st;
    *out = b->graph->nodes[node].output;
    return tag(b, node, role);
}

static incept_status add_tagged(incept_builder *b, const char *op, const char *name,
                                const int *inputs, int n_inputs, const incept_attrs *a, int weight,
                                int bias, incept_role role, int *out)
{
    return add_named(b, op, name, inputs, n_inputs, a, weight, bias, role, NULL, out);
}

incept_status incept_build_batchnorm(incept_builder *b, const char *name, int input, int relu,
                                     const char *output_name, int *out)
{
    incept_graph *g = b->graph;
    int dims[1] = {g->values[input].c}, weight, bias;
    incept_attrs a = incept_attrs_default();
    a.relu = relu;
    char pname[512];
    incept_status st = add_weight_bias(g, name, 1, dims, &weight, &bias);
    snprintf(pname, sizeof pname, "%s.running_mean", name);
    if (!st)
        st = incept_graph_add_param(g, pname, 1, dims, &a.running_mean);
    snprintf(pname, sizeof pname, "%s.running_var", name);
    if (!st)
        st = incept_graph_add_param(g, pname, 1, dims, &a.running_var);
    if (st)
        return st;
    g->params[a.running_mean].frozen = g->params[a.running_var].frozen = 1;
    return add_named(b, "batchnorm", name, &input, 1, &a, weight, bias, INCEPT_ROLE_NONE,
                     output_name, out);
}

incept_status incept_build_conv(incept_builder *b, const char *name, int input, int out_channels,
                                int kernel_h, int kernel_w, int stride, const int pad[4], int relu,
                                incept_role role, int *out)
{
    incept_graph *g = b->graph;
    if (out_channels <= 0 || kernel_h <= 0 || kernel_w <= 0)
        return incept_fail(INCEPT_ERR_ARG, "%s: channels and kernel must be positive", name);
    int dims[4] = {out_channels, g->values[input].c, kernel_h, kernel_w}, weight, bias = -1;
    /* no bias before a batch norm: its shift does that job */
    incept_status st = add_weight_bias(g, name, 4, dims, &weight, b->batchnorm ? NULL : &bias);
    if (st)
        return st;
    incept_attrs a = incept_attrs_default();
    a.out_channels = out_channels;
    a.kernel_h = kernel_h, a.kernel_w = kernel_w;
    a.stride_h = a.stride_w = stride;
    a.pad_top = pad[0], a.pad_left = pad[1], a.pad_bottom = pad[2], a.pad_right = pad[3];
    if (!b->batchnorm) {
        a.relu = relu;
        return add_tagged(b, "conv", name, &input, 1, &a, weight, bias, role, out);
    }
    char conv_out[512], bn[512];
    snprintf(conv_out, sizeof conv_out, "%s/conv", name);
    snprintf(bn, sizeof bn, "%s/bn", name);
    int x;
    if ((st = add_named(b, "conv", name, &input, 1, &a, weight, bias, role, conv_out, &x)))
        return st;
    return incept_build_batchnorm(b, bn, x, relu, name, out);
}

incept_status incept_build_pool(incept_builder *b, const char *op, const char *name, int input,
                                int kernel, int stride, const int pad[4], int ceil_mode,
                                incept_role role, int *out)
{
    incept_attrs a = incept_attrs_default();
    a.kernel_h = a.kernel_w = kernel;
    a.stride_h = a.stride_w = stride;
    a.pad_top = pad[0], a.pad_left = pad[1], a.pad_bottom = pad[2], a.pad_right = pad[3];
    a.ceil_mode = ceil_mode;
    return add_tagged(b, op, name, &input, 1, &a, -1, -1, role, out);
}

incept_status incept_build_fc(incept_builder *b, const char *name, int input, int out_features,
                              int relu, int *out)
{
    incept_graph *g = b->graph;
    const incept_value *in = &g->values[input];
    if (out_features <= 0)
        return incept_fail(INCEPT_ERR_ARG, "%s: output features must be positive", name);
    int dims[2] = {out_features, in->c * in->h * in->w}, weight, bias;
    incept_status st = add_weight_bias(g, name, 2, dims, &weight, &bias);
    if (st)
        return st;
    incept_attrs a = incept_attrs_default();
    a.out_channels = out_features;
    a.relu = relu;
    return add_tagged(b, "fc", name, &input, 1, &a, weight, bias, INCEPT_ROLE_NONE, out);
}

incept_status incept_build_op(incept_builder *b, const char *op, const char *name, const int *inputs,
                              int n_inputs, const incept_attrs *attrs, incept_role role, int *out)
{
    incept_attrs a = attrs ? *attrs : incept_attrs_default();
    return add_tagged(b, op, name, inputs, n_inputs, &a, -1, -1, role, out);
}
