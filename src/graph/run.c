/* run.c — the model handle: creating and freeing it, running the planned forward pass,
 * reading activations and parameters, and the default weight initialization. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/rng.h"
#include "core/status.h"
#include "graph/graph.h"
#include "ops/op.h"


incept_status incept_model_wrap(incept_graph *g, incept_model **out)
{
    *out = NULL;
    incept_model *m = incept_graph_allocate_params(g) ? NULL : incept_calloc(1, sizeof *m);
    if (!m) {
        incept_graph_free(g);
        return INCEPT_ERR_NOMEM;
    }
    m->graph = *g;
    m->threads = 1;
    m->aux_weight = 0.3f;
    incept_graph_init(g);
    *out = m;
    return INCEPT_OK;
}

void incept_model_free(incept_model *m)
{
    if (!m)
        return;
    incept_model_drop_plan(m);
    incept_graph_free(&m->graph);
    free(m->node_seconds);
    free(m->param_grads);
    free(m->momentum);
    free(m->average);
    free(m->loss_values);
    free(m->loss_weights);
    free(m->onnx_source);
    free(m->description);
    free(m);
}

static void value_dims(const incept_model *m, int v, int *c, int *h, int *w)
{
    const incept_value *val = &m->graph.values[v];
    if (c) *c = val->c;
    if (h) *h = val->h;
    if (w) *w = val->w;
}

int incept_model_output_is_probability(const incept_model *m)
{
    int producer = m->graph.values[m->graph.output].producer;
    return producer >= 0 && m->graph.nodes[producer].op == &incept_op_softmax;
}

void incept_model_input_dims(const incept_model *m, int *c, int *h, int *w)
{
    value_dims(m, m->graph.input, c, h, w);
}

void incept_model_output_dims(const incept_model *m, int *c, int *h, int *w)
{
    value_dims(m, m->graph.output, c, h, w);
}

incept_status incept_model_set_threads(incept_model *m, int threads)
{
    if (!m || threads < 1 || threads > 1024)
        return incept_fail(INCEPT_ERR_ARG, "threads must be between 1 and 1024, got %d", threads);
    m->threads = threads;
    return INCEPT_OK;
}

incept_status incept_model_keep_activations(incept_model *m, int keep)
{
    if (!m)
        return incept_fail(INCEPT_ERR_ARG, "no model");
    m->keep_activations = keep != 0;
    return INCEPT_OK;
}

double incept_now_seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

incept_status incept_model_set_exact(incept_model *m, int exact)
{
    if (!m)
        return incept_fail(INCEPT_ERR_ARG, "no model");
    if (m->exact != (exact != 0))
        incept_model_drop_plan(m); /* the plan depends on the algorithms chosen */
    m->exact = exact != 0;
    return INCEPT_OK;
}

incept_status incept_model_set_profiling(incept_model *m, int on)
{
    if (!m)
        return incept_fail(INCEPT_ERR_ARG, "no model");
    if (on && !m->node_seconds) {
        m->node_seconds = incept_calloc(2 * (size_t)m->graph.n_nodes + 1, sizeof(double));
        if (!m->node_seconds)
            return INCEPT_ERR_NOMEM;
    }
    if (on && m->node_seconds)
        memset(m->node_seconds, 0, sizeof(double) * 2 * (size_t)m->graph.n_nodes);
    m->profiled_passes = 0;
    m->profiled_backward_passes = 0;
    m->profiling = on != 0;
    return INCEPT_OK;
}

incept_status incept_model_profile_report(const incept_model *m, FILE *out)
{
    if (!m || !out || !m->node_seconds || !m->profiled_passes || !m->planned_batch)
        return incept_fail(INCEPT_ERR_ARG, "no profile: switch profiling on and run forward first");
    const incept_graph *g = &m->graph;
    const double *backward = m->node_seconds + g->n_nodes; /* per node, when training was timed */
    const int passes = m->profiled_passes, back_passes = m->profiled_backward_passes;
    double total = 0.0;
    for (int p = 0; p < m->n_order; p++) {
        total += m->node_seconds[m->order[p]] / passes;
        if (back_passes)
            total += backward[m->order[p]] / back_passes;
    }
    if (back_passes)
        fprintf(out, "%-28s %-14s %10s %10s %9s %7s\n", "layer", "op", "fwd ms", "bwd ms",
                "GFLOP/s", "share");
    else
        fprintf(out, "%-28s %-14s %10s %9s %7s\n", "layer", "op", "ms/pass", "GFLOP/s", "share");
    double forward_total = 0.0, backward_total = 0.0;
    for (int p = 0; p < m->n_order; p++) {
        const incept_node *n = &g->nodes[m->order[p]];
        double fwd = m->node_seconds[m->order[p]] / passes;
        double bwd = back_passes ? backward[m->order[p]] / back_passes : 0.0;
        forward_total += fwd, backward_total += bwd;
        long long macs = n->op->multiply_adds ? n->op->multiply_adds(g, n) : 0;
        const char *op_name = n->op->name;
        if (m->stacked[p]) /* its time and work are its stack leader's */
            macs = 0, op_name = "conv (stacked)";
        for (int q = m->stack_next[p]; q >= 0 && !m->stacked[p]; q = m->stack_next[q]) {
            const incept_node *member = &g->nodes[m->order[q]];
            macs += member->op->multiply_adds(g, member);
            op_name = "conv + stacked";
        }
        char rate[32] = "", back[32] = "";
        /* a training step does the forward's multiply-adds three times (forward, dX, dW) */
        int work = back_passes ? 3 : 1;
        if (macs && fwd + bwd > 0)
            snprintf(rate, sizeof rate, "%.1f",
                     2.0 * work * (double)macs * m->planned_batch / (fwd + bwd) * 1e-9);
        if (back_passes)
            snprintf(back, sizeof back, " %10.3f", bwd * 1e3);
        fprintf(out, "%-28s %-14s %10.3f%s %9s %6.1f%%\n", n->name, op_name, fwd * 1e3, back,
                rate, total > 0 ? 100.0 * (fwd + bwd) / total : 0.0);
    }
    if (back_passes)
        fprintf(out, "%-28s %-14s %10.3f %10.3f\n", "total", "", forward_total * 1e3,
                backward_total * 1e3);
    else
        fprintf(out, "%-28s %-14s %10.3f\n", "total", "", forward_total * 1e3);
    fprintf(out, "memory: parameters %.1f MB, activations %.1f MB, workspace %.1f MB\n",
            (double)g->param_floats * 4e-6, (double)m->arena_floats * 4e-6,
            (double)m->workspace_floats * 4e-6);
    return INCEPT_OK;
}

/* A node's forward arguments over the plan's views (inputs, training and dropout are the
 * caller's). */
static incept_op_args forward_args(const incept_model *m, const incept_node *n,
                                   const incept_tensor *inputs, int n_inputs)
{
    const incept_graph *g = &m->graph;
    return (incept_op_args){
        .graph = g,
        .node = n,
        .inputs = inputs,
        .n_inputs = n_inputs,
        .output = m->views[n->output],
        .weight = n->weight >= 0 ? incept_graph_param_data(g, n->weight) : NULL,
        .bias = n->bias >= 0 ? incept_graph_param_data(g, n->bias) : NULL,
        .workspace = m->workspace,
        .threads = m->threads,
        .exact = m->exact,
    };
}

/* The stack of pointwise convolutions led by order position p, as one GEMM (inference only). */
static void run_stack(incept_model *m, int p)
{
    incept_op_args members[INCEPT_STACK_MAX];
    int count = 0;
    for (int q = p; q >= 0 && count < INCEPT_STACK_MAX; q = m->stack_next[q]) {
        const incept_node *n = &m->graph.nodes[m->order[q]];
        members[count++] = forward_args(m, n, &m->views[n->inputs[0]], 1);
    }
    incept_conv_stacked_forward(members, count);
}

void incept_model_run_forward(incept_model *m, const float *input, int training, int dropout,
                              unsigned long long seed)
{
    const incept_graph *g = &m->graph;
    m->views[g->input].data = (float *)input; /* ops never write their inputs */
    for (int p = 0; p < m->n_order; p++) {
        const incept_node *n = &g->nodes[m->order[p]];
        if (m->stacked[p])
            continue; /* computed with an earlier pointwise convolution of the same input */
        double started = m->profiling ? incept_now_seconds() : 0.0;
        if (m->stack_next[p] >= 0) {
            run_stack(m, p);
        } else {
            for (int k = 0; k < n->n_inputs; k++)
                m->node_inputs[k] = m->views[n->inputs[k]];
            incept_op_args args = forward_args(m, n, m->node_inputs, n->n_inputs);
            args.training = training;
            args.dropout = training && dropout;
            args.dropout_seed =
                seed ^ (0x9e3779b97f4a7c15ULL * (unsigned long long)(m->order[p] + 1));
            n->op->forward(&args);
        }
        if (m->profiling)
            m->node_seconds[m->order[p]] += incept_now_seconds() - started;
    }
    m->profiled_passes += m->profiling;
}

incept_status incept_model_forward(incept_model *m, const float *input, int batch, float *output)
{
    if (!m || !input || !output || batch < 1)
        return incept_fail(INCEPT_ERR_ARG, "forward needs a model, input, output and batch >= 1");
    incept_status st = incept_model_plan(m, batch, 0);
    if (st)
        return st;
    incept_model_run_forward(m, input, 0, 0, 0);
    const incept_tensor *out = &m->views[m->graph.output];
    size_t per_sample = (size_t)out->c * out->h * out->w;
    for (int s = 0; s < batch; s++)
        memcpy(output + s * per_sample, out->data + s * out->batch_stride, per_sample * sizeof(float));
    return INCEPT_OK;
}

incept_status incept_model_tensor(const incept_model *m, const char *name, const float **data,
                                  int shape[4])
{
    if (!m || !name || !data || !shape)
        return incept_fail(INCEPT_ERR_ARG, "tensor lookup needs a model, a name and outputs");
    int v = incept_graph_find_value(&m->graph, name);
    if (v < 0)
        return incept_fail(INCEPT_ERR_ARG, "no tensor named '%s'", name);
    if (!m->planned_batch || !m->planned_keep || !m->views[v].data)
        return incept_fail(INCEPT_ERR_ARG, "tensor '%s' is not available: run a forward pass with "
                           "keep_activations on first", name);
    const incept_tensor *t = &m->views[v];
    if (t->batch_stride != (size_t)t->c * t->h * t->w && t->n > 1)
        return incept_fail(INCEPT_ERR_UNSUPPORTED, "tensor '%s' is a channel slice of '%s'; read "
                           "that one", name, m->graph.nodes[m->graph.values[v].producer].name);
    *data = t->data;
    shape[0] = t->n, shape[1] = t->c, shape[2] = t->h, shape[3] = t->w;
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

void incept_model_init_weights(incept_model *m, unsigned long long seed)
{
    incept_rng rng;
    incept_rng_seed(&rng, seed);
    const incept_graph *g = &m->graph;
    for (int i = 0; i < g->n_nodes; i++) {
        const incept_node *n = &g->nodes[i];
        if (n->op == &incept_op_batchnorm) { /* the identity: scale 1, shift 0, N(0, 1) */
            const float start[4] = {1.0f, 0.0f, 0.0f, 1.0f};
            const int params[4] = {n->weight, n->bias, n->attrs.running_mean, n->attrs.running_var};
            for (int k = 0; k < 4; k++) {
                float *data = incept_graph_param_data(g, params[k]);
                for (size_t j = 0; j < g->params[params[k]].count; j++)
                    data[j] = start[k];
            }
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
