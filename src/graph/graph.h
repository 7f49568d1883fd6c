/* graph.h — the engine's network representation: values, nodes (ops), parameters (one
 * contiguous float array), the model (a graph and its weights) and the session that runs it.
 *
 * Two kinds of values share one graph. NCHW values: float activations laid out batch first, of
 * per-sample C, H, W known when the graph is built (rank-2 [N, C] stored as [N, C, 1, 1]); the
 * batch N is chosen at run time and the plan is remade when it changes. The fast ops (conv
 * through GEMM and Winograd, fused pools, in-place and concat aliasing, training) read and write
 * only these. Generic values: N-d tensors of any dtype (shapes, indices, masks, ranks other than
 * NCHW, several inputs) whose shapes are known only when a run computes them; generic nodes
 * evaluate one ONNX op on them (ops/nd: the N-d reference of every op). A generic node may read
 * NCHW values, never the other way round: the importer makes a node generic when its inputs or
 * attributes leave the NCHW fast path, and so every node after it.
 */
#ifndef INCEPT_GRAPH_H
#define INCEPT_GRAPH_H

#include <limits.h>
#include <stddef.h>

#include "core/rng.h"
#include "incept.h"

/* A view of an activation: sample i starts at data + i * batch_stride. batch_stride exceeds
 * c*h*w when the view is a channel slice of a wider tensor (a branch writing into its concat). */
typedef struct {
    float *data;
    int n, c, h, w;
    size_t batch_stride;
} incept_view;

/* Attributes of every op kind in one struct; each op reads the fields it needs. */
typedef struct {
    int kernel_h, kernel_w, stride_h, stride_w;
    int pad_top, pad_left, pad_bottom, pad_right;
    int dilation_h, dilation_w, groups;
    int out_channels;      /* conv, fc */
    int ceil_mode;         /* pools: ceil instead of floor in the output size */
    int count_include_pad; /* average pool: padding counts in the divisor */
    int size;              /* LRN window (channels) */
    float alpha, beta, bias; /* LRN */
    float ratio;           /* dropout probability */
    float value;           /* pad value */
    int softmax_over_chw;  /* softmax over C*H*W (ONNX opset < 13, axis 1) rather than over C */
    int softmax_axis;      /* else over one axis of NCHW: 1 = C (also 0, the default), 2 = H, 3 = W */
    int relu;              /* conv, fc: ReLU fused into the output */
    float relu_max;        /* with relu: clamped to at most this too (ReLU6: 6; default inf) */
    float clip_min, clip_max; /* clip: the bounds (-inf and inf by default) */
    int shape[4];          /* reshape: the rank as ONNX sees it (2-4) and the per-sample C, H, W */
    float epsilon, momentum;        /* batchnorm: variance epsilon, running-statistics momentum */
    int running_mean, running_var;  /* batchnorm: their parameter indices (frozen), else -1 */
} incept_attrs;

/* Where a node sits in an Inception module, for the Table 1 summary. */
typedef enum {
    INCEPT_ROLE_NONE = 0,
    INCEPT_ROLE_1X1,
    INCEPT_ROLE_3X3_REDUCE,
    INCEPT_ROLE_3X3,
    INCEPT_ROLE_5X5_REDUCE,
    INCEPT_ROLE_5X5,
    INCEPT_ROLE_POOL,
    INCEPT_ROLE_POOL_PROJ,
    INCEPT_ROLE_CONCAT
} incept_role;

struct incept_op;

struct incept_nd_context;
/* A generic node's evaluation: in[i] NULL for an omitted optional input, out[] zeroed tensors it
 * allocates and fills (ops/nd/nd.h). */
typedef incept_status (*incept_nd_fn)(const struct incept_nd_context *ctx, const incept_tensor *const *in,
                                      int n_in, incept_tensor *out, int n_out);
/* Its backward: given what the forward read (in) and computed (out), and the loss's gradients
 * of the outputs (dout[k]; NULL where none flows), adds the gradients of the inputs into din[i],
 * float32 tensors shaped as in[i] that already hold other readers' contributions (NULL where
 * none is wanted: integer inputs, constants). */
typedef incept_status (*incept_nd_grad_fn)(const struct incept_nd_context *ctx,
                                           const incept_tensor *const *in, int n_in,
                                           const incept_tensor *out, int n_out,
                                           const incept_tensor *const *dout, incept_tensor *const *din);

typedef struct {
    const struct incept_op *op;
    char *name;
    int *inputs;   /* value indices (generic nodes: -1 for an omitted optional input) */
    int n_inputs;
    int output;    /* value index (generic nodes: outputs[0]) */
    /* generic nodes: the N-d evaluation, the ONNX node it evaluates (an Onnx__NodeProto of the
     * model's kept ONNX file: its attributes) and every output (-1: omitted); else NULL, 0 */
    incept_nd_fn nd;
    const void *onnx_node;
    const char *onnx_op;
    int *outputs;
    int n_outputs;
    incept_attrs attrs;
    int weight, bias; /* parameter indices, or -1 */
    int aux;          /* part of a training-only (auxiliary) head */
    char *group;      /* the Inception module or head this node belongs to, or NULL */
    incept_role role;
} incept_node;

/* The most values one sample of an NCHW value holds (checked as each value is made), and a
 * whole batch of it (checked when a session plans a batch), so that c * h * w, a layer's
 * features and n * c planes fit an int wherever the ops compute them. */
#define INCEPT_MAX_SAMPLE_VALUES INT_MAX

typedef struct {
    char *name;
    int c, h, w;      /* per sample (NCHW values) */
    int producer;     /* node index, or -1 for a graph input or a constant */
    int generic;      /* a generic value (N-d, any dtype, shaped at run time) */
    int alias;        /* a pass removed its producer: this name stands for that value, or -1 */
    int constant;     /* a constant generic nodes read: index into incept_graph.constants, or -1 */
    /* a float initializer generic nodes read: it trains, its data being parameter `param`'s (the
     * constant keeps only its shape), or -1; from_initializer: the constant is an initializer's
     * (not a Constant node's: those never train) */
    int param, from_initializer;
    /* graph inputs and outputs: the type and shape the source declares (rank -1: not given;
     * dims -1 where dynamic) */
    incept_dtype declared_dtype;
    int declared_rank;
    long long declared_dims[INCEPT_MAX_RANK];
    /* the range of values it takes, observed by calibration (incept_session_calibrate) or given
     * by a quantized model: the 8-bit code of an int8 session's layers that read it */
    int has_range;
    float range_lo, range_hi;
} incept_value;

typedef struct {
    char *name;
    int ndim;
    int dims[4];
    size_t offset, count; /* into incept_graph.param_data, in floats */
    /* how the ONNX initializer it came from relates to it (Gemm with transB = 0 or alpha != 1):
     * export undoes both */
    int onnx_transposed;
    float onnx_scale;
    int frozen; /* state, not trained (batch normalization's running statistics): SGD skips it */
} incept_param;

/* A BatchNormalization the ONNX importer folded into the convolution before it (weights rows
 * times s, bias = old bias * s + beta - mean * s). Export writes the conv's weight rows divided
 * by s and the norm's B initializer such that the file computes what the model does. */
typedef struct {
    int weight, bias, old_bias; /* the conv's weight, its folded bias, its own bias (or -1) */
    char *beta;                 /* the norm's B initializer; NULL: cannot be written back */
    float *scale, *mean_scale;  /* per output channel: s = gamma / sqrt(var + eps), mean * s */
} incept_bn_fold;

/* An affine node the ONNX importer made of an inference BatchNormalization, for the folding
 * pass: what export needs to write the norm back (its B initializer's name, if it is a plain one
 * read by the norm alone; mean * s per channel). */
typedef struct {
    int value; /* the affine node's output */
    char *beta;
    float *mean_scale;
} incept_bn_source;

typedef struct {
    incept_node *nodes;
    int n_nodes, cap_nodes;
    incept_value *values;
    int n_values, cap_values;
    int *value_index;   /* values by name (graph.c), value_slots entries, -1 empty */
    size_t value_slots;
    incept_param *params;
    int n_params, cap_params;
    int *param_index;   /* parameters by name, as value_index */
    size_t param_slots;
    float *param_data;  /* NULL until incept_graph_allocate_params */
    size_t param_floats;
    incept_bn_fold *folds; /* ONNX import only */
    int n_folds;
    incept_bn_source *bn_sources; /* for the folding pass (then freed) */
    int n_bn_sources;
    int input;  /* value index of the NCHW input (what the fast ops and training read), or -1 */
    int output; /* value index of the main output (outputs[0]), -1 until set */
    int *inputs, n_inputs;   /* every graph input in the source's order (input among them) */
    int *outputs, n_outputs; /* every graph output (output first) */
    incept_tensor *constants; /* what generic nodes read of initializers and Constant nodes */
    int n_constants;
    int opset;                /* of the ONNX file generic nodes come from */
    char *source;             /* its path, for messages */
    int n_generic;            /* generic nodes */
    char *why_generic;        /* why the first one is not on the fast path, or NULL */
    int input_rank;  /* the input's rank as the model's source declares it (0: 4) */
    int output_rank; /* the output's rank as the model's source declares it (0: as derived) */
    char *output_name; /* the output's name there when it differs from the value's, or NULL */
} incept_graph;

/* The most parameters (floats) a model may have, in all: 4 GB of weights. */
#define INCEPT_PARAM_FLOATS_MAX ((size_t)1 << 30)

/* A node's outputs: a generic node's list, any other node's one. */
static inline int incept_node_output_count(const incept_node *n) { return n->nd ? n->n_outputs : 1; }
static inline int incept_node_output_at(const incept_node *n, int k) { return n->nd ? n->outputs[k] : n->output; }

void incept_graph_init(incept_graph *g);
void incept_graph_free(incept_graph *g);

/* Finds a value (a parameter) by name; -1 if absent. */
int incept_graph_find_value(const incept_graph *g, const char *name);
int incept_graph_find_param(const incept_graph *g, const char *name);
/* Declares the network input (per-sample dims). */
incept_status incept_graph_set_input(incept_graph *g, const char *name, int c, int h, int w);
/* Adds a parameter of the given shape; *index receives its index. Its data exists once the
 * graph is complete and incept_graph_allocate_params has run (zero-filled, one block). */
incept_status incept_graph_add_param(incept_graph *g, const char *name, int ndim, const int *dims,
                                     int *index);
incept_status incept_graph_allocate_params(incept_graph *g);
float *incept_graph_param_data(const incept_graph *g, int index);

/* Adds a node of op `op_name` reading `inputs`, writing a new value named output_name (the node
 * name when NULL). Runs shape inference; on failure the message names the node. */
incept_status incept_graph_add_node(incept_graph *g, const char *op_name, const char *name,
                                    const int *inputs, int n_inputs, const incept_attrs *attrs,
                                    int weight, int bias, const char *output_name, int *node_index);

/* Attributes with the neutral defaults (stride 1, dilation 1, groups 1, ...). */
incept_attrs incept_attrs_default(void);

/* ---- The model and the session --------------------------------------------------------- */

struct onnx_file; /* io/onnx_file.h */

/* A graph, its parameters and where it came from. Inference only reads it. */
struct incept_model {
    incept_graph graph;
    char *onnx_source; /* the ONNX file the model was imported from, or NULL */
    char *description; /* the description text it was built from, or NULL */
    struct onnx_file *onnx; /* kept open while generic nodes read its node attributes, or NULL */
    char **metadata;        /* key, value, key, value ... (an ONNX file's metadata_props) */
    int n_metadata;         /* pairs */
};

/* Batch statistics over every rank of a data-parallel job (synchronized batch norm;
 * train/distributed.c makes it): gather hands every rank's n doubles, rank after rank, to all
 * (the same values in the same order everywhere, so every rank computes the same statistics);
 * it returns NULL when the exchange failed (the step then fails). `share` is this rank's part of
 * the global batch (its samples over all of them); a rank with no samples in a step (the short
 * last batch of an epoch) trains on a stand-in sample and gather sends zeros for it. */
typedef struct incept_stats_sync {
    const double *(*gather)(const struct incept_stats_sync *sync, const double *mine, int n);
    int ranks;
    double share;
    void *impl;
} incept_stats_sync;

/* Everything a run of a model needs: the plan for one batch size, arenas, profile, training. */
struct incept_session {
    incept_model *model;
    int threads;
    int exact;             /* no Winograd or other reassociating transforms */
    int profiling;
    double *node_seconds;  /* per node forward, then per node backward, summed over passes */
    int profiled_passes, profiled_backward_passes;
    incept_rng rng;        /* generic nodes' random draws (Dropout in training mode) */
    /* The plan for `planned_batch` (0 = none yet). */
    int planned_batch;
    int planned_keep;      /* every activation stays readable after the pass */
    int planned_threads;
    int planned_training;  /* the plan keeps everything backward needs and has gradients */
    incept_precision planned_precision;
    incept_precision precision; /* INT8 or BF16: nodes with a form for it run that */
    void **forms; /* per node: its op's form for the precision (op->quantize, op->to_bf16), or NULL */
    int *order;        /* node indices to run, in order */
    int n_order;
    /* Stacked pointwise convolutions (inference plans): per order position, the position of the
     * next convolution computed with this one (-1: none), and whether an earlier one computes it. */
    int *stack_next;
    unsigned char *stacked;
    incept_view *views; /* per value */
    float *arena;
    size_t arena_floats;
    float *workspace;
    size_t workspace_floats;
    /* training plans: what each node's forward keeps for its backward (op->saved_bytes), at
     * saved_at[node] in saved (SIZE_MAX: nothing) */
    unsigned char *saved;
    size_t *saved_at;
    incept_view *node_inputs; /* scratch for one node's input views */
    /* generic values during a run: their tensors (owned: freed after the last reader) */
    incept_tensor *nd_values;
    unsigned char *nd_owned;
    int *last_reader;          /* per value: the order position reading it last (n_order: kept) */
    /* Training: gradients of every value (a second arena laid out like the first), of the
     * parameters (parallel to param_data), SGD momentum, and which values carry a loss. */
    float *grad_arena;
    incept_view *grad_views;
    /* the gradient arena's blocks (a value and the channel slices written into it), each zeroed
     * in a step just before the first backward that adds into it: per value its block (-1:
     * none), per block its floats and whether this step has zeroed it yet */
    int *grad_block, n_grad_blocks;
    size_t *grad_block_offset, *grad_block_floats;
    unsigned char *grad_block_zeroed;
    incept_view *node_input_grads;
    float *param_grads;
    float *momentum;
    float *average;      /* Polyak average of the parameters, or NULL */
    int nonfinite_param; /* the first parameter the last SGD step made NaN or infinite, or -1 */
    /* called in a training step after the backward of order position p (descending): the
     * gradients of parameters no earlier node reads are final (train/distributed.c) */
    void (*grad_hook)(struct incept_session *s, int p);
    void *grad_hook_user;
    const incept_stats_sync *stats_sync; /* training steps: batch statistics over all ranks, or NULL */
    float average_decay;
    int average_in_use;  /* the model's param_data and average are swapped */
    int *loss_values;
    float *loss_weights;
    int n_losses;
    /* Training generic nodes: per value, whether the loss's gradient reaches a parameter through
     * it; per node, whether its backward runs; the gradients of generic values during a step. */
    unsigned char *needs_grad, *runs_backward;
    incept_tensor *nd_grads;
    unsigned long long train_seed, train_steps;
    float aux_weight;
    float label_smoothing;
    double step_forward_seconds, step_backward_seconds; /* of the last training step */
    int dropout_off;
};

/* Makes (or keeps) the plan for this batch size: execution order of the inference graph,
 * activation offsets in one arena reused after each value's last reader, and one workspace.
 * keep: every activation stays readable afterwards (no reuse). For training: every node
 * (auxiliary heads too), every activation kept, nothing in place, and a gradient arena laid out
 * like the activations. */
incept_status incept_session_plan(incept_session *s, int batch, int training, int keep);
/* Runs the planned nodes forward on `input` (the NCHW input; generic inputs are set in
 * nd_values first). training: the forward of a training step (batch normalization uses and
 * updates batch statistics; with `dropout`, dropout drops with `seed`). Fails only in a generic
 * node (a shape it cannot take), naming it; nd_values then holds nothing owned. */
incept_status incept_session_run_forward(incept_session *s, const float *input, int training,
                                         int dropout, unsigned long long seed);
/* The tensor a generic node reads for value v: a generic value of the run, a constant, a
 * parameter's data in its initializer's shape, or an NCHW value's view wrapped into `wrapped`. */
const incept_tensor *incept_session_generic_input(const incept_session *s, int v, incept_tensor *wrapped);
/* Frees the generic values a run left (owned ones). */
void incept_session_clear_values(incept_session *s);
/* A monotonic clock in seconds, for the per-node profile. */
double incept_now_seconds(void);
/* Frees the plan's memory. */
void incept_session_drop_plan(incept_session *s);
/* Frees an int8 or bf16 session's per-node forms (precision.c). */
void incept_session_free_precision(incept_session *s);
/* Builds a fresh model around an already built graph (takes ownership, allocates its
 * parameters if that has not happened yet). */
incept_status incept_model_wrap(incept_graph *g, incept_model **out);
/* The model with every node generic (the N-d reference path, as incept_model_load_onnx uses it
 * only where the fast path does not take a node): for tests that compare the two. */
incept_status incept_model_load_onnx_generic(const char *path, incept_model **out);

/* Adds a generic node evaluating `nd` (for the ONNX node onnx_node of type onnx_op) on inputs
 * (-1: omitted), writing new generic values named output_names (NULL: omitted). */
incept_status incept_graph_add_generic(incept_graph *g, const char *name, const char *onnx_op,
                                       incept_nd_fn nd, const void *onnx_node, const int *inputs,
                                       int n_inputs, const char *const *output_names, int n_outputs,
                                       int *node_index);
/* Removes generic nodes whose outputs nothing reads (left by constant folding); returns how many. */
int incept_graph_prune_generic(incept_graph *g);
/* Frees what one node owns (its name, input and output lists, group). */
void incept_node_release(incept_node *n);
/* Drops the nodes marked in removed[] (their outputs are then computed by nothing: producer -1)
 * and renumbers the rest, their values' producers with them: one pass over the graph. */
void incept_graph_remove_nodes(incept_graph *g, const unsigned char *removed);
/* Appends value v to the graph's outputs. */
incept_status incept_graph_add_output(incept_graph *g, int v);
/* A generic graph input or a constant (takes the tensor) as a new value. */
incept_status incept_graph_add_generic_input(incept_graph *g, const char *name, int *index);
incept_status incept_graph_add_constant(incept_graph *g, const char *name, incept_tensor *t,
                                        int *index);
/* The value's rank as the model's user sees it: 2 for [N, C] (FC outputs, flattened), else 4. */
int incept_value_rank(const incept_graph *g, int value);
/* Its shape with the batch as -1 ([-1, C], [-1, C, H] or [-1, C, H, W]); returns the rank. */
int incept_value_shape(const incept_graph *g, int value, long long *dims);

#endif
