/* onnx_import_generic.c — ONNX nodes the fast path does not take: each becomes a generic node of
 * the engine's graph (its N-d reference op, nd/), after the fast path's partial work on it is
 * rolled back. The driver (onnx_import.c) hands every node to incept_onnx_import_any.
 *
 * Shapes by probing: each generic node is also run at load on stand-ins of its inputs at two
 * batch sizes (2 and 3): zeros for activations, the real values for constants. That tells, with
 * no shape rules of its own, (a) a node whose inputs are only constants and shapes and whose
 * result is the same at both sizes: a constant, folded at load (Shape -> Gather -> Concat ->
 * Reshape arithmetic, Identity and Unsqueeze of constants), so the fast path reads it as it
 * reads a Constant; (b) a float result of rank 1 to 4 that is [N, C, H, W] at both sizes, batch
 * first, and whose shape no integer data decides (a shape input that is a graph input, say):
 * the fast path may take the nodes that read it (a reshape across the batch computed
 * generically, then Gemm on the fast path), the session checking the shape at run time. */
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"

#include "core/checked.h"
#include "core/status.h"
#include "graph/graph.h"
#include "io/onnx_file.h"
#include "io/onnx_import.h"
#include "nd/nd.h"
#include "ops/op.h"
#include "onnx.pb-c.h"

/* ---- generic nodes ---- */

/* Where the importer stands, to undo a node the fast path began and gave up on. */
typedef struct {
    int nodes, values, params, copies, bindings, constants, touched, bn_sources;
    size_t param_floats;
} import_mark;

static import_mark mark(const importer *im)
{
    const incept_graph *g = im->graph;
    return (import_mark){g->n_nodes, g->n_values, g->n_params, im->n_copies, im->n_bindings,
                         g->n_constants, im->n_touched, g->n_bn_sources, g->param_floats};
}

static void rollback(importer *im, const import_mark *m)
{
    incept_graph *g = im->graph;
    for (int i = m->nodes; i < g->n_nodes; i++) {
        incept_node_release(&g->nodes[i]);
    }
    for (int i = m->values; i < g->n_values; i++)
        free(g->values[i].name);
    for (int i = m->params; i < g->n_params; i++)
        free(g->params[i].name);
    for (int i = m->copies; i < im->n_copies; i++)
        free(im->copies[i].values);
    for (int i = m->constants; i < g->n_constants; i++)
        incept_tensor_free(&g->constants[i]);
    g->n_nodes = m->nodes, g->n_values = m->values, g->n_params = m->params;
    g->n_constants = m->constants, g->param_floats = m->param_floats;
    im->n_copies = m->copies;
    for (int i = m->touched; i < im->n_touched; i++) { /* older bindings it made parameters of */
        binding *b = &im->bindings[im->touched[i]];
        if (b->param >= m->params)
            b->param = -1;
    }
    im->n_touched = m->touched;
    for (int i = m->bn_sources; i < g->n_bn_sources; i++) /* norms whose node went with the rest */
        free(g->bn_sources[i].beta), free(g->bn_sources[i].mean_scale);
    g->n_bn_sources = m->bn_sources;
    incept_onnx_unbind_from(im, m->bindings);
}

/* A float initializer that generic nodes read trains like any weight: it becomes a parameter
 * (the one the fast path made of it where there is one: tied weights stay one), its data copied
 * there once the graph is complete, the constant keeping only its shape. One of rank above 4,
 * or whose name a parameter of other contents holds (a convolution's weight with a batch norm
 * folded in), stays a constant: training then names it (train/train.c). */
static incept_status initializer_param(importer *im, binding *b)
{
    incept_graph *g = im->graph;
    incept_value *val = &g->values[b->constant];
    const incept_tensor *t = &g->constants[val->constant];
    val->from_initializer = 1;
    if (t->dtype != INCEPT_FLOAT32 || t->rank > 4 || !incept_tensor_count(t))
        return INCEPT_OK;
    if (b->param >= 0) {
        val->param = b->param; /* (the folding pass sees this reader too) */
        return INCEPT_OK;
    }
    if (incept_graph_find_param(g, b->name) >= 0)
        return INCEPT_OK;
    int dims[4] = {1, 1, 1, 1}, ndim = t->rank ? t->rank : 1, param;
    for (int d = 0; d < t->rank; d++)
        dims[d] = (int)t->dims[d]; /* the tensor fits in memory: each dim in int */
    incept_status st = incept_graph_add_param(g, b->name, ndim, dims, &param);
    if (st)
        return incept_fail_prefix(st, "%s: ", im->path);
    if ((st = incept_onnx_pending_param(im, b, param)))
        return st;
    val = &g->values[b->constant];
    val->param = param;
    return INCEPT_OK;
}

/* The value a generic node reads for ONNX name `name`: an activation, or a constant made once. */
incept_status incept_onnx_generic_input(importer *im, const Onnx__NodeProto *n, const char *name, int *value)
{
    binding *b = incept_onnx_find_binding(im, name);
    if (!b)
        return incept_onnx_node_error(im, n, INCEPT_ERR_FORMAT, "input '%s' is not produced by any earlier "
                                      "node, input or initializer", name);
    if (b->value >= 0) {
        *value = b->value;
        return INCEPT_OK;
    }
    if (b->constant < 0) {
        incept_tensor t;
        incept_status st = incept_nd_array_from_tensor(im->path, b->tensor, b->init ? b->init->payload : NULL,
                                                       b->init ? b->init->payload_len : 0, &t);
        if (st || (st = incept_graph_add_constant(im->graph, b->name, &t, &b->constant)))
            return st;
        if (b->init && (st = initializer_param(im, b)))
            return st;
    }
    *value = b->constant;
    return INCEPT_OK;
}

/* ---- probes ---- */

enum { PROBES = 2 };
static const int probe_batch[PROBES] = {2, 3};
/* what probes may hold in all: a model with many large generic values loads without probing
 * the rest (they stay generic) rather than holding their stand-ins at once */
#define PROBE_BYTES_MAX ((size_t)512 << 20)

static size_t tensor_bytes(const incept_tensor *t)
{
    return incept_tensor_count(t) * incept_nd_dtype_size(t->dtype);
}

typedef struct import_probe {
    int state;            /* 0: not made yet, 1: made, -1: cannot be made (its shape is unknown) */
    int shapes_only;      /* computed from constants and shapes alone, not from activations' data */
    incept_tensor t[PROBES]; /* owned, except a constant's (borrowed: owned = 0) */
    int owned;
} import_probe;

static import_probe *probe_of(importer *im, int v)
{
    if (v >= im->cap_probes) {
        int cap = im->graph->n_values + 16;
        import_probe *grown = realloc(im->probes, sizeof *grown * (size_t)cap);
        if (!grown)
            return NULL;
        memset(grown + im->cap_probes, 0, sizeof *grown * (size_t)(cap - im->cap_probes));
        im->probes = grown, im->cap_probes = cap;
    }
    return &im->probes[v];
}

void incept_onnx_import_generic_free(importer *im)
{
    for (int v = 0; v < im->cap_probes; v++)
        for (int k = 0; k < PROBES && im->probes[v].owned; k++)
            incept_tensor_free(&im->probes[v].t[k]);
    free(im->probes);
    for (int i = 0; i < im->n_folded; i++) {
        Onnx__TensorProto *t = im->folded[i];
        free(t->name), free(t->dims), free(t->raw_data.data), free(t);
    }
    free(im->folded);
}

/* Zeros of a value's shape with the batch set (dims -1 where the batch goes); 0 if some other
 * size is unknown or too large to probe, -1 if the allocation failed. */
static int zeros_like(importer *im, incept_tensor *t, incept_dtype dtype, int rank, const long long *dims,
                      int batch)
{
    memset(t, 0, sizeof *t);
    if (rank < 0 || rank > INCEPT_MAX_RANK)
        return 0;
    t->dtype = dtype, t->rank = rank;
    for (int d = 0; d < rank; d++) {
        t->dims[d] = d == 0 && dims[d] < 0 ? batch : dims[d];
        if (t->dims[d] < 0 || t->dims[d] > (1 << 24))
            return 0;
    }
    size_t count = incept_tensor_count(t), size = incept_nd_dtype_size(dtype);
    if (count > (PROBE_BYTES_MAX - im->probe_bytes) / (size ? size : 1))
        return 0;
    t->data = incept_calloc(count ? count : 1, size ? size : 1);
    im->probe_bytes += count * size;
    return t->data ? 1 : -1;
}

/* The probes of value v, made on first use: a constant's own value; zeros for an activation.
 * NULL when they cannot be made, *nomem set when that is for want of memory. */
static import_probe *probe_value(importer *im, int v, int *nomem)
{
    import_probe *p = probe_of(im, v);
    if (!p)
        *nomem = 1;
    if (!p || p->state)
        return p && p->state > 0 ? p : NULL;
    const incept_graph *g = im->graph;
    const incept_value *val = &g->values[v];
    p->state = -1;
    if (val->constant >= 0) {
        for (int k = 0; k < PROBES; k++)
            p->t[k] = g->constants[val->constant];
        /* a parameter changes as it trains: what reads it is computed, never folded */
        p->shapes_only = val->param < 0, p->owned = 0, p->state = 1;
        return p;
    }
    if (g->input < 0)
        return NULL; /* no NCHW input: nothing says what the batch is */
    long long dims[INCEPT_MAX_RANK];
    incept_dtype dtype = val->generic ? val->declared_dtype : INCEPT_FLOAT32;
    int rank = val->generic ? val->declared_rank : incept_value_shape(g, v, dims);
    if (val->generic && rank > 0)
        incept_copy(dims, val->declared_dims, sizeof(long long) * (size_t)rank);
    p->owned = 1;
    for (int k = 0; k < PROBES; k++) {
        int made = zeros_like(im, &p->t[k], dtype, rank, dims, probe_batch[k]);
        if (made <= 0) {
            for (int j = 0; j <= k; j++)
                incept_tensor_free(&p->t[j]);
            if (made < 0) {
                *nomem = 1;
                p->state = 0; /* not known to be impossible: only memory was lacking */
            }
            return NULL;
        }
    }
    p->state = 1;
    return p;
}

static int same_tensor(const incept_tensor *a, const incept_tensor *b)
{
    if (a->dtype != b->dtype || a->rank != b->rank)
        return 0;
    for (int d = 0; d < a->rank; d++)
        if (a->dims[d] != b->dims[d])
            return 0;
    size_t bytes = incept_tensor_count(a) * incept_nd_dtype_size(a->dtype);
    if (!bytes)
        return 1;
    return a->data && b->data && !memcmp(a->data, b->data, bytes);
}

/* Runs the node's reference op on its inputs' probes; results[j][k]: output j at batch k. 0
 * when some input has no probe or the op fails on them (then nothing is learned, no error); -1
 * when memory ran out (the import's error: a model loaded under memory pressure must not come
 * out of it with fewer nodes on the fast path). */
static int run_probes(importer *im, const Onnx__NodeProto *n, incept_nd_fn fn, const int *inputs,
                      incept_tensor results[][PROBES], int *shapes_only, int *static_shape)
{
    enum { max_inputs = 64 };
    if (n->n_input > max_inputs || n->n_output > 8)
        return 0;
    const incept_tensor *in[max_inputs];
    *shapes_only = strcmp(n->op_type, "Dropout") != 0 || incept_onnx_attr_int(n, "seed", 0) == 0;
    for (size_t i = 0; i < n->n_input; i++) {
        int nomem = 0;
        import_probe *p = inputs[i] >= 0 ? probe_value(im, inputs[i], &nomem) : NULL;
        if (inputs[i] >= 0 && !p)
            return nomem ? -1 : 0;
        *shapes_only &= inputs[i] < 0 || p->shapes_only || strcmp(n->op_type, "Shape") == 0;
        /* no op here sizes its result by float data (only by int64 shapes, axes, pads and
         * indices): a result's shape is fixed unless such an input comes from data */
        *static_shape &= inputs[i] < 0 || p->shapes_only || p->t[0].dtype == INCEPT_FLOAT32;
    }
    incept_rng rng;
    incept_rng_seed(&rng, 1);
    const incept_nd_context ctx = {.path = im->path, .node = n, .opset = im->opset, .threads = 1, .rng = &rng};
    char saved[1024]; /* a probe that fails is not the import's error */
    snprintf(saved, sizeof saved, "%s", incept_last_error());
    for (int k = 0; k < PROBES; k++) {
        for (size_t i = 0; i < n->n_input; i++)
            in[i] = inputs[i] >= 0 ? &probe_of(im, inputs[i])->t[k] : NULL;
        incept_tensor out[8];
        memset(out, 0, sizeof out);
        incept_status ran = fn(&ctx, in, (int)n->n_input, out, (int)n->n_output);
        int failed = ran != INCEPT_OK;
        for (int j = 0; j < (int)n->n_output && !failed; j++) /* an output it did not produce */
            failed = n->output[j] && *n->output[j] && !out[j].data && incept_tensor_count(&out[j]) > 0;
        if (failed) { /* nothing is learned, and it is not the import's error */
            for (int j = 0; j < 8; j++)
                incept_tensor_free(&out[j]);
            for (int j = 0; j < (int)n->n_output; j++)
                for (int b = 0; b < k; b++)
                    incept_tensor_free(&results[j][b]);
            if (ran == INCEPT_ERR_NOMEM)
                return -1;
            incept_fail(INCEPT_OK, "%s", saved);
            return 0;
        }
        for (int j = 0; j < (int)n->n_output; j++) {
            results[j][k] = out[j];
            im->probe_bytes += tensor_bytes(&out[j]);
        }
    }
    if (im->probe_bytes > PROBE_BYTES_MAX) { /* learned, but the next ones will not be probed */
        for (int j = 0; j < (int)n->n_output; j++)
            for (int b = 0; b < PROBES; b++)
                incept_tensor_free(&results[j][b]);
        return 0;
    }
    return 1;
}

/* A folded result as a TensorProto the fast path reads as it reads a Constant's. */
incept_status incept_onnx_fold(importer *im, const char *name, const incept_tensor *t)
{
    Onnx__TensorProto **grown = realloc(im->folded, sizeof *grown * (size_t)(im->n_folded + 1));
    if (!grown)
        return INCEPT_ERR_NOMEM;
    im->folded = grown;
    Onnx__TensorProto *p = incept_calloc(1, sizeof *p);
    if (!p)
        return INCEPT_ERR_NOMEM;
    onnx__tensor_proto__init(p);
    size_t bytes = incept_tensor_count(t) * incept_nd_dtype_size(t->dtype);
    p->name = incept_strdup(name);
    p->dims = incept_malloc(sizeof(int64_t) * (size_t)(t->rank + 1));
    p->raw_data.data = incept_malloc(bytes ? bytes : 1);
    if (!p->name || !p->dims || !p->raw_data.data) {
        free(p->name), free(p->dims), free(p->raw_data.data), free(p);
        return INCEPT_ERR_NOMEM;
    }
    im->folded[im->n_folded++] = p;
    p->has_data_type = 1;
    p->data_type = (int32_t)t->dtype; /* incept_dtype takes ONNX's numbers */
    p->n_dims = (size_t)t->rank;
    for (int d = 0; d < t->rank; d++)
        p->dims[d] = t->dims[d];
    p->has_raw_data = 1;
    p->raw_data.len = bytes;
    if (bytes)
        incept_copy(p->raw_data.data, t->data, bytes);
    return incept_onnx_bind(im, name, -1, p, t->rank);
}

/* Whether probes show an [N, C, H, W] float value (rank 1 to 4, batch first, the rest fixed). */
static int nchw_probes(const incept_tensor *t, int c_h_w[3])
{
    if (t[0].dtype != INCEPT_FLOAT32 || t[0].rank < 1 || t[0].rank > 4 || t[1].rank != t[0].rank ||
        t[1].dtype != t[0].dtype || t[0].dims[0] != probe_batch[0] || t[1].dims[0] != probe_batch[1])
        return 0;
    c_h_w[0] = c_h_w[1] = c_h_w[2] = 1;
    for (int d = 1; d < t[0].rank; d++) {
        if (t[0].dims[d] != t[1].dims[d] || t[0].dims[d] < 1 || t[0].dims[d] > 1 << 24)
            return 0;
        c_h_w[d - 1] = (int)t[0].dims[d];
    }
    return 1;
}

/* The node as a generic one: its N-d reference op on whatever its inputs are. `why` is the fast
 * path's reason for not taking it (reported when no reference op exists either). */
static incept_status import_generic(importer *im, const Onnx__NodeProto *n, const char *why)
{
    incept_nd_fn fn = incept_nd_find_op(n->op_type);
    if (!fn || (n->domain && *n->domain && strcmp(n->domain, "ai.onnx") != 0))
        return incept_fail(INCEPT_ERR_UNSUPPORTED, "%s", why);
    int *inputs = incept_malloc(sizeof(int) * (n->n_input + 1));
    const char **outputs = incept_malloc(sizeof(char *) * (n->n_output + 1));
    incept_status st = inputs && outputs ? INCEPT_OK : INCEPT_ERR_NOMEM;
    for (size_t i = 0; i < n->n_input && !st; i++) {
        inputs[i] = -1;
        if (incept_onnx_has_input(n, i))
            st = incept_onnx_generic_input(im, n, n->input[i], &inputs[i]);
    }
    for (size_t i = 0; i < n->n_output && !st; i++)
        outputs[i] = n->output[i] && *n->output[i] ? n->output[i] : NULL;
    incept_tensor probes[8][PROBES];
    int shapes_only = 0, static_shape = 1, probed = !st && !im->force_generic ?
                                 run_probes(im, n, fn, inputs, probes, &shapes_only, &static_shape) : 0;
    if (probed < 0) {
        st = INCEPT_ERR_NOMEM;
        probed = 0;
    }
    int constant = probed && shapes_only;
    for (size_t j = 0; constant && j < n->n_output; j++)
        constant = same_tensor(&probes[j][0], &probes[j][1]);
    if (constant) { /* folded: no node, its outputs are constants */
        for (size_t j = 0; j < n->n_output && !st; j++)
            if (outputs[j])
                st = incept_onnx_fold(im, outputs[j], &probes[j][0]);
        goto done;
    }
    int node = -1;
    if (!st && (st = incept_graph_add_generic(im->graph, incept_onnx_node_label(n), n->op_type, fn, n, inputs,
                                              (int)n->n_input, outputs, (int)n->n_output, &node)))
        incept_fail_prefix(st, "%s: ", im->path);
    for (size_t j = 0; j < n->n_output && !st; j++) {
        int v = im->graph->nodes[node].outputs[j], rank = 0, c_h_w[3];
        if (v < 0)
            continue;
        import_probe *p = probed ? probe_of(im, v) : NULL;
        if (probed && !p)
            st = INCEPT_ERR_NOMEM;
        if (p) { /* kept for the nodes that read it */
            p->state = 1, p->owned = 1, p->shapes_only = shapes_only;
            p->t[0] = probes[j][0], p->t[1] = probes[j][1];
            memset(probes[j], 0, sizeof probes[j]);
            if (static_shape && nchw_probes(p->t, c_h_w)) { /* the fast path may read it */
                incept_value *val = &im->graph->values[v];
                val->c = c_h_w[0], val->h = c_h_w[1], val->w = c_h_w[2];
                val->declared_dtype = INCEPT_FLOAT32;
                val->declared_rank = rank = p->t[0].rank;
                val->declared_dims[0] = -1;
                for (int d = 1; d < rank; d++)
                    val->declared_dims[d] = p->t[0].dims[d];
            }
        }
        if (!st)
            st = incept_onnx_bind(im, outputs[j], v, NULL, rank);
    }
done:
    for (size_t j = 0; probed && j < n->n_output; j++)
        for (int k = 0; k < PROBES; k++)
            incept_tensor_free(&probes[j][k]);
    free(inputs);
    free(outputs);
    return st;
}

/* A node onto the fast path when it takes it, else as a generic node. */
incept_status incept_onnx_import_any(importer *im, const Onnx__NodeProto *n)
{
    const char *op = n->op_type ? n->op_type : "";
    int named = 0; /* outputs may be omitted (""), not all of them */
    for (size_t k = 0; k < n->n_output; k++)
        named |= n->output[k] && n->output[k][0];
    if (!named)
        return incept_onnx_node_error(im, n, INCEPT_ERR_FORMAT, "%s", "a node without outputs");
    /* an op neither path knows is unsupported whatever its inputs are (before they are checked:
     * GRU's and Scan's optional ones are valid ONNX this engine need not understand) */
    if (strcmp(op, "QuantizeLinear") == 0 || strcmp(op, "DequantizeLinear") == 0)
        return incept_onnx_import_node(im, n); /* QDQ: no generic form (onnx_import_qdq.c) */
    if (!incept_op_for_onnx(op) && !incept_nd_find_op(op) && strcmp(op, "Constant") != 0)
        return incept_onnx_node_error(im, n, INCEPT_ERR_UNSUPPORTED, "op '%s' is not supported", op);
    if (im->force_generic && strcmp(op, "Constant") != 0) {
        char why[600];
        snprintf(why, sizeof why, "%s: node '%s': op %s has no N-d reference", im->path, incept_onnx_node_label(n), op);
        return import_generic(im, n, why);
    }
    import_mark before = mark(im);
    incept_status st = incept_onnx_import_node(im, n);
    if (st != INCEPT_ERR_UNSUPPORTED)
        return st;
    char *why = incept_strdup(incept_last_error());
    if (!why)
        return INCEPT_ERR_NOMEM;
    rollback(im, &before);
    st = import_generic(im, n, why);
    if (!st && !im->graph->why_generic)
        im->graph->why_generic = why, why = NULL;
    free(why);
    return st;
}

