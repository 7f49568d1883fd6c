/* train.c — a training step (forward, loss, backward through every node) and the SGD update.
 *
 * The loss heads are the main output and every auxiliary classifier: an auxiliary node whose
 * output no node reads. Each head's loss is the mean softmax cross-entropy over the batch;
 * the auxiliary ones are weighted by aux_weight (0.3 in the paper). Gradients flow back through
 * a second arena laid out like the activations, so a branch that wrote its output into a slice
 * of its concat also finds its gradient there. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "graph/graph.h"
#include "ops/op.h"
#include "train/generic_backward.h"

incept_status incept_session_set_training(incept_session *s, float aux_weight, int dropout,
                                        unsigned long long seed)
{
    if (!s || !(aux_weight >= 0.0f))
        return incept_fail(INCEPT_ERR_ARG, "set_training needs a session and aux_weight >= 0");
    s->aux_weight = aux_weight;
    s->dropout_off = !dropout;
    s->train_seed = seed;
    free(s->loss_values);
    free(s->loss_weights);
    s->loss_values = NULL;
    s->loss_weights = NULL;
    s->n_losses = 0;
    return INCEPT_OK;
}

incept_status incept_session_set_label_smoothing(incept_session *s, float e)
{
    if (!s || !(e >= 0.0f && e < 1.0f))
        return incept_fail(INCEPT_ERR_ARG, "label smoothing must be in [0, 1)");
    s->label_smoothing = e;
    return INCEPT_OK;
}

/* The main output and the outputs of the auxiliary heads. */
static incept_status find_losses(incept_session *s)
{
    const incept_graph *g = &s->model->graph;
    int *read = incept_calloc((size_t)g->n_values, sizeof(int));
    s->loss_values = incept_malloc(sizeof(int) * (size_t)(g->n_nodes + 1));
    s->loss_weights = incept_malloc(sizeof(float) * (size_t)(g->n_nodes + 1));
    if (!read || !s->loss_values || !s->loss_weights) {
        free(read);
        return INCEPT_ERR_NOMEM;
    }
    for (int i = 0; i < g->n_nodes; i++)
        for (int k = 0; k < g->nodes[i].n_inputs; k++)
            read[g->nodes[i].inputs[k]] = 1;
    s->n_losses = 0;
    s->loss_values[s->n_losses] = g->output;
    s->loss_weights[s->n_losses++] = 1.0f;
    for (int i = 0; i < g->n_nodes; i++) {
        int v = g->nodes[i].output;
        if (g->nodes[i].aux && !read[v] && v != g->output && s->aux_weight > 0.0f) {
            s->loss_values[s->n_losses] = v;
            s->loss_weights[s->n_losses++] = s->aux_weight;
        }
    }
    free(read);
    return INCEPT_OK;
}

/* The gradient of value v (and of every value sharing its block) set to zero, unless this step
 * has done it already: the first backward to add into a block finds it zeroed, and a block no
 * backward reaches costs nothing. */
static void zero_gradient(incept_session *s, int v)
{
    const int b = v >= 0 ? s->grad_block[v] : -1;
    if (b < 0 || s->grad_block_zeroed[b])
        return;
    memset(s->grad_arena + s->grad_block_offset[b], 0, sizeof(float) * s->grad_block_floats[b]);
    s->grad_block_zeroed[b] = 1;
}

/* Mean cross-entropy of softmax(logits) against the labels' targets (one-hot, or smoothed: 1 - e
 * for the label and e / classes for every class), weighted; adds weight * d/dlogits. */
static double cross_entropy(const incept_view *logits, incept_view *grad, const int *labels,
                            float weight, float smoothing)
{
    const int n = logits->n, classes = logits->c * logits->h * logits->w;
    const double spread = (double)smoothing / classes;
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
        double log_sum = log(sum) + top, sum_log_p = 0.0;
        for (int j = 0; j < classes && spread > 0.0; j++)
            sum_log_p += (double)z[j] - log_sum;
        total += (1.0 - smoothing) * (log_sum - z[labels[s]]) - spread * sum_log_p;
        for (int j = 0; j < classes; j++) {
            double p = exp((double)z[j] - log_sum);
            double target = (j == labels[s]) * (1.0 - smoothing) + spread;
            dz[j] += (float)(weight * (p - target) / n);
        }
    }
    return weight * total / n;
}

incept_status incept_session_train_step(incept_session *s, const float *input, const int *labels,
                                      int batch, float *loss)
{
    if (!s || !input || !labels || batch < 1)
        return incept_fail(INCEPT_ERR_ARG, "train_step needs a session, input, labels and batch >= 1");
    const incept_graph *g = &s->model->graph;
    if (g->input >= 0 && g->values[g->output].producer < 0)
        return incept_fail(INCEPT_ERR_UNSUPPORTED, "%s: the model's output is its input: it has nothing "
                           "to train", s->model->onnx_source ? s->model->onnx_source : "model");
    if (g->input < 0)
        return incept_fail(INCEPT_ERR_UNSUPPORTED, "%s: training needs an NCHW (batch-first float) "
                           "input; the model's are N-d values of the generic path",
                           s->model->onnx_source ? s->model->onnx_source : "model");
    const incept_value *out = &g->values[g->output];
    if (out->generic && !out->c)
        return incept_fail(INCEPT_ERR_UNSUPPORTED, "%s: the loss needs a float output of [N, classes] "
                           "(or [N, C, H, W]); output '%s' is shaped only at run time",
                           s->model->onnx_source ? s->model->onnx_source : "model", out->name);
    int classes = out->c * out->h * out->w;
    for (int s = 0; s < batch; s++)
        if (labels[s] < 0 || labels[s] >= classes)
            return incept_fail(INCEPT_ERR_ARG, "label %d of sample %d is not a class of 0..%d",
                               labels[s], s, classes - 1);
    incept_status st = incept_session_plan(s, batch, 1, 1);
    if (st)
        return st;
    if (!s->loss_values && ((st = find_losses(s)) || (st = incept_train_generic_prepare(s))))
        return st;
    if ((st = incept_train_generic_check(s)))
        return st;
    for (int i = 0; i < s->n_losses; i++) {
        const incept_value *v = &g->values[s->loss_values[i]];
        if (v->c * v->h * v->w != classes)
            return incept_fail(INCEPT_ERR_SHAPE, "auxiliary head '%s' has %d outputs, the model %d",
                               v->name, v->c * v->h * v->w, classes);
    }
    if (!s->param_grads && !(s->param_grads = incept_alloc_floats(g->param_floats)))
        return INCEPT_ERR_NOMEM;

    unsigned long long seed = s->train_seed * 0x2545f4914f6cdd1dULL + s->train_steps;
    const double began = incept_now_seconds();
    if ((st = incept_session_run_forward(s, input, 1, !s->dropout_off, seed)))
        return st;
    const double forward_done = incept_now_seconds();
    s->step_forward_seconds = forward_done - began;
    memset(s->grad_block_zeroed, 0, (size_t)s->n_grad_blocks);
    memset(s->param_grads, 0, sizeof(float) * g->param_floats);
    for (int i = 0; i < s->n_losses; i++)
        zero_gradient(s, s->loss_values[i]);
    if ((st = incept_train_generic_begin(s))) {
        incept_session_clear_values(s);
        return st;
    }
    double total = 0.0;
    for (int i = 0; i < s->n_losses; i++)
        total += cross_entropy(&s->views[s->loss_values[i]], &s->grad_views[s->loss_values[i]],
                               labels, s->loss_weights[i], s->label_smoothing);

    for (int p = s->n_order - 1; p >= 0; p--) {
        const incept_node *n = &g->nodes[s->order[p]];
        double started = s->profiling ? incept_now_seconds() : 0.0;
        for (int k = 0; k < incept_node_output_count(n); k++) /* no reader: a zero gradient */
            zero_gradient(s, incept_node_output_at(n, k));
        for (int k = 0; k < n->n_inputs; k++)
            zero_gradient(s, n->inputs[k]);
        if (n->nd) {
            if ((st = incept_train_generic_backward(s, n))) {
                incept_train_generic_end(s);
                return st;
            }
            if (s->profiling)
                s->node_seconds[g->n_nodes + s->order[p]] += incept_now_seconds() - started;
            if (s->grad_hook)
                s->grad_hook(s, p);
            continue;
        }
        for (int k = 0; k < n->n_inputs; k++) {
            s->node_inputs[k] = s->views[n->inputs[k]];
            s->node_input_grads[k] = s->grad_views[n->inputs[k]];
            if (n->inputs[k] == g->input)
                s->node_input_grads[k].data = NULL; /* no gradient for the data */
        }
        incept_backward_args args = {
            .graph = g,
            .node = n,
            .inputs = s->node_inputs,
            .input_grads = s->node_input_grads,
            .n_inputs = n->n_inputs,
            .output = s->views[n->output],
            .output_grad = s->grad_views[n->output],
            .weight = n->weight >= 0 ? incept_graph_param_data(g, n->weight) : NULL,
            .bias = n->bias >= 0 ? incept_graph_param_data(g, n->bias) : NULL,
            .weight_grad = n->weight >= 0 ? s->param_grads + g->params[n->weight].offset : NULL,
            .bias_grad = n->bias >= 0 ? s->param_grads + g->params[n->bias].offset : NULL,
            .workspace = s->workspace,
            .threads = s->threads,
            .exact = s->exact,
            .dropout = !s->dropout_off,
            .dropout_seed = seed ^ (0x9e3779b97f4a7c15ULL * (unsigned long long)(s->order[p] + 1)),
            .sync = s->stats_sync,
            .saved = s->saved_at[s->order[p]] != SIZE_MAX ? s->saved + s->saved_at[s->order[p]] : NULL,
        };
        n->op->backward(&args);
        if (s->profiling)
            s->node_seconds[g->n_nodes + s->order[p]] += incept_now_seconds() - started;
        if (s->grad_hook) /* gradients final up to here: data-parallel training sends them */
            s->grad_hook(s, p);
    }
    incept_train_generic_end(s);
    s->step_backward_seconds = incept_now_seconds() - forward_done;
    s->profiled_backward_passes += s->profiling;
    s->train_steps++;
    if (loss)
        *loss = (float)total;
    return INCEPT_OK;
}

incept_status incept_session_param_grad(const incept_session *s, int index, const float **grad)
{
    if (!s || index < 0 || index >= s->model->graph.n_params || !grad)
        return incept_fail(INCEPT_ERR_ARG, "no parameter %d", index);
    if (!s->param_grads)
        return incept_fail(INCEPT_ERR_ARG, "no gradients yet: run incept_session_train_step first");
    *grad = s->param_grads + s->model->graph.params[index].offset;
    return INCEPT_OK;
}

incept_status incept_session_set_averaging(incept_session *s, float decay)
{
    if (!s || !(decay >= 0.0f && decay < 1.0f))
        return incept_fail(INCEPT_ERR_ARG, "averaging decay must be in [0, 1)");
    s->average_decay = decay;
    return INCEPT_OK;
}

incept_status incept_session_use_average(incept_session *s, int on)
{
    if (!s)
        return incept_fail(INCEPT_ERR_ARG, "no session");
    if (on && !s->average)
        return incept_fail(INCEPT_ERR_ARG, "no averaged weights: set averaging and train first");
    if ((on != 0) != s->average_in_use) {
        float *t = s->model->graph.param_data;
        s->model->graph.param_data = s->average;
        s->average = t;
        s->average_in_use = on != 0;
    }
    return INCEPT_OK;
}

incept_status incept_session_sgd_step(incept_session *s, const incept_sgd *sgd)
{
    if (!s || !sgd || !s->param_grads)
        return incept_fail(INCEPT_ERR_ARG, "sgd_step needs a session with gradients (train_step first) and options");
    if (s->average_in_use)
        return incept_fail(INCEPT_ERR_ARG, "sgd_step while the averaged weights are swapped in");
    const incept_graph *g = &s->model->graph;
    s->nonfinite_param = -1;
    if (!s->momentum) {
        s->momentum = incept_alloc_floats(g->param_floats);
        if (!s->momentum)
            return INCEPT_ERR_NOMEM;
        memset(s->momentum, 0, sizeof(float) * g->param_floats);
    }
    for (int i = 0; i < g->n_params; i++) {
        const incept_param *p = &g->params[i];
        if (p->frozen)
            continue;
        float decay = p->ndim == 1 && !sgd->decay_biases ? 0.0f : sgd->weight_decay;
        float *w = g->param_data + p->offset, *v = s->momentum + p->offset;
        const float *grad = s->param_grads + p->offset;
        int bad = 0;
        for (size_t k = 0; k < p->count; k++) {
            v[k] = sgd->momentum * v[k] + (grad[k] + decay * w[k]);
            w[k] -= sgd->learning_rate * v[k];
            bad |= !(w[k] - w[k] == 0.0f); /* NaN or infinite */
        }
        if (bad && s->nonfinite_param < 0)
            s->nonfinite_param = i;
    }
    if (s->average_decay > 0.0f) {
        if (!s->average) { /* starts from the weights after the first step */
            if (!(s->average = incept_alloc_floats(g->param_floats)))
                return INCEPT_ERR_NOMEM;
            memcpy(s->average, g->param_data, sizeof(float) * g->param_floats);
        } else {
            const float d = s->average_decay;
            for (size_t k = 0; k < g->param_floats; k++)
                s->average[k] = d * s->average[k] + (1.0f - d) * g->param_data[k];
        }
    }
    return INCEPT_OK;
}
