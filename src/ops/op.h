/* op.h — the interface every op implements, and the table of ops by name.
 *
 * One file per op holds its shape inference, cost, workspace size, forward and backward passes
 * together.
 * Files on disk name ops by the strings in this table, never by number.
 */
#ifndef INCEPT_OPS_OP_H
#define INCEPT_OPS_OP_H

#include "graph/graph.h"

struct incept_onnx_export_s;   /* io/onnx_writer.h: incept_onnx_export */
struct incept_onnx_importer;   /* io/onnx_import.h: importer */
struct Onnx__NodeProto;
struct incept_desc_line;       /* io/description.h */

/* What the plan was made for: the algorithms and scratch an op uses may depend on it. */
typedef struct {
    int batch, threads, exact;
    int training; /* forward for a training step: dropout drops, backward follows */
    int int8;     /* an int8 session: nodes with a quantized form run it */
} incept_run_config;

/* Everything a forward pass of one node sees. */
typedef struct {
    const incept_graph *graph;
    const incept_node *node;
    const incept_view *inputs;
    int n_inputs;
    incept_view output;
    const float *weight, *bias; /* NULL when the node has none */
    float *workspace;           /* at least workspace_floats(...) floats */
    int threads;
    int exact;    /* no reassociating algorithms (Winograd) */
    int training; /* a training step's forward: batch statistics (batchnorm), dropout if asked */
    int dropout;  /* dropout drops (with the mask of dropout_seed); only when training */
    unsigned long long dropout_seed;
    const incept_stats_sync *sync; /* training: batch statistics over every rank (NULL: this one's) */
    const void *quantized; /* an int8 session: this node's quantized form (op->quantize), or NULL */
    const void *bf16;      /* a bf16 session: this node's bf16 form (op->to_bf16), or NULL */
    void *saved; /* training: the op's saved_bytes(...) to keep for its backward, or NULL */
} incept_op_args;

/* Everything a backward pass of one node sees: the forward tensors, the gradient of the loss
 * with respect to the output, and where to add the gradients of the inputs and parameters
 * (all accumulate: a value read by several nodes sums their contributions). */
typedef struct {
    const incept_graph *graph;
    const incept_node *node;
    const incept_view *inputs;
    const incept_view *input_grads; /* .data NULL where no gradient is wanted */
    int n_inputs;
    incept_view output;
    incept_view output_grad; /* may be modified (ReLU masking) */
    const float *weight, *bias;
    float *weight_grad, *bias_grad;
    float *workspace; /* at least backward_workspace_floats(...) floats */
    int threads;
    int exact;   /* as the forward's: no reassociating algorithms */
    int dropout; /* the forward pass dropped (with the mask of dropout_seed) */
    unsigned long long dropout_seed;
    const incept_stats_sync *sync; /* as the forward's */
    const void *saved; /* what the forward of this step kept there (NULL: the op saves nothing) */
} incept_backward_args;

typedef struct incept_op {
    const char *name;
    int min_inputs, max_inputs; /* max_inputs 0 = any number */
    int in_place; /* the output may take the input's memory (forward handles in == out) */
    /* the inputs may be written straight into consecutive channel slices of the output (a
     * concat: the planner makes each producer write there and the forward copies nothing) */
    int inputs_are_channel_slices;
    int gives_probabilities; /* its output sums to 1 per sample (softmax): no softmax on top */
    int fuses_activation;    /* applies attrs.relu (and relu_max) to its output itself */
    /* Computes the output dims (per sample) from the inputs'; fills an error naming what is
     * wrong (the caller prefixes the node name). */
    incept_status (*infer)(const incept_graph *g, const incept_node *node, int *c, int *h, int *w);
    /* Multiply-adds per sample (0 for ops that only move or compare data). */
    long long (*multiply_adds)(const incept_graph *g, const incept_node *node);
    /* Scratch floats needed under this configuration (NULL = none). */
    size_t (*workspace_floats)(const incept_graph *g, const incept_node *node,
                               const incept_run_config *config);
    void (*forward)(const incept_op_args *args);
    size_t (*backward_workspace_floats)(const incept_graph *g, const incept_node *node,
                                        const incept_run_config *config);
    void (*backward)(const incept_backward_args *args); /* NULL: not trainable */
    /* Bytes a training step's forward keeps for the node's backward (batch norm: its statistics
     * and scale), in memory of its own through the step (NULL or 0: nothing). */
    size_t (*saved_bytes)(const incept_graph *g, const incept_node *node,
                          const incept_run_config *config);
    /* Nodes of this op reading the same input that can be computed together in inference plans
     * (up to INCEPT_STACK_MAX, run at the first one's place): can_stack says which nodes may
     * join, stacked_forward runs them (NULL: the op does not stack). */
    /* Fresh parameters for a node (NULL: He-normal weights, small uniform biases). */
    void (*init_params)(const incept_graph *g, const incept_node *n, incept_rng *rng);
    /* How people see it: `label` names it in the summary's type column (Table 1's words; NULL:
     * its name); describe, when set, writes a fuller text for the summary (drawing = 0) or the
     * graph drawing (drawing = 1, "3x3 conv /2\n64"); drawing_color fills its box (NULL: grey). */
    const char *label;
    void (*describe)(const incept_graph *g, const incept_node *n, int drawing, char *buf, size_t size);
    const char *drawing_color;
    /* Writes the node as ONNX nodes (io/onnx_writer.h); NULL: the op has no ONNX export. */
    incept_status (*to_onnx)(const struct incept_onnx_export_s *e);
    /* The ONNX op types this op's file imports, and its import of one such node (io/onnx_import.h:
     * UNSUPPORTED where it does not take the node, which then runs on the generic path). An
     * import may emit other ops' nodes (affine.c's Add of two activations is an add node;
     * batchnorm.c's inference BatchNormalization an affine); each ONNX type has one importer. */
    const char *onnx_types[3];
    incept_status (*from_onnx)(struct incept_onnx_importer *im, const struct Onnx__NodeProto *n);
    /* Its attributes from a description line whose keyword is its name (io/description.h);
     * NULL: not a description keyword of its own (conv, fc, pools and batch norm are layers
     * nets/layers.c builds with their parameters). */
    incept_status (*from_description)(struct incept_desc_line *l, incept_attrs *a);
    int (*can_stack)(const incept_node *n);
    void (*stacked_forward)(const incept_op_args *members, int count);
    /* Its int8 form for an int8 session (weights quantized, the input's code from the range of
     * its input value), in one allocation released with free(); *state NULL where the node stays
     * in float (NULL: the op has none). forward then gets it as args->quantized. */
    incept_status (*quantize)(const incept_graph *g, const incept_node *n, void **state);
    /* Its bf16 form for a bf16 session (its weights rounded to bf16 as its kernels read them),
     * the same way; forward gets it as args->bf16. */
    incept_status (*to_bf16)(const incept_graph *g, const incept_node *n, void **state);
} incept_op;

const incept_op *incept_op_find(const char *name);
/* The op that imports ONNX op type `type` itself (see onnx_types), or NULL. */
const incept_op *incept_op_for_onnx(const char *type);

/* The most nodes one stack computes together (conv.c's pointwise convolutions: one GEMM). */
#define INCEPT_STACK_MAX 4

extern const incept_op incept_op_conv;
extern const incept_op incept_op_relu;
extern const incept_op incept_op_clip;
extern const incept_op incept_op_generic; /* nd/generic.c: a node evaluated N-d */
extern const incept_op incept_op_maxpool;
extern const incept_op incept_op_avgpool;
extern const incept_op incept_op_globalavgpool;
extern const incept_op incept_op_lrn;
extern const incept_op incept_op_concat;
extern const incept_op incept_op_fc;
extern const incept_op incept_op_flatten;
extern const incept_op incept_op_reshape;
extern const incept_op incept_op_dropout;
extern const incept_op incept_op_softmax;
extern const incept_op incept_op_pad;
extern const incept_op incept_op_channels;
extern const incept_op incept_op_affine;
extern const incept_op incept_op_batchnorm;
extern const incept_op incept_op_add;

/* The description hook of an op without attributes (relu, flatten, ...). */
incept_status incept_no_description_attrs(struct incept_desc_line *l, incept_attrs *a);

/* dY *= (Y > 0) over a tensor: the backward of a ReLU fused into conv and fc. */
void incept_relu_mask_grad(const incept_view *output, incept_view *grad);
/* The same for a ReLU clamped at hi too (ReLU6): dY *= (0 < Y < hi). */
void incept_activation_mask_grad(const incept_view *output, incept_view *grad, float hi);
/* Y = min(Y, hi) over a tensor (a fused ReLU6's upper bound; nothing when hi is inf). */
void incept_clamp_max(incept_view *output, float hi);
/* dst += src over a tensor of dims src's (both may be channel slices). */
void incept_view_accumulate(incept_view *dst, const incept_view *src);
/* The keep-scale of element i of a dropout mask: 0 or 1/(1-ratio), the same in forward and
 * backward for the same seed (a counter-based hash: nothing is stored). */
float incept_dropout_scale(unsigned long long seed, size_t i, float ratio);

/* Shared helpers for ops whose single input must have the given dims. */
static inline const incept_value *incept_node_input(const incept_graph *g, const incept_node *n,
                                                    int i)
{
    return &g->values[n->inputs[i]];
}

#endif
