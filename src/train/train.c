/* train.c — a training step (forward, loss, backward through every node) and the SGD update.
 *
 * The loss heads are the main output and every auxiliary classifier: an auxiliary node whose
 * output no node reads. Each head's loss is the mean softmax cross-entropy over the batch;
 * the auxiliary ones are weighted by aux_weight (0.3 in the paper). Gradients flow back through
 * a second arena laid out like the activations, so a branch that wrote its output into a slice
 * of its concat also finds its gradient there. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "graph/graph.h"
#include "ops/op.h"

incept_status incept_model_set_training(incept_model *m, float aux_weight, int dropout,
                                        unsigned long long seed)
{
    if (!m || !(aux_weight >= 0.0f))
        return incept_fail(INCEPT_ERR_ARG, "set_training needs a model and aux_weight >= 0");
    m->aux_weight = aux_weight;
    m->dropout_off = !dropout;
    m->train_seed = seed;
    free(m->loss_values);
    free(m->loss_weights);
    m->loss_values = NULL;
    m->loss_weights = NULL;
    m->n_losses = 0;
    return INCEPT_OK;
}

/* The main output and the outputs of the auxiliary heads. */
static incept_status find_losses(incept_model *m)
{
    const incept_graph *g = &m->graph;
    int *read = incept_calloc((size_t)g->n_values, sizeof(int));
    m->loss_values = incept_malloc(sizeof(int) * (size_t)(g->n_nodes + 1));
    m->loss_weights = incept_malloc(sizeof(float) * (size_t)(g->n_nodes + 1));
    if (!read || !m->loss_values || !m->loss_weights) {
        free(read);
        return INCEPT_ERR_NOMEM;
    }
    for (int i = 0; i < g->n_nodes; i++)
        for (int k = 0; k < g->nodes[i].n_inputs; k++)
            read[g->nodes[i].inputs[k]] = 1;
    m->n_losses = 0;
    m->loss_values[m->n_losses] = g->output;
    m->loss_weights[m->n_losses++] = 1.0f;
    for (int i = 0; i < g->n_nodes; i++) {
        int v = g->nodes[i].output;
        if (g->nodes[i].aux && !read[v] && v != g->output && m->aux_weight > 0.0f) {
            m->loss_values[m->n_losses] = v;
            m->loss_weights[m->n_losses++] = m->aux_weight;
        }
    }
    free(read);
    return INCEPT_OK;
}

/* Mean cross-entropy of softmax(logits) against labels, weighted; adds weight * d/dlogits. */
static double cross_entropy(const incept_tensor *logits, incept_tensor *grad, const int *labels,
                            float weight)
{
    const int n = logits->n, classes = logits->c * logits->h * logits->w;
    double total = 0.0;
    for (int s = 0; s < n; s++) {
        const float *z = logits->data + s * logits->batch_stride;
        float *dz = grad->data + s * grad->batch_stride;
        float top = z[0];
        for (int j = 1; j < classes; j++)
            top = z[j] > top ? z[j] : top;
        double sum = 0.0;
        for (int j = 0; j < classes; j++)
            sum += exp((double)z[j] - top);
        double log_sum = log(sum) + top;
        total += log_sum - z[labels[s]];
        for (int j = 0; j < classes; j++) {
            double p = exp((double)z[j] - log_sum);
            dz[j] += (float)(weight * (p - (j == labels[s])) / n);
        }
    }
    return weight * total / n;
}

incept_status incept_model_train_step(incept_model *m, const float *input, const int *labels,
                                      int batch, float *loss)
{
    if (!m || !input || !labels || batch < 1)
        return incept_fail(INCEPT_ERR_ARG, "train_step needs a model, input, labels and batch >= 1");
    const incept_graph *g = &m->graph;
    int classes = g->values[g->output].c * g->values[g->output].h * g->values[g->output].w;
    for (int s = 0; s < batch; s++)
        if (labels[s] < 0 || labels[s] >= classes)
            return incept_fail(INCEPT_ERR_ARG, "label %d of sample %d is not a class of 0..%d",
                               labels[s], s, classes - 1);
    incept_status st = incept_model_plan(m, batch, 1);
    if (st)
        return st;
    if (!m->loss_values && (st = find_losses(m)))
        return st;
    for (int i = 0; i < m->n_losses; i++) {
        const incept_value *v = &g->values[m->loss_values[i]];
        if (v->c * v->h * v->w != classes)
            return incept_fail(INCEPT_ERR_SHAPE, "auxiliary head '%s' has %d outputs, the model %d",
                               v->name, v->c * v->h * v->w, classes);
    }
    if (!m->param_grads && !(m->param_grads = incept_alloc_floats(g->param_floats)))
        return INCEPT_ERR_NOMEM;

    unsigned long long seed = m->train_seed * 0x2545f4914f6cdd1dULL + m->train_steps;
    incept_model_run_forward(m, input, 1, !m->dropout_off, seed);
    memset(m->grad_arena, 0, sizeof(float) * m->arena_floats);
    memset(m->param_grads, 0, sizeof(float) * g->param_floats);
    double total = 0.0;
    for (int i = 0; i < m->n_losses; i++)
        total += cross_entropy(&m->views[m->loss_values[i]], &m->grad_views[m->loss_values[i]],
                               labels, m->loss_weights[i]);

    for (int p = m->n_order - 1; p >= 0; p--) {
        const incept_node *n = &g->nodes[m->order[p]];
        double started = m->profiling ? incept_now_seconds() : 0.0;
        for (int k = 0; k < n->n_inputs; k++) {
            m->node_inputs[k] = m->views[n->inputs[k]];
            m->node_input_grads[k] = m->grad_views[n->inputs[k]];
            if (n->inputs[k] == g->input)
                m->node_input_grads[k].data = NULL; /* no gradient for the data */
        }
        incept_backward_args args = {
            .graph = g,
            .node = n,
            .inputs = m->node_inputs,
            .input_grads = m->node_input_grads,
            .n_inputs = n->n_inputs,
            .output = m->views[n->output],
            .output_grad = m->grad_views[n->output],
            .weight = n->weight >= 0 ? incept_graph_param_data(g, n->weight) : NULL,
            .bias = n->bias >= 0 ? incept_graph_param_data(g, n->bias) : NULL,
            .weight_grad = n->weight >= 0 ? m->param_grads + g->params[n->weight].offset : NULL,
            .bias_grad = n->bias >= 0 ? m->param_grads + g->params[n->bias].offset : NULL,
            .workspace = m->workspace,
            .threads = m->threads,
            .dropout = !m->dropout_off,
            .dropout_seed = seed ^ (0x9e3779b97f4a7c15ULL * (unsigned long long)(m->order[p] + 1)),
        };
        n->op->backward(&args);
        if (m->profiling)
            m->node_seconds[g->n_nodes + m->order[p]] += incept_now_seconds() - started;
    }
    m->profiled_backward_passes += m->profiling;
    m->train_steps++;
    if (loss)
        *loss = (float)total;
    return INCEPT_OK;
}

incept_status incept_model_param_grad(const incept_model *m, int index, const float **grad)
{
    if (!m || index < 0 || index >= m->graph.n_params || !grad)
        return incept_fail(INCEPT_ERR_ARG, "no parameter %d", index);
    if (!m->param_grads)
        return incept_fail(INCEPT_ERR_ARG, "no gradients yet: run incept_model_train_step first");
    *grad = m->param_grads + m->graph.params[index].offset;
    return INCEPT_OK;
}

incept_status incept_model_set_averaging(incept_model *m, float decay)
{
    if (!m || !(decay >= 0.0f && decay < 1.0f))
        return incept_fail(INCEPT_ERR_ARG, "averaging decay must be in [0, 1)");
    m->average_decay = decay;
    return INCEPT_OK;
}

incept_status incept_model_use_average(incept_model *m, int on)
{
    if (!m)
        return incept_fail(INCEPT_ERR_ARG, "no model");
    if (on && !m->average)
        return incept_fail(INCEPT_ERR_ARG, "no averaged weights: set averaging and train first");
    if ((on != 0) != m->average_in_use) {
        float *t = m->graph.param_data;
        m->graph.param_data = m->average;
        m->average = t;
        m->average_in_use = on != 0;
    }
    return INCEPT_OK;
}

incept_status incept_model_sgd_step(incept_model *m, const incept_sgd *sgd)
{
    if (!m || !sgd || !m->param_grads)
        return incept_fail(INCEPT_ERR_ARG, "sgd_step needs a model with gradients and options");
    if (m->average_in_use)
        return incept_fail(INCEPT_ERR_ARG, "sgd_step while the averaged weights are swapped in");
    const incept_graph *g = &m->graph;
    if (!m->momentum) {
        m->momentum = incept_alloc_floats(g->param_floats);
        if (!m->momentum)
            return INCEPT_ERR_NOMEM;
        memset(m->momentum, 0, sizeof(float) * g->param_floats);
    }
    for (int i = 0; i < g->n_params; i++) {
        const incept_param *p = &g->params[i];
        if (p->frozen)
            continue;
        float decay = p->ndim == 1 && !sgd->decay_biases ? 0.0f : sgd->weight_decay;
        float *w = g->param_data + p->offset, *v = m->momentum + p->offset;
        const float *grad = m->param_grads + p->offset;
        for (size_t k = 0; k < p->count; k++) {
            v[k] = sgd->momentum * v[k] + (grad[k] + decay * w[k]);
            w[k] -= sgd->learning_rate * v[k];
        }
    }
    if (m->average_decay > 0.0f) {
        if (!m->average) { /* starts from the weights after the first step */
            if (!(m->average = incept_alloc_floats(g->param_floats)))
                return INCEPT_ERR_NOMEM;
            memcpy(m->average, g->param_data, sizeof(float) * g->param_floats);
        } else {
            const float d = m->average_decay;
            for (size_t k = 0; k < g->param_floats; k++)
                m->average[k] = d * m->average[k] + (1.0f - d) * g->param_data[k];
        }
    }
    return INCEPT_OK;
}
