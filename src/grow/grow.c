/* grow.c — growing an Inception network layer by layer from the correlations of its activations
 * (the paper's section 3, after Arora et al.): train what is there briefly, measure its last
 * layer on a sample of images, cluster the units whose outputs correlate, measure how far each
 * cluster's correlation reaches in space, and make the next Inception module from that: local
 * clusters get 1x1 convolutions, spread ones 3x3 and 5x5, each branch's 1x1 reduction as wide as
 * the clusters it covers, the module as wide as the multiply-add budget allows. Repeat.
 *
 * The statistics, for the last layer's C channels over the sample's N positions (images x
 * pixels), each channel standardized to mean 0 and variance 1 (z):
 *   - r[i][j] = mean over positions of z_i z_j: the channel correlation matrix;
 *   - clusters: average-linkage agglomerative clustering on |r| (deterministic, works on the
 *     correlation matrix itself, no number of clusters to guess: merging stops when no two
 *     clusters correlate above the threshold on average). Spectral clustering would need an
 *     eigen-solver and a cluster count, k-means a random start;
 *   - a cluster's spread: with u(p) the sum of its members' z at position p, its correlation at
 *     distance d is a(d) = mean over offsets at Chebyshev distance d (8 for d = 1: the 3x3
 *     window's ring; 16 for d = 2: the 5x5's) and positions of u(p) u(p + offset), relative to
 *     a(0) = mean u(p)^2. A cluster whose a(1) is small is covered by a 1x1 convolution, one
 *     whose a(1) is large but a(2) small by a 3x3, one correlated at distance 2 by a 5x5: it
 *     weighs 1 - a(1) towards 1x1, a(1) - a(2) towards 3x3 and a(2) towards 5x5 (clipped to
 *     [0, 1]).
 *   - the module: the 1x1, 3x3 and 5x5 branches share 7/8 of its output by those weights summed
 *     over the clusters (each weighted by its size), the pool projection takes 1/8 (the paper's
 *     modules give it 1/8 to 1/4); the 3x3 and 5x5 reductions are as wide as their weights
 *     summed over the clusters (one unit per correlated group: the compression 1x1 reductions
 *     stand for); widths are multiples of 8; the module's total width is the largest (up to 3x
 *     its input's) whose network stays within its share of the budget: the budget left after
 *     the stem and head, in equal parts per module. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "incept.h"

#define ROUND 8
#define GROWTH 3 /* a module at most 3x as wide as its input (GoogLeNet's grow 1.0-1.9x) */

typedef struct {
    const incept_grow_options *o;
    char *text;        /* the network so far, a description without its classifier head */
    size_t length, size;
    incept_model *trained; /* the last trained network (its weights start the next one) */
} grower;

static void say(const grower *g, const char *format, ...)
{
    if (!g->o->progress)
        return;
    char line[1024];
    va_list ap;
    va_start(ap, format);
    vsnprintf(line, sizeof line, format, ap);
    va_end(ap);
    g->o->progress(line, g->o->user);
}

static incept_status append(grower *g, const char *format, ...)
{
    va_list ap;
    va_start(ap, format);
    int need = vsnprintf(NULL, 0, format, ap);
    va_end(ap);
    if (need < 0)
        return incept_fail(INCEPT_ERR_ARG, "grow: a line that cannot be written");
    if (g->length + (size_t)need + 1 > g->size) {
        size_t size = (g->length + (size_t)need + 1) * 2;
        char *bigger = realloc(g->text, size);
        if (!bigger)
            return INCEPT_ERR_NOMEM;
        g->text = bigger, g->size = size;
    }
    va_start(ap, format);
    vsnprintf(g->text + g->length, g->size - g->length, format, ap);
    va_end(ap);
    g->length += (size_t)need;
    return INCEPT_OK;
}

/* The network so far with the classifier head (global pooling, dropout, a linear layer). */
static char *with_head(const grower *g)
{
    const char *head = "globalavgpool grown_pool\nflatten grown_flatten\ndropout grown_dropout 0.2\n"
                       "fc classifier %d\n";
    size_t size = g->length + strlen(head) + 32;
    char *text = malloc(size);
    if (text) {
        memcpy(text, g->text, g->length);
        snprintf(text + g->length, size - g->length, head, g->o->classes);
    }
    return text;
}

/* Parses text (NULL: out of memory) into *m, a model named "grown network". */
static incept_status parse(const char *text, incept_model **m)
{
    *m = NULL;
    return text ? incept_model_parse_description(text, "grown network", m) : INCEPT_ERR_NOMEM;
}

static long long multiply_adds(const char *text)
{
    incept_model *m;
    incept_totals t = {0};
    if (parse(text, &m))
        return -1;
    incept_model_summary(m, NULL, &t);
    incept_model_free(m);
    return t.multiply_adds;
}

/* Parameter i of m: its name, data and number of values. */
static size_t param_at(incept_model *m, int i, const char **name, float **data)
{
    int nd, dims[4];
    incept_model_param(m, i, name, &nd, dims, data);
    size_t count = 1;
    for (int k = 0; k < nd; k++)
        count *= (size_t)dims[k];
    return count;
}

/* Copies every parameter of `from` into `to` that has the same name and size. */
static void carry_weights(incept_model *from, incept_model *to)
{
    for (int i = 0; from && i < incept_model_param_count(to); i++) {
        const char *name, *other;
        float *data, *source;
        size_t count = param_at(to, i, &name, &data);
        for (int j = 0; j < incept_model_param_count(from); j++)
            if (param_at(from, j, &other, &source) == count && strcmp(name, other) == 0) {
                memcpy(data, source, sizeof(float) * count);
                break;
            }
    }
}

/* Trains the network so far (with its head) for o->steps steps, starting from the weights the
 * last one learned; keeps it in g->trained. */
static incept_status train_current(grower *g, const incept_dataset *data)
{
    incept_model *m;
    char *text = with_head(g);
    incept_status st = parse(text, &m);
    free(text);
    if (st)
        return st;
    incept_model_init_weights(m, g->o->seed);
    carry_weights(g->trained, m);
    incept_session *s = NULL;
    incept_train_state t;
    memset(&t, 0, sizeof t);
    t.seed = g->o->seed, t.batch = 128, t.shuffle = 1, t.augment = 1, t.dropout = 1;
    t.aux_weight = 0.3f, t.total_steps = g->o->steps;
    t.sgd = (incept_sgd){g->o->learning_rate, 0.9f, 5e-4f, 1};
    snprintf(t.schedule, sizeof t.schedule, "cosine");
    t.warmup = g->o->steps / 10;
    incept_train_options to = {.epochs = 1};
    if (!(st = incept_session_new(m, &s)) && !(st = incept_session_set_threads(s, g->o->threads)))
        st = incept_train(s, data, NULL, &t, &to);
    incept_session_free(s);
    if (st) {
        incept_model_free(m);
        return st;
    }
    incept_model_free(g->trained);
    g->trained = m;
    return INCEPT_OK;
}

typedef struct {
    int c, h, w, n;   /* channels, plane, images */
    float *z;         /* [c][n][h][w], each channel standardized */
} activations;

/* The standardized activations of layer `name` of the trained network on `count` images of
 * data, spread evenly over it. */
static incept_status measure(grower *g, const incept_dataset *data, const char *name, int count,
                             activations *a)
{
    int n, c, h, w;
    incept_dataset_dims(data, &n, &c, &h, &w, NULL);
    const float *images = incept_dataset_images(data);
    if (!images)
        return incept_fail(INCEPT_ERR_UNSUPPORTED, "grow: the data must be in memory (idx or raw "
                           "tensors), not an image folder");
    if (count > n)
        count = n;
    incept_session *s;
    incept_status st = incept_session_new(g->trained, &s);
    if (st || (st = incept_session_set_threads(s, g->o->threads))) {
        incept_session_free(s);
        return st;
    }
    const size_t sample = (size_t)c * h * w;
    float *batch = malloc(sizeof(float) * sample * 64);
    memset(a, 0, sizeof *a);
    for (int first = 0; first < count && !st && batch; first += 64) {
        int take = count - first < 64 ? count - first : 64;
        for (int i = 0; i < take; i++)
            memcpy(batch + sample * i, images + sample * (size_t)((long)(first + i) * n / count),
                   sizeof(float) * sample);
        incept_tensor in = {INCEPT_FLOAT32, 4, {take, c, h, w}, batch}, out = {0};
        if ((st = incept_session_run(s, 1, NULL, &in, 1, &name, &out)))
            break;
        if (!a->z) {
            a->c = (int)out.dims[1], a->h = out.rank > 2 ? (int)out.dims[2] : 1;
            a->w = out.rank > 3 ? (int)out.dims[3] : 1, a->n = count;
            a->z = malloc(sizeof(float) * (size_t)a->c * count * a->h * a->w);
            if (!a->z) {
                incept_tensor_free(&out);
                st = INCEPT_ERR_NOMEM;
                break;
            }
        }
        const size_t plane = (size_t)a->h * a->w;
        const float *y = out.data;
        for (int i = 0; i < take; i++)
            for (int ch = 0; ch < a->c; ch++)
                memcpy(a->z + ((size_t)ch * count + first + i) * plane,
                       y + ((size_t)i * a->c + ch) * plane, sizeof(float) * plane);
        incept_tensor_free(&out);
    }
    free(batch);
    incept_session_free(s);
    if (!st && !a->z)
        st = INCEPT_ERR_NOMEM;
    if (st) {
        free(a->z);
        a->z = NULL;
        return st;
    }
    const size_t per = (size_t)a->n * a->h * a->w;
    for (int ch = 0; ch < a->c; ch++) { /* standardize; a dead channel stays all zeros */
        float *v = a->z + (size_t)ch * per;
        double sum = 0.0, squares = 0.0;
        for (size_t i = 0; i < per; i++)
            sum += v[i], squares += (double)v[i] * v[i];
        double mean = sum / per, var = squares / per - mean * mean;
        double scale = var > 1e-12 ? 1.0 / sqrt(var) : 0.0;
        for (size_t i = 0; i < per; i++)
            v[i] = (float)((v[i] - mean) * scale);
    }
    return INCEPT_OK;
}

/* Average-linkage agglomerative clustering on |r|: cluster[i] gets channel i's cluster
 * (0..*count-1); merges while some two clusters correlate above `threshold` on average. */
static incept_status cluster(const activations *a, double threshold, int *cluster_of, int *count)
{
    const int c = a->c;
    const size_t per = (size_t)a->n * a->h * a->w;
    double *link = calloc((size_t)c * c, sizeof(double)); /* summed |r| between clusters */
    int *size = malloc(sizeof(int) * (size_t)c), *alive = malloc(sizeof(int) * (size_t)c);
    if (!link || !size || !alive) {
        free(link), free(size), free(alive);
        return INCEPT_ERR_NOMEM;
    }
    for (int i = 0; i < c; i++)
        for (int j = i + 1; j < c; j++) {
            const float *zi = a->z + (size_t)i * per, *zj = a->z + (size_t)j * per;
            double dot = 0.0;
            for (size_t p = 0; p < per; p++)
                dot += (double)zi[p] * zj[p];
            link[(size_t)i * c + j] = link[(size_t)j * c + i] = fabs(dot / per);
        }
    for (int i = 0; i < c; i++)
        cluster_of[i] = i, size[i] = 1, alive[i] = 1;
    for (;;) {
        int bi = -1, bj = -1;
        double best = threshold;
        for (int i = 0; i < c; i++)
            for (int j = i + 1; j < c && alive[i]; j++)
                if (alive[j]) {
                    double mean = link[(size_t)i * c + j] / ((double)size[i] * size[j]);
                    if (mean > best)
                        best = mean, bi = i, bj = j;
                }
        if (bi < 0)
            break;
        for (int k = 0; k < c; k++) /* j into i: the summed links add */
            if (alive[k] && k != bi && k != bj) {
                link[(size_t)bi * c + k] += link[(size_t)bj * c + k];
                link[(size_t)k * c + bi] = link[(size_t)bi * c + k];
            }
        size[bi] += size[bj];
        alive[bj] = 0;
        for (int k = 0; k < c; k++)
            if (cluster_of[k] == bj)
                cluster_of[k] = bi;
    }
    int next = 0; /* renumber the clusters left 0.. in channel order */
    for (int i = 0; i < c; i++)
        size[i] = -1;
    for (int i = 0; i < c; i++) {
        if (size[cluster_of[i]] < 0)
            size[cluster_of[i]] = next++;
        alive[i] = size[cluster_of[i]];
    }
    memcpy(cluster_of, alive, sizeof(int) * (size_t)c);
    *count = next;
    free(link), free(size), free(alive);
    return INCEPT_OK;
}

/* a(1) / a(0) and a(2) / a(0) of one cluster's summed signal u (see the top of the file). */
static void spread(const activations *a, const float *u, double *ring1, double *ring2)
{
    double sums[3] = {0, 0, 0};
    long long counts[3] = {0, 0, 0};
    const int h = a->h, w = a->w;
    for (int s = 0; s < a->n; s++) {
        const float *plane = u + (size_t)s * h * w;
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
                for (int dy = -2; dy <= 2; dy++)
                    for (int dx = -2; dx <= 2; dx++) {
                        int yy = y + dy, xx = x + dx, d = abs(dy) > abs(dx) ? abs(dy) : abs(dx);
                        if (yy < 0 || yy >= h || xx < 0 || xx >= w)
                            continue;
                        sums[d] += (double)plane[y * w + x] * plane[yy * w + xx];
                        counts[d]++;
                    }
    }
    double a0 = counts[0] ? sums[0] / counts[0] : 0.0;
    *ring1 = a0 > 0 && counts[1] ? sums[1] / counts[1] / a0 : 0.0;
    *ring2 = a0 > 0 && counts[2] ? sums[2] / counts[2] / a0 : 0.0;
}

static double clip01(double x) { return x < 0.0 ? 0.0 : x > 1.0 ? 1.0 : x; }

static int round_width(double x, int at_least)
{
    int v = (int)lround(x / ROUND) * ROUND;
    return v < at_least ? at_least : v;
}

typedef struct {
    double share[3];  /* of the 1x1, 3x3 and 5x5 branches, summing to 1 */
    double reduce[2]; /* 3x3 and 5x5 reduction widths before rounding */
    int clusters;
    double ring1, ring2; /* size-weighted means over the clusters */
} statistics;

static incept_status module_statistics(const activations *a, double threshold, statistics *st_out)
{
    int *of = malloc(sizeof(int) * (size_t)a->c), count = 0;
    const size_t per = (size_t)a->n * a->h * a->w;
    float *u = malloc(sizeof(float) * per);
    incept_status st = of && u ? cluster(a, threshold, of, &count) : INCEPT_ERR_NOMEM;
    statistics s = {{0, 0, 0}, {0, 0}, count, 0, 0};
    for (int k = 0; k < count && !st; k++) {
        int members = 0;
        memset(u, 0, sizeof(float) * per);
        for (int ch = 0; ch < a->c; ch++)
            if (of[ch] == k) {
                members++;
                const float *z = a->z + (size_t)ch * per;
                for (size_t p = 0; p < per; p++)
                    u[p] += z[p];
            }
        double r1, r2;
        spread(a, u, &r1, &r2);
        const double local = clip01(1.0 - r1), medium = clip01(r1 - r2), wide = clip01(r2);
        const double total = local + medium + wide > 0 ? local + medium + wide : 1.0;
        s.share[0] += members * local / total;
        s.share[1] += members * medium / total;
        s.share[2] += members * wide / total;
        s.reduce[0] += medium / total;
        s.reduce[1] += wide / total;
        s.ring1 += members * r1, s.ring2 += members * r2;
    }
    for (int b = 0; b < 3; b++)
        s.share[b] /= a->c;
    s.ring1 /= a->c, s.ring2 /= a->c;
    free(of), free(u);
    *st_out = s;
    return st;
}

/* The module's widths at total output `total` (before the pool projection's 1/8). */
static void module_widths(const statistics *s, int total, int in_c, int w[6])
{
    const int pool = round_width(total / 8.0, ROUND), rest = total - pool;
    w[0] = round_width(rest * s->share[0], 0); /* a share under half a multiple of 8: no branch */
    w[2] = round_width(rest * s->share[1], 0);
    w[4] = round_width(rest * s->share[2], 0);
    w[1] = w[2] ? round_width(s->reduce[0], ROUND) : 0;
    w[3] = w[4] ? round_width(s->reduce[1], ROUND) : 0;
    if (w[1] > in_c) w[1] = round_width(in_c, ROUND);
    if (w[3] > in_c) w[3] = round_width(in_c, ROUND);
    if (w[1] > w[2]) w[1] = w[2]; /* a reduction never widens */
    if (w[3] > w[4]) w[3] = w[4];
    w[5] = pool;
    if (!w[0] && !w[2] && !w[4])
        w[0] = round_width(rest, ROUND);
}

incept_status incept_grow_network(const incept_dataset *data, const incept_grow_options *options,
                                  char **description)
{
    if (!data || !options || !description || !options->stem)
        return incept_fail(INCEPT_ERR_ARG, "grow needs data, options with a stem, and somewhere "
                           "to put the description");
    *description = NULL;
    incept_grow_options o = *options;
    if (o.classes <= 0) incept_dataset_dims(data, NULL, NULL, NULL, NULL, &o.classes);
    if (o.sample <= 0) o.sample = 256;
    if (o.steps <= 0) o.steps = 400;
    if (!(o.learning_rate > 0.0f)) o.learning_rate = 0.1f;
    if (!(o.threshold > 0.0)) o.threshold = 0.5;
    if (o.threads <= 0) o.threads = 1;
    const char *stages = o.stages ? o.stages : "1,2";
    int per_stage[16], n_stages = 0, modules = 0;
    for (const char *p = stages; *p && n_stages < 16;) {
        char *end;
        long k = strtol(p, &end, 10);
        if (end == p || k < 1 || k > 16)
            return incept_fail(INCEPT_ERR_ARG, "grow: stages '%s' must be counts of modules 1..16 "
                               "separated by commas", stages);
        per_stage[n_stages++] = (int)k, modules += (int)k;
        p = *end == ',' ? end + 1 : end;
        if ((*end && *end != ',') || (*end == ',' && !end[1]))
            return incept_fail(INCEPT_ERR_ARG, "grow: stages '%s' must be counts of modules 1..16 "
                               "separated by commas", stages);
    }
    if (o.classes < 2 || o.threshold >= 1.0 || o.sample > 100000 || o.steps > 10000000)
        return incept_fail(INCEPT_ERR_ARG, "grow: classes >= 2, a threshold in (0, 1), a sample "
                           "up to 100000 images and up to 10^7 steps are needed");
    grower g = {.o = &o};
    incept_status st = append(&g, "%s%s", o.stem, o.stem[0] && o.stem[strlen(o.stem) - 1] != '\n' ? "\n" : "");
    char *head = st ? NULL : with_head(&g);
    const long long stem_cost = head ? multiply_adds(head) : -1;
    free(head);
    if (!st && stem_cost < 0)
        st = incept_fail(INCEPT_ERR_ARG, "grow: the stem does not make a network: %s", incept_last_error());
    const long long budget = o.budget > 0 ? o.budget : 3 * stem_cost;
    if (!st && budget <= stem_cost)
        st = incept_fail(INCEPT_ERR_ARG, "grow: a budget of %lld multiply-adds leaves nothing for "
                         "modules (the stem and head take %lld)", budget, stem_cost);
    int grown = 0;
    for (int stage = 0; stage < n_stages && !st; stage++)
        for (int k = 0; k < per_stage[stage] && !st; k++, grown++) {
            say(&g, "module %d of %d: training the network so far (%d steps)", grown + 1, modules, o.steps);
            if ((st = train_current(&g, data)))
                break;
            incept_model *bare; /* the last layer: the network without its head */
            if ((st = parse(g.text, &bare)))
                break;
            const char *last, *op;
            int rank;
            long long dims[INCEPT_MAX_RANK];
            incept_model_layer(bare, incept_model_layer_count(bare) - 1, &last, &op, &rank, dims);
            char last_name[256];
            snprintf(last_name, sizeof last_name, "%s", last);
            const int in_c = (int)dims[1];
            incept_model_free(bare);
            if (rank != 4) {
                st = incept_fail(INCEPT_ERR_ARG, "grow: the network so far must end in a C x H x W "
                                 "layer for modules to grow on; '%s' is not", last_name);
                break;
            }
            activations a;
            say(&g, "module %d: measuring %s on %d images", grown + 1, last_name, o.sample);
            if ((st = measure(&g, data, last_name, o.sample, &a)))
                break;
            statistics s;
            st = module_statistics(&a, o.threshold, &s);
            free(a.z);
            if (st)
                break;
            /* the widest module whose network stays within this module's share of the budget */
            char name[64];
            snprintf(name, sizeof name, "grown_%d%c", stage + 3, 'a' + k);
            const long long allowed = stem_cost + (budget - stem_cost) * (grown + 1) / modules;
            int w[6] = {0}, chosen[6] = {0}, total = ROUND;
            for (int lo = ROUND, hi = GROWTH * in_c > ROUND ? GROWTH * in_c : ROUND; lo <= hi;) {
                int mid = (lo + hi) / 2 / ROUND * ROUND;
                if (mid < lo)
                    mid = lo;
                module_widths(&s, mid, in_c, w);
                size_t keep = g.length;
                if ((st = append(&g, "inception %s %d %d %d %d %d %d bn\n", name, w[0], w[1], w[2],
                                 w[3], w[4], w[5])))
                    break;
                const long long cost = multiply_adds(head = with_head(&g));
                free(head);
                g.length = keep, g.text[keep] = '\0';
                if (cost >= 0 && cost <= allowed) {
                    total = mid, memcpy(chosen, w, sizeof w);
                    lo = mid + ROUND;
                } else {
                    hi = mid - ROUND;
                }
            }
            if (st)
                break;
            if (!chosen[5]) {
                st = incept_fail(INCEPT_ERR_ARG, "grow: no module %s fits within %lld multiply-adds "
                                 "(its share of the budget): give a larger budget", name, allowed);
                break;
            }
            (void)total;
            st = append(&g, "# %s grown from %s (%d channels, %lldx%lld, %d images): %d clusters "
                        "at |r| > %.2f; correlation at distance 1 %.2f and 2 %.2f of its own; "
                        "branch shares 1x1 %.2f, 3x3 %.2f, 5x5 %.2f (pool 1/8); reductions %.1f "
                        "and %.1f clusters; widest within %lld multiply-adds\n"
                        "inception %s %d %d %d %d %d %d bn\n",
                        name, last_name, in_c, dims[2], dims[3], o.sample, s.clusters, o.threshold,
                        s.ring1, s.ring2, s.share[0], s.share[1], s.share[2], s.reduce[0],
                        s.reduce[1], allowed, name, chosen[0], chosen[1], chosen[2], chosen[3],
                        chosen[4], chosen[5]);
            say(&g, "module %d: %s %d %d %d %d %d %d (%d clusters; shares %.2f %.2f %.2f)", grown + 1,
                name, chosen[0], chosen[1], chosen[2], chosen[3], chosen[4], chosen[5], s.clusters,
                s.share[0], s.share[1], s.share[2]);
            if (!st && k == per_stage[stage] - 1 && stage < n_stages - 1)
                st = append(&g, "maxpool grown_pool%d 3x3 stride 2 ceil\n", stage + 3);
        }
    if (!st) {
        char *text = with_head(&g);
        if (!text)
            st = INCEPT_ERR_NOMEM;
        *description = text;
    }
    incept_model_free(g.trained);
    free(g.text);
    return st;
}
