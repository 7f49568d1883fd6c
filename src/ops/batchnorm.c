/* batchnorm.c — batch normalization per channel (Ioffe & Szegedy 2015, the Inception v2 paper;
 * PyTorch BatchNorm2d, ONNX BatchNormalization), with an optional fused ReLU.
 *
 *   training:  y = gamma * (x - mean_B) / sqrt(var_B + eps) + beta, mean_B and var_B over the
 *              batch and the plane (N, H, W); the running statistics move towards them:
 *              running = (1 - momentum) * running + momentum * batch (the variance unbiased,
 *              as PyTorch does).
 *   inference: the same with the running statistics: a per-channel scale and shift.
 *
 * Parameters: weight = gamma [C], bias = beta [C]; attrs.running_mean and attrs.running_var name
 * two more [C] parameters that are state, not trained (incept_param.frozen). A training step's
 * forward keeps each channel's statistics, scale and shift for the backward (op->saved_bytes),
 * which recomputes the fused ReLU's mask from x instead of reading y. In data-parallel training
 * with synchronized statistics (incept_stats_sync) mean_B and var_B are the global batch's (the
 * backward then gathers its sums from every rank). */
#include <stdio.h>
#include <math.h>
#include <stdlib.h>

#include "core/cpu.h"
#include "core/status.h"
#include "io/onnx_import.h"
#include "io/onnx_writer.h"
#include "nd/nd.h"
#include "ops/op.h"

static incept_status batchnorm_infer(const incept_graph *g, const incept_node *n, int *c, int *h,
                                     int *w)
{
    const incept_value *in = incept_node_input(g, n, 0);
    const int params[4] = {n->weight, n->bias, n->attrs.running_mean, n->attrs.running_var};
    static const char *const what[4] = {"scale", "shift", "running mean", "running variance"};
    for (int i = 0; i < 4; i++) {
        if (params[i] < 0 || params[i] >= g->n_params)
            return incept_fail(INCEPT_ERR_ARG, "batch normalization needs a %s", what[i]);
        if (g->params[params[i]].count != (size_t)in->c)
            return incept_fail(INCEPT_ERR_SHAPE, "%s of %zu values for %d channels", what[i],
                               g->params[params[i]].count, in->c);
    }
    if (!(n->attrs.epsilon > 0.0f) || !(n->attrs.momentum >= 0.0f && n->attrs.momentum <= 1.0f))
        return incept_fail(INCEPT_ERR_ARG, "epsilon must be positive and momentum in [0, 1]");
    *c = in->c, *h = in->h, *w = in->w;
    return INCEPT_OK;
}

/* Sums over one plane, shifted by k (the channel's first value) so the variance does not lose
 * its digits to a large mean: n, sum (x - k), sum (x - k)^2. */
INCEPT_VECTOR_CLONES
static void plane_moments(const float *restrict x, size_t n, float k, float *s1, float *s2)
{
    float a = 0.0f, b = 0.0f;
#pragma omp simd reduction(+ : a, b)
    for (size_t i = 0; i < n; i++) {
        float d = x[i] - k;
        a += d;
        b += d * d;
    }
    *s1 = a, *s2 = b;
}

INCEPT_VECTOR_CLONES
static void plane_scale_shift(const float *restrict x, float *y, size_t n, float scale,
                              float shift, int relu)
{
    for (size_t i = 0; i < n; i++) { /* y may be x (in place at inference) */
        float v = x[i] * scale + shift;
        y[i] = relu && v < 0.0f ? 0.0f : v;
    }
}

/* What a training step's forward keeps per channel for the backward. */
typedef struct {
    double mean, var;   /* the batch's (biased variance) */
    float scale, shift; /* y = x * scale + shift before the ReLU */
} batchnorm_saved;

static size_t batchnorm_saved_bytes(const incept_graph *g, const incept_node *n,
                                    const incept_run_config *config)
{
    (void)config;
    return sizeof(batchnorm_saved) * (size_t)incept_node_input(g, n, 0)->c;
}

/* sum g and sum g (x - mean) over one plane, g being dy where the forward's x * scale + shift
 * was positive (every dy without the ReLU): the mask y > 0 gave, computed the same way, without
 * reading y. */
INCEPT_VECTOR_CLONES
static void plane_grad_sums(const float *restrict x, const float *restrict dy, size_t n,
                            float scale, float shift, float mean, int relu, float *g1, float *gx)
{
    float c = 0.0f, e = 0.0f;
    const float floor = relu ? 0.0f : -INFINITY;
#pragma omp simd reduction(+ : c, e)
    for (size_t i = 0; i < n; i++) {
        float v = x[i] * scale + shift, g = v > floor ? dy[i] : 0.0f;
        c += g;
        e += g * (x[i] - mean);
    }
    *g1 = c, *gx = e;
}

/* dx += a * g + b * x + c with g masked as plane_grad_sums masks it. */
INCEPT_VECTOR_CLONES
static void plane_input_grad(const float *restrict x, const float *restrict dy,
                                  float *restrict dx, size_t n, float scale, float shift, int relu,
                                  float a, float b, float c)
{
    const float floor = relu ? 0.0f : -INFINITY;
    for (size_t i = 0; i < n; i++) {
        float v = x[i] * scale + shift, g = v > floor ? dy[i] : 0.0f;
        dx[i] += a * g + b * x[i] + c;
    }
}

static const float *plane_of(const incept_view *t, int s, int ch)
{
    return t->data + s * t->batch_stride + (size_t)ch * t->h * t->w;
}

/* Mean and biased variance of channel ch over the batch and the plane. */
static void channel_moments(const incept_view *x, int ch, double *mean, double *var)
{
    const size_t plane = (size_t)x->h * x->w;
    const float k = plane_of(x, 0, ch)[0];
    double s1 = 0.0, s2 = 0.0;
    for (int s = 0; s < x->n; s++) {
        float a, b;
        plane_moments(plane_of(x, s, ch), plane, k, &a, &b);
        s1 += a, s2 += b;
    }
    const double count = (double)x->n * plane, shifted_mean = s1 / count;
    *mean = k + shifted_mean;
    *var = s2 / count - shifted_mean * shifted_mean;
    if (*var < 0.0)
        *var = 0.0;
}

/* ---- synchronized statistics (data-parallel training, incept_stats_sync) ----
 * Forward: each rank sends, per channel, its count, mean and M2 = sum (x - mean)^2; every rank
 * merges them rank after rank (Chan, Golub & LeVeque's pairwise update), so all hold the same
 * statistics of the global batch. Backward: each rank sends its share-weighted sum g and
 * sum g (x - mean) about that global mean, and every rank adds them up. */
#define SYNC_FORWARD 3  /* doubles per channel: count, mean, M2 */
#define SYNC_BACKWARD 2 /* share x sum g, share x sum g (x - mean) */

/* The global count, mean and biased variance of channel ch from every rank's SYNC_FORWARD
 * doubles per channel. */
static void merge_channel(const double *all, int ranks, int channels, int ch, double *count,
                          double *mean, double *var)
{
    double n = 0.0, m = 0.0, m2 = 0.0;
    for (int r = 0; r < ranks; r++) {
        const double *v = all + ((size_t)r * channels + ch) * SYNC_FORWARD;
        if (v[0] <= 0.0)
            continue; /* a rank with no samples this step */
        double total = n + v[0], delta = v[1] - m;
        m += delta * v[0] / total;
        m2 += v[2] + delta * delta * n * v[0] / total;
        n = total;
    }
    *count = n, *mean = m, *var = n > 0.0 ? m2 / n : 0.0;
}

/* Doubles of workspace per channel: the backward's statistics (4), sums (2) and what it sends
 * (SYNC_BACKWARD), and after them the synchronized statistics' exchange (SYNC_FORWARD of this
 * rank's, 3 merged), which the forward uses from the start and a backward without the
 * forward's kept statistics after its own. */
static size_t batchnorm_workspace(const incept_graph *g, const incept_node *n,
                                  const incept_run_config *config)
{
    const size_t channels = (size_t)incept_node_input(g, n, 0)->c;
    const size_t doubles = (SYNC_FORWARD + 3 + 4 + 2 + SYNC_BACKWARD) * channels;
    return config->training ? 2 * doubles : 0;
}

/* Every channel's count, mean and biased variance over the global batch into stats (3 per
 * channel), from this rank's moments. 0 when the exchange failed (the step then fails). */
static int synced_moments(const incept_view *x, const incept_stats_sync *sync, int threads,
                          double *workspace, double *stats)
{
    const double count = (double)x->n * x->h * x->w;
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int ch = 0; ch < x->c; ch++) {
        double mean, var;
        channel_moments(x, ch, &mean, &var);
        double *v = workspace + (size_t)ch * SYNC_FORWARD;
        v[0] = count, v[1] = mean, v[2] = var * count;
    }
    const double *all = sync->gather(sync, workspace, SYNC_FORWARD * x->c);
    if (!all)
        return 0;
    for (int ch = 0; ch < x->c; ch++)
        merge_channel(all, sync->ranks, x->c, ch, &stats[3 * ch], &stats[3 * ch + 1],
                      &stats[3 * ch + 2]);
    return 1;
}

static void batchnorm_forward(const incept_op_args *args)
{
    const incept_node *n = args->node;
    const incept_attrs *a = &n->attrs;
    const incept_view *in = &args->inputs[0], *out = &args->output;
    const incept_graph *g = args->graph;
    float *running_mean = incept_graph_param_data(g, a->running_mean);
    float *running_var = incept_graph_param_data(g, a->running_var);
    const size_t plane = (size_t)in->h * in->w;
    const double *merged = NULL; /* the global batch's (synchronized): count, mean, variance */
    if (args->training && args->sync) {
        double *mine = (double *)args->workspace, *stats = mine + SYNC_FORWARD * (size_t)in->c;
        if (!synced_moments(in, args->sync, args->threads, mine, stats))
            return;
        merged = stats;
    }
#pragma omp parallel for num_threads(args->threads) schedule(static)
    for (int ch = 0; ch < in->c; ch++) {
        double mean, var, count = (double)in->n * plane;
        if (merged) {
            count = merged[3 * ch], mean = merged[3 * ch + 1], var = merged[3 * ch + 2];
        } else if (args->training) {
            channel_moments(in, ch, &mean, &var);
        } else {
            mean = running_mean[ch];
            var = running_var[ch];
        }
        if (args->training) {
            const float m = a->momentum;
            double unbiased = count > 1.0 ? var * count / (count - 1.0) : var;
            running_mean[ch] = (1.0f - m) * running_mean[ch] + m * (float)mean;
            running_var[ch] = (1.0f - m) * running_var[ch] + m * (float)unbiased;
        }
        const float scale = (float)(args->weight[ch] / sqrt(var + a->epsilon));
        const float shift = args->bias[ch] - (float)mean * scale;
        if (args->training && args->saved)
            ((batchnorm_saved *)args->saved)[ch] = (batchnorm_saved){mean, var, scale, shift};
        for (int s = 0; s < in->n; s++)
            plane_scale_shift(plane_of(in, s, ch), (float *)plane_of(out, s, ch), plane, scale,
                              shift, a->relu);
    }
}

/* With x^ = (x - mean) / std over the batch and g = dy (masked by the ReLU):
 *   dgamma = sum g x^,  dbeta = sum g,  dx = gamma / std * (g - mean(g) - x^ mean(g x^)),
 * the last written as a * g + b * x + c for one pass over the plane. The statistics, scale and
 * shift are those the forward kept (batchnorm_saved), the ReLU's mask recomputed from x, so two
 * passes read x and dy and none reads y. Synchronized, mean and std are the global batch's, and
 * so are the means of g and g x^: of the gradient of the global loss (each rank's g weighted by
 * its share), over this rank's count for its own loss's scale. */
static void batchnorm_backward(const incept_backward_args *args)
{
    const incept_node *n = args->node;
    const incept_attrs *a = &n->attrs;
    const incept_view *in = &args->inputs[0], *dy = &args->output_grad;
    const incept_view *dx = &args->input_grads[0];
    const size_t plane = (size_t)in->h * in->w;
    const double count = (double)in->n * plane;
    const incept_stats_sync *sync = args->sync;
    const batchnorm_saved *kept = args->saved;
    /* per channel: mean, var, scale, shift; this rank's sum g and sum g (x - mean) */
    double *stats = (double *)args->workspace, *sums = stats + 4 * (size_t)in->c;
    double *sent = sums + 2 * (size_t)in->c, *exchange = sent + SYNC_BACKWARD * (size_t)in->c;
    const double *merged = NULL; /* without kept statistics, synchronized: the global batch's */
    if (!kept && sync) {
        double *stats3 = exchange + SYNC_FORWARD * (size_t)in->c;
        if (!synced_moments(in, sync, args->threads, exchange, stats3))
            return;
        merged = stats3;
    }
#pragma omp parallel for num_threads(args->threads) schedule(static)
    for (int ch = 0; ch < in->c; ch++) {
        double mean, var, sum_g = 0.0, sum_gx = 0.0;
        float scale, shift;
        if (kept) {
            mean = kept[ch].mean, var = kept[ch].var;
            scale = kept[ch].scale, shift = kept[ch].shift;
        } else { /* no forward of this step kept them: the batch's, as that forward had them */
            if (merged)
                mean = merged[3 * ch + 1], var = merged[3 * ch + 2];
            else
                channel_moments(in, ch, &mean, &var);
            scale = (float)(args->weight[ch] / sqrt(var + a->epsilon));
            shift = args->bias[ch] - (float)mean * scale;
        }
        for (int s = 0; s < in->n; s++) {
            float g1, gx;
            plane_grad_sums(plane_of(in, s, ch), plane_of(dy, s, ch), plane, scale, shift,
                            (float)mean, a->relu, &g1, &gx);
            sum_g += g1, sum_gx += gx;
        }
        sum_gx -= (mean - (float)mean) * sum_g; /* about the mean rather than its float */
        double *st = stats + 4 * (size_t)ch;
        st[0] = mean, st[1] = var, st[2] = scale, st[3] = shift;
        sums[2 * ch] = sum_g, sums[2 * ch + 1] = sum_gx;
        if (sync)
            sent[2 * ch] = sync->share * sum_g, sent[2 * ch + 1] = sync->share * sum_gx;
    }
    const double *all = NULL; /* every rank's sent sums, rank after rank */
    if (sync && !(all = sync->gather(sync, sent, SYNC_BACKWARD * in->c)))
        return;
#pragma omp parallel for num_threads(args->threads) schedule(static)
    for (int ch = 0; ch < in->c; ch++) {
        const double *st = stats + 4 * (size_t)ch;
        const double mean = st[0], inv_std = 1.0 / sqrt(st[1] + a->epsilon);
        const double sum_g = sums[2 * ch], sum_gx = sums[2 * ch + 1];
        double all_g = sum_g, all_gx = sum_gx;
        if (all) {
            all_g = all_gx = 0.0;
            for (int r = 0; r < sync->ranks; r++) {
                const double *v = all + ((size_t)r * in->c + ch) * SYNC_BACKWARD;
                all_g += v[0], all_gx += v[1];
            }
        }
        args->weight_grad[ch] += (float)(sum_gx * inv_std); /* sum g x^ */
        args->bias_grad[ch] += (float)sum_g;
        if (!dx->data)
            continue;
        const double k = args->weight[ch] * inv_std, b = -k * inv_std * inv_std * all_gx / count;
        const float c = (float)(-k * all_g / count - b * mean);
        for (int s = 0; s < in->n; s++)
            plane_input_grad(plane_of(in, s, ch), plane_of(dy, s, ch), (float *)plane_of(dx, s, ch),
                             plane, (float)st[2], (float)st[3], a->relu, (float)k, (float)b, c);
    }
}

/* The identity to start from: scale 1, shift 0, running statistics N(0, 1). */
static void batchnorm_init_params(const incept_graph *g, const incept_node *n, incept_rng *rng)
{
    (void)rng;
    const float start[4] = {1.0f, 0.0f, 0.0f, 1.0f};
    const int params[4] = {n->weight, n->bias, n->attrs.running_mean, n->attrs.running_var};
    for (int k = 0; k < 4; k++) {
        float *data = incept_graph_param_data(g, params[k]);
        for (size_t j = 0; j < g->params[params[k]].count; j++)
            data[j] = start[k];
    }
}

/* The inference form: the running statistics (ONNX's momentum weighs the old value). */
static incept_status batchnorm_to_onnx(const incept_onnx_export *e)
{
    const incept_graph *g = e->g;
    const incept_node *n = e->n;
    const incept_attrs *a = &n->attrs;
    const char *ins[] = {e->in, g->params[n->weight].name, g->params[n->bias].name,
                         g->params[a->running_mean].name, g->params[a->running_var].name, NULL};
    struct Onnx__AttributeProto *attrs[] = {incept_onnx_put_float(e->w, "epsilon", a->epsilon),
                                            incept_onnx_put_float(e->w, "momentum", 1.0f - a->momentum), NULL};
    e->rank[n->output] = e->rank[n->inputs[0]];
    int ok = incept_onnx_put_param(e->w, g, n->weight) && incept_onnx_put_param(e->w, g, n->bias) &&
             incept_onnx_put_param(e->w, g, a->running_mean) && incept_onnx_put_param(e->w, g, a->running_var) &&
             incept_onnx_put_node(e->w, "BatchNormalization", n->name, ins, e->out, attrs);
    return ok ? INCEPT_OK : INCEPT_ERR_NOMEM;
}

/* ---- the N-d reference (the generic path: any rank and dtype; nd/nd.h) ---- */

INCEPT_ND_OP(batchnorm)
{
    incept_status st = incept_nd_expect(ctx, in, n_in, 0, INCEPT_FLOAT32, 2, 0);
    if (st)
        return st;
    const incept_tensor *x = in[0];
    long long channels = x->dims[1];
    for (int i = 1; i < 5; i++) {
        if ((st = incept_nd_expect(ctx, in, n_in, i, INCEPT_FLOAT32, 1, 1)))
            return st;
        if (in[i]->dims[0] != channels)
            return incept_nd_fail(ctx, INCEPT_ERR_SHAPE, "input %d has %lld values for %lld channels", i,
                               in[i]->dims[0], channels);
    }
    if (incept_onnx_attr_int(ctx->node, "spatial", 1) != 1)
        return incept_nd_fail(ctx, INCEPT_ERR_UNSUPPORTED, "spatial = 0 (statistics per element)");
    float epsilon = incept_onnx_attr_float(ctx->node, "epsilon", 1e-5f);
    float momentum = incept_onnx_attr_float(ctx->node, "momentum", 0.9f);
    int training = ctx->opset >= 14 ? incept_onnx_attr_int(ctx->node, "training_mode", 0) != 0 : n_out > 1;
    if (!training && n_out > 1)
        return incept_nd_fail(ctx, INCEPT_ERR_FORMAT, "statistics outputs outside training mode");
    if ((st = incept_nd_array_alloc(ctx, &out[0], INCEPT_FLOAT32, x->rank, x->dims)))
        return st;
    for (int i = 1; i < n_out && i < 5; i++)
        if ((st = incept_nd_array_alloc(ctx, &out[i], INCEPT_FLOAT32, 1, &channels)))
            return st;
    const float *scale = in[1]->data, *shift = in[2]->data, *mean = in[3]->data, *var = in[4]->data;
    size_t batch = (size_t)x->dims[0], plane = incept_nd_span(x, 2, x->rank);
    const float *xs = x->data;
    float *y = out[0].data;
    for (long long c = 0; c < channels; c++) {
        double m = mean[c], v = var[c];
        if (training) { /* the batch's moments (population variance) */
            double sum = 0.0, squares = 0.0, count = (double)(batch * plane);
            for (size_t n = 0; n < batch; n++)
                for (size_t i = 0; i < plane; i++)
                    sum += xs[(n * (size_t)channels + (size_t)c) * plane + i];
            m = count > 0 ? sum / count : 0.0;
            for (size_t n = 0; n < batch; n++)
                for (size_t i = 0; i < plane; i++) {
                    double d = xs[(n * (size_t)channels + (size_t)c) * plane + i] - m;
                    squares += d * d;
                }
            v = count > 0 ? squares / count : 0.0;
            float *running[4] = {n_out > 1 ? out[1].data : NULL, n_out > 2 ? out[2].data : NULL,
                                 n_out > 3 ? out[3].data : NULL, n_out > 4 ? out[4].data : NULL};
            if (running[0])
                running[0][c] = (float)(mean[c] * momentum + m * (1.0 - momentum));
            if (running[1])
                running[1][c] = (float)(var[c] * momentum + v * (1.0 - momentum));
            if (running[2])
                running[2][c] = (float)m;
            if (running[3])
                running[3][c] = (float)v;
        }
        float a = (float)(scale[c] / sqrt(v + epsilon)), b = (float)(shift[c] - m * a);
        for (size_t n = 0; n < batch; n++) {
            size_t at = (n * (size_t)channels + (size_t)c) * plane;
            for (size_t i = 0; i < plane; i++)
                y[at + i] = xs[at + i] * a + b;
        }
    }
    return INCEPT_OK;
}

static int is_initializer(importer *im, const char *name)
{
    const binding *b = incept_onnx_find_binding(im, name);
    return b && b->init;
}

/* ONNX BatchNormalization, at inference: y = (x - mean) / sqrt(var + eps) * gamma + beta per
 * channel, an affine node (affine.c) that passes/fold_batchnorm.c folds into the convolution
 * before it where it can (this op is the training form the description's `bn` builds). */
static incept_status batchnorm_from_onnx(importer *im, const Onnx__NodeProto *n)
{
    binding *x;
    incept_status st = incept_onnx_activation(im, n, 0, &x);
    if (st)
        return st;
    if (incept_onnx_attr_int(n, "training_mode", 0) != 0) /* opset 14: batch statistics and running updates */
        return incept_onnx_node_error(im, n, INCEPT_ERR_UNSUPPORTED, "%s", "training_mode = 1 (only inference)");
    int c = im->graph->values[x->value].c;
    size_t counts[4];
    float *v[4] = {NULL, NULL, NULL, NULL}; /* gamma, beta, mean, var */
    for (int i = 0; i < 4; i++)
        if ((st = incept_onnx_constant_floats(im, n, (size_t)i + 1, &counts[i], &v[i])) || !v[i] ||
            counts[i] != (size_t)c) {
            for (int k = 0; k <= i; k++)
                free(v[k]);
            if (st)
                return st;
            return incept_onnx_node_error(im, n, INCEPT_ERR_UNSUPPORTED, "%s",
                              "scale, B, mean and var must be constants with one value per channel");
        }
    float eps = incept_onnx_attr_float(n, "epsilon", 1e-5f);
    for (int ch = 0; ch < c; ch++) { /* scale into v[0], shift into v[1], mean * scale into v[2] */
        float s = v[0][ch] / sqrtf(v[3][ch] + eps);
        v[2][ch] *= s;
        v[1][ch] = v[1][ch] - v[2][ch];
        v[0][ch] = s;
    }
    free(v[3]);
    /* an affine node, listed for the folding pass (passes/fold_batchnorm.c), which moves it into
     * the convolution before it where it can; its parameters are named as the folded bias */
    incept_graph *g = im->graph;
    incept_bn_source *grown = realloc(g->bn_sources, sizeof *grown * (size_t)(g->n_bn_sources + 1));
    if (!grown) {
        free(v[0]), free(v[1]), free(v[2]);
        return INCEPT_ERR_NOMEM;
    }
    g->bn_sources = grown;
    const char *beta = n->n_input > 2 && is_initializer(im, n->input[2]) &&
                       incept_onnx_readers_of(im, n->input[2]) == 1 ? n->input[2] : NULL;
    incept_bn_source *src = &g->bn_sources[g->n_bn_sources];
    *src = (incept_bn_source){-1, NULL, v[2]};
    if (beta && !(src->beta = incept_strdup(beta))) {
        free(v[0]), free(v[1]), free(v[2]);
        return INCEPT_ERR_NOMEM;
    }
    g->n_bn_sources++;
    st = incept_onnx_emit_affine(im, n, x, v[0], c, v[1], c, "bias");
    if (!st) /* its output value (node indices change as the importer prunes) */
        src = &g->bn_sources[g->n_bn_sources - 1], src->value = g->nodes[g->n_nodes - 1].output;
    return st;
}

const incept_op incept_op_batchnorm = {
    .name = "batchnorm", .min_inputs = 1, .max_inputs = 1, .in_place = 1,
    .infer = batchnorm_infer, .forward = batchnorm_forward, .backward = batchnorm_backward,
    .workspace_floats = batchnorm_workspace, .backward_workspace_floats = batchnorm_workspace,
    .saved_bytes = batchnorm_saved_bytes,
    .init_params = batchnorm_init_params,
    .label = "batch norm",
    .to_onnx = batchnorm_to_onnx,
    .onnx_types = {"BatchNormalization"},
    .from_onnx = batchnorm_from_onnx,
};
