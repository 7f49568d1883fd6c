/* model.c — the model handle: creating and freeing it, what it takes and gives (inputs, outputs,
 * layers), its parameters and their default initialization. A model is only read by inference;
 * everything a run changes lives in its sessions (session.c). */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "core/status.h"
#include "graph/graph.h"
#include "io/onnx_file.h"
#include "ops/op.h"
#include "passes/passes.h"

const char *incept_version(void) { return INCEPT_VERSION; }

incept_status incept_model_wrap(incept_graph *g, incept_model **out)
{
    *out = NULL;
    incept_model *m = incept_graph_allocate_params(g) ? NULL : incept_calloc(1, sizeof *m);
    if (!m) {
        incept_graph_free(g);
        return INCEPT_ERR_NOMEM;
    }
    m->graph = *g;
    incept_graph_init(g);
    incept_graph *mg = &m->graph; /* builders and descriptions name one input and one output */
    incept_status st = incept_pass_fold_batchnorm(mg); /* before fusion: a ReLU follows the norm */
    if (!st)
        st = incept_pass_fuse_activations(mg);
    if (!st && !mg->n_inputs && mg->input >= 0 && !(mg->inputs = incept_malloc(sizeof(int))))
        st = INCEPT_ERR_NOMEM;
    else if (!st && !mg->n_inputs && mg->input >= 0)
        mg->inputs[mg->n_inputs++] = mg->input;
    if (!st && !mg->n_outputs && mg->output >= 0)
        st = incept_graph_add_output(mg, mg->output);
    if (st) {
        incept_model_free(m);
        return st;
    }
    *out = m;
    return INCEPT_OK;
}

void incept_model_free(incept_model *m)
{
    if (!m)
        return;
    incept_graph_free(&m->graph);
    if (m->onnx) {
        incept_onnx_file_close(m->onnx);
        free(m->onnx);
    }
    free(m->onnx_source);
    free(m->description);
    for (int i = 0; i < 2 * m->n_metadata; i++)
        free(m->metadata[i]);
    free(m->metadata);
    free(m);
}

const char *incept_model_metadata(const incept_model *m, const char *key)
{
    for (int i = 0; m && key && i < m->n_metadata; i++)
        if (strcmp(m->metadata[2 * i], key) == 0)
            return m->metadata[2 * i + 1];
    return NULL;
}

int incept_model_generic_nodes(const incept_model *m) { return m ? m->graph.n_generic : 0; }

const char *incept_model_generic_reason(const incept_model *m)
{
    return m && m->graph.n_generic ? m->graph.why_generic : NULL;
}

int incept_value_rank(const incept_graph *g, int v)
{
    for (;;) { /* ops that keep their input's rank pass the question up */
        if (g->values[v].generic)
            return g->values[v].declared_rank;
        int producer = g->values[v].producer;
        if (producer < 0)
            return g->input_rank > 0 ? g->input_rank : 4;
        const incept_node *n = &g->nodes[producer];
        if (n->op == &incept_op_fc || n->op == &incept_op_flatten)
            return 2;
        if (n->op == &incept_op_reshape)
            return n->attrs.shape[0];
        if (n->op == &incept_op_conv || n->n_inputs == 0)
            return 4;
        v = n->inputs[0];
    }
}

int incept_value_shape(const incept_graph *g, int v, long long *dims)
{
    const incept_value *val = &g->values[v];
    if (val->generic) { /* known when a run computes it: the declaration, if any */
        if (val->declared_rank > 0)
            memcpy(dims, val->declared_dims, sizeof(long long) * (size_t)val->declared_rank);
        return val->declared_rank;
    }
    int rank = v == g->output && g->output_rank > 0 ? g->output_rank : incept_value_rank(g, v);
    const int sample[3] = {val->c, val->h, val->w};
    /* a lower rank only drops trailing sizes of 1: a value that grew them (a pad after an fc)
     * is 4-D whatever its producers' ranks say */
    if (rank < 1 || rank > 4 || (rank <= 2 && val->h != 1) || (rank <= 3 && val->w != 1) ||
        (rank == 1 && val->c != 1))
        rank = 4;
    dims[0] = -1;
    for (int d = 1; d < rank; d++)
        dims[d] = sample[d - 1];
    return rank;
}

int incept_model_inputs(const incept_model *m) { return m ? m->graph.n_inputs : 0; }

int incept_model_outputs(const incept_model *m) { return m ? m->graph.n_outputs : 0; }

const char *incept_model_input_name(const incept_model *m, int i)
{
    if (!m || i < 0 || i >= incept_model_inputs(m))
        return NULL;
    return m->graph.values[m->graph.inputs[i]].name;
}

const char *incept_model_output_name(const incept_model *m, int i)
{
    if (!m || i < 0 || i >= incept_model_outputs(m))
        return NULL;
    if (i == 0 && m->graph.output_name)
        return m->graph.output_name;
    return m->graph.values[m->graph.outputs[i]].name;
}

/* The declared shape of input (input = 1) or output i. */
static int declared_shape(const incept_model *m, int input, int i, incept_dtype *dtype, long long *dims)
{
    int count = input ? incept_model_inputs(m) : incept_model_outputs(m);
    if (!m || i < 0 || i >= count || !dims)
        return -1;
    const incept_graph *g = &m->graph;
    int v = input ? g->inputs[i] : g->outputs[i];
    const incept_value *val = &g->values[v];
    if (dtype)
        *dtype = val->generic ? val->declared_dtype : INCEPT_FLOAT32;
    if (input && v == g->input) { /* its own rank, though it may be an output of another too */
        const long long nchw[4] = {-1, val->c, val->h, val->w};
        int rank = g->input_rank > 0 ? g->input_rank : 4;
        memcpy(dims, nchw, sizeof(long long) * (size_t)rank);
        return rank;
    }
    return incept_value_shape(g, v, dims);
}

int incept_model_input_shape(const incept_model *m, int i, incept_dtype *dtype,
                             long long dims[INCEPT_MAX_RANK])
{
    return declared_shape(m, 1, i, dtype, dims);
}

int incept_model_output_shape(const incept_model *m, int i, incept_dtype *dtype,
                              long long dims[INCEPT_MAX_RANK])
{
    return declared_shape(m, 0, i, dtype, dims);
}

/* Per-sample C, H, W of a batch-first float input or output of rank 1-4 (zeros otherwise). */
static void sample_dims(const incept_model *m, int input, int *c, int *h, int *w)
{
    const incept_graph *g = &m->graph;
    int v = input ? (g->n_inputs ? g->inputs[0] : -1) : (g->n_outputs ? g->outputs[0] : -1);
    int got[3] = {0, 0, 0};
    if (v >= 0 && !g->values[v].generic) {
        got[0] = g->values[v].c, got[1] = g->values[v].h, got[2] = g->values[v].w;
    } else if (v >= 0) {
        long long dims[INCEPT_MAX_RANK];
        incept_dtype dtype = INCEPT_FLOAT32;
        int rank = declared_shape(m, input, 0, &dtype, dims);
        if (rank >= 1 && rank <= 4 && dtype == INCEPT_FLOAT32) {
            got[0] = got[1] = got[2] = 1;
            for (int d = 1; d < rank; d++)
                got[d - 1] = dims[d] > 0 && dims[d] <= INT32_MAX ? (int)dims[d] : 0;
        }
    }
    if (c) *c = got[0];
    if (h) *h = got[1];
    if (w) *w = got[2];
}

void incept_model_input_dims(const incept_model *m, int *c, int *h, int *w)
{
    sample_dims(m, 1, c, h, w);
}

void incept_model_output_dims(const incept_model *m, int *c, int *h, int *w)
{
    sample_dims(m, 0, c, h, w);
}

int incept_model_output_is_probability(const incept_model *m)
{
    if (!m || m->graph.output < 0)
        return 0;
    int producer = m->graph.values[m->graph.output].producer;
    return producer >= 0 && m->graph.nodes[producer].op->gives_probabilities;
}

int incept_model_layer_count(const incept_model *m) { return m ? m->graph.n_nodes : 0; }

incept_status incept_model_layer(const incept_model *m, int index, const char **name,
                                 const char **op, int *rank, long long dims[INCEPT_MAX_RANK])
{
    if (!m || index < 0 || index >= incept_model_layer_count(m))
        return incept_fail(INCEPT_ERR_ARG, "no layer %d", index);
    const incept_node *n = &m->graph.nodes[index];
    if (n->nd) { /* generic: its shapes are known only when a run computes them */
        if (name) *name = n->name;
        if (op) *op = n->onnx_op;
        if (rank) *rank = -1;
        return INCEPT_OK;
    }
    long long shape[INCEPT_MAX_RANK];
    int r = incept_value_shape(&m->graph, n->output, shape);
    if (name) *name = n->name;
    if (op) *op = n->op->name;
    if (rank) *rank = r;
    if (dims)
        memcpy(dims, shape, sizeof(long long) * (size_t)r);
    return INCEPT_OK;
}

int incept_model_param_count(const incept_model *m) { return m ? m->graph.n_params : 0; }

incept_status incept_model_param(incept_model *m, int index, const char **name, int *ndim,
                                 int dims[4], float **data)
{
    if (!m || index < 0 || index >= m->graph.n_params)
        return incept_fail(INCEPT_ERR_ARG, "no parameter %d", index);
    const incept_param *p = &m->graph.params[index];
    if (name) *name = p->name;
    if (ndim) *ndim = p->ndim;
    if (dims) {
        memset(dims, 0, sizeof(int) * 4);
        memcpy(dims, p->dims, sizeof(int) * p->ndim);
    }
    if (data) *data = incept_graph_param_data(&m->graph, index);
    return INCEPT_OK;
}

incept_status incept_model_param_set_frozen(incept_model *m, int index, int frozen)
{
    if (!m || index < 0 || index >= m->graph.n_params)
        return incept_fail(INCEPT_ERR_ARG, "no parameter %d", index);
    m->graph.params[index].frozen = frozen != 0;
    return INCEPT_OK;
}

int incept_model_param_frozen(const incept_model *m, int index)
{
    return m && index >= 0 && index < m->graph.n_params && m->graph.params[index].frozen;
}

void incept_model_init_weights(incept_model *m, unsigned long long seed)
{
    incept_rng rng;
    incept_rng_seed(&rng, seed);
    const incept_graph *g = &m->graph;
    for (int i = 0; i < g->n_nodes; i++) {
        const incept_node *n = &g->nodes[i];
        if (n->op->init_params) {
            n->op->init_params(g, n, &rng);
            continue;
        }
        if (n->weight >= 0) {
            const incept_param *p = &g->params[n->weight];
            size_t fan_in = p->count / (size_t)p->dims[0];
            float stddev = sqrtf(2.0f / (float)fan_in);
            float *w = incept_graph_param_data(g, n->weight);
            for (size_t k = 0; k < p->count; k++)
                w[k] = stddev * incept_rng_normal(&rng);
        }
        if (n->bias >= 0) {
            const incept_param *p = &g->params[n->bias];
            float *b = incept_graph_param_data(g, n->bias);
            for (size_t k = 0; k < p->count; k++)
                b[k] = 0.2f * (incept_rng_uniform(&rng) - 0.5f);
        }
    }
}
