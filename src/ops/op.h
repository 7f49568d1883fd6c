/* op.h — the interface every op implements, and the table of ops by name.
 *
 * One file per op holds its shape inference, cost, workspace size and forward pass together.
 * Files on disk name ops by the strings in this table, never by number.
 */
#ifndef INCEPT_OPS_OP_H
#define INCEPT_OPS_OP_H

#include "graph/graph.h"

/* What the plan was made for: the algorithms and scratch an op uses may depend on it. */
typedef struct {
    int batch, threads, exact;
} incept_run_config;

/* Everything a forward pass of one node sees. */
typedef struct {
    const incept_graph *graph;
    const incept_node *node;
    const incept_tensor *inputs;
    int n_inputs;
    incept_tensor output;
    const float *weight, *bias; /* NULL when the node has none */
    float *workspace;           /* at least workspace_floats(...) floats */
    int threads;
    int exact; /* no reassociating algorithms (Winograd) */
} incept_op_args;

typedef struct incept_op {
    const char *name;
    int min_inputs, max_inputs; /* max_inputs 0 = any number */
    int in_place; /* the output may take the input's memory (forward handles in == out) */
    /* Computes the output dims (per sample) from the inputs'; fills an error naming what is
     * wrong (the caller prefixes the node name). */
    incept_status (*infer)(const incept_graph *g, const incept_node *node, int *c, int *h, int *w);
    /* Multiply-adds per sample (0 for ops that only move or compare data). */
    long long (*multiply_adds)(const incept_graph *g, const incept_node *node);
    /* Scratch floats needed under this configuration (NULL = none). */
    size_t (*workspace_floats)(const incept_graph *g, const incept_node *node,
                               const incept_run_config *config);
    void (*forward)(const incept_op_args *args);
} incept_op;

const incept_op *incept_op_find(const char *name);

extern const incept_op incept_op_conv;
extern const incept_op incept_op_relu;
extern const incept_op incept_op_maxpool;
extern const incept_op incept_op_avgpool;
extern const incept_op incept_op_globalavgpool;
extern const incept_op incept_op_lrn;
extern const incept_op incept_op_concat;
extern const incept_op incept_op_fc;
extern const incept_op incept_op_flatten;
extern const incept_op incept_op_dropout;
extern const incept_op incept_op_softmax;
extern const incept_op incept_op_pad;

/* Output length of a sliding window along one axis, as PyTorch and ONNX define it (floor or
 * ceil mode; in ceil mode a last window that would start in the end padding is dropped).
 * Returns <= 0 when the window does not fit. */
int incept_window_output(int in, int kernel, int stride, int pad_begin, int pad_end, int dilation,
                         int ceil_mode);

/* Shared helpers for ops whose single input must have the given dims. */
static inline const incept_value *incept_node_input(const incept_graph *g, const incept_node *n,
                                                    int i)
{
    return &g->values[n->inputs[i]];
}

#endif
