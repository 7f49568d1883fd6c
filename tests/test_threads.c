/* test_threads.c — one model, two sessions, two threads at once: a model is only read by
 * inference, so sessions of it run concurrently (one of them with 2 OpenMP threads of its own)
 * and every output they give, by incept_session_forward and by incept_session_run asking for
 * intermediate layers by name, is bit for bit what a run alone gives; the batch changes between
 * calls so that both sessions re-plan while the other runs. The threads run first, on a library
 * that has run nothing yet (whatever it sets up on first use, they race for), the reference
 * afterwards. The model's parameters are left untouched. Built with -DINCEPT_TSAN=ON, this is
 * the test ThreadSanitizer watches. */
#include <pthread.h>
#include <unistd.h>

#include "incept.h"
#include "test.h"

/* Winograd-sized 3x3 and 5x5 convolutions, LRN, pools, Inception modules (stacked 1x1 GEMMs,
 * concatenation in place), global pooling, dropout (the identity here) and a classifier. */
static const char *description =
    "input         data  3 24 24\n"
    "conv          conv1 16 3x3 pad 1 relu\n"
    "maxpool       pool1 3x3 stride 2 ceil\n"
    "lrn           norm1 size 5 alpha 0.0001 beta 0.75 bias 1\n"
    "conv          conv2 24 5x5 pad 2 relu\n"
    "inception     i1    8 8 12 4 6 6\n"
    "maxpool       pool2 3x3 stride 2 ceil\n"
    "inception     i2    12 8 16 4 8 8\n"
    "globalavgpool gap\n"
    "flatten       flat\n"
    "dropout       drop  0.4\n"
    "fc            fc    10\n";

enum { BATCH = 3, PER_SAMPLE = 3 * 24 * 24, CLASSES = 10, ITERATIONS = 12, N_NAMES = 5 };

/* Layers asked for by name: a convolution, a pointwise convolution of a module (stacked with
 * its siblings at inference), a module's concatenation, a pool, and the classifier. */
static const char *const names[N_NAMES] = {"conv1", "i1/1x1", "i1", "pool2", "fc"};

typedef struct {
    incept_session *session;
    int threads;
    const float *x;
    pthread_barrier_t *start;
    /* results, read by the main thread after the join: the first iteration's outputs (forward of
     * BATCH samples, of sample 1 alone, the named layers), and how often a later one differed */
    float first_batch[BATCH * CLASSES], first_single[CLASSES];
    incept_tensor first_named[N_NAMES];
    int runs, forward_differs, named_differs, failures;
    char error[512];
} worker;

static int same_tensor(const incept_tensor *a, const incept_tensor *b)
{
    if (!a->data || !b->data || a->dtype != b->dtype || a->rank != b->rank)
        return 0;
    for (int d = 0; d < a->rank; d++)
        if (a->dims[d] != b->dims[d])
            return 0;
    return memcmp(a->data, b->data, incept_tensor_count(a) * sizeof(float)) == 0;
}

static void note_failure(worker *w, const char *what)
{
    if (!w->failures++)
        snprintf(w->error, sizeof w->error, "%s (threads %d): %s", what, w->threads,
                 incept_last_error());
}

static void *work(void *arg)
{
    worker *w = arg;
    float batch_out[BATCH * CLASSES], single_out[CLASSES];
    incept_tensor in = {.dtype = INCEPT_FLOAT32, .rank = 4, .dims = {BATCH, 3, 24, 24},
                        .data = (void *)w->x};
    pthread_barrier_wait(w->start);
    for (int it = 0; it < ITERATIONS; it++) {
        if (incept_session_forward(w->session, w->x, BATCH, batch_out) != INCEPT_OK)
            note_failure(w, "forward of the batch");
        else if (it == 0)
            memcpy(w->first_batch, batch_out, sizeof batch_out);
        else
            w->forward_differs += memcmp(batch_out, w->first_batch, sizeof batch_out) != 0;
        incept_tensor out[N_NAMES];
        memset(out, 0, sizeof out);
        if (incept_session_run(w->session, 1, NULL, &in, N_NAMES, names, out) != INCEPT_OK) {
            note_failure(w, "run by name");
        } else if (it == 0) {
            memcpy(w->first_named, out, sizeof out); /* kept: freed by the main thread */
            memset(out, 0, sizeof out);
        } else {
            for (int k = 0; k < N_NAMES; k++)
                w->named_differs += !same_tensor(&out[k], &w->first_named[k]);
        }
        for (int k = 0; k < N_NAMES; k++)
            incept_tensor_free(&out[k]);
        if (incept_session_forward(w->session, w->x + PER_SAMPLE, 1, single_out) != INCEPT_OK)
            note_failure(w, "forward of one sample");
        else if (it == 0)
            memcpy(w->first_single, single_out, sizeof single_out);
        else
            w->forward_differs += memcmp(single_out, w->first_single, sizeof single_out) != 0;
        w->runs += 3;
    }
    return NULL;
}

/* All parameters in one buffer, in order. */
static float *copy_params(incept_model *m, size_t *total)
{
    *total = 0;
    for (int p = 0; p < incept_model_param_count(m); p++) {
        int nd, dims[4];
        incept_model_param(m, p, NULL, &nd, dims, NULL);
        *total += dims_count(nd, dims);
    }
    float *all = malloc(*total * sizeof(float) + 1), *at = all;
    for (int p = 0; all && p < incept_model_param_count(m); p++) {
        int nd, dims[4];
        float *data;
        incept_model_param(m, p, NULL, &nd, dims, &data);
        memcpy(at, data, dims_count(nd, dims) * sizeof(float));
        at += dims_count(nd, dims);
    }
    return all;
}

/* Two threads saving one model's weights to one path, 30 times each: every save succeeds (each
 * writes its own temporary file and renames it into place) and the file is whole. */
typedef struct {
    incept_model *m;
    int failures;
    char error[256];
} saver;

static void *save_often(void *arg)
{
    saver *sv = arg;
    for (int i = 0; i < 30; i++)
        if (incept_model_save_weights(sv->m, "/tmp/incept_threads.weights") != INCEPT_OK && !sv->failures++)
            snprintf(sv->error, sizeof sv->error, "%s", incept_last_error());
    return NULL;
}

static void test_concurrent_saves(incept_model *m)
{
    saver savers[2] = {{m, 0, ""}, {m, 0, ""}};
    pthread_t tids[2];
    int started[2];
    for (int i = 0; i < 2; i++)
        started[i] = pthread_create(&tids[i], NULL, save_often, &savers[i]) == 0;
    for (int i = 0; i < 2; i++)
        if (started[i])
            pthread_join(tids[i], NULL);
    for (int i = 0; i < 2; i++)
        CHECK_MSG(started[i] && savers[i].failures == 0, "saver %d: %d failed saves; first: %s", i,
                  savers[i].failures, savers[i].error);
    CHECK_OK(incept_model_load_weights(m, "/tmp/incept_threads.weights"));
    unlink("/tmp/incept_threads.weights");
}

int main(void)
{
    incept_model *m = NULL;
    incept_session *ref = NULL, *sessions[2] = {NULL, NULL};
    CHECK_OK(incept_model_parse_description(description, "threads", &m));
    if (!m)
        return test_summary("test_threads");
    incept_model_init_weights(m, 7);
    float *x = malloc(sizeof(float) * BATCH * PER_SAMPLE);
    fill_random(x, (size_t)BATCH * PER_SAMPLE, 3);

    size_t n_params = 0;
    float *params_before = copy_params(m, &n_params);

    /* two sessions of the one model, at once, before anything else has run: one thread, and two
     * OpenMP threads */
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, 2);
    worker workers[2];
    memset(workers, 0, sizeof workers);
    int started[2] = {0, 0};
    pthread_t tids[2];
    for (int i = 0; i < 2; i++) {
        CHECK_OK(incept_session_new(m, &sessions[i]));
        CHECK_OK(incept_session_set_threads(sessions[i], i + 1));
        workers[i].session = sessions[i], workers[i].threads = i + 1, workers[i].x = x;
        workers[i].start = &start;
    }
    if (sessions[0] && sessions[1])
        for (int i = 0; i < 2; i++) {
            started[i] = pthread_create(&tids[i], NULL, work, &workers[i]) == 0;
            CHECK_MSG(started[i], "thread %d starts", i);
        }
    for (int i = 0; i < 2; i++)
        if (started[i])
            pthread_join(tids[i], NULL);
    pthread_barrier_destroy(&start);

    /* the references: one session, one thread, nothing else running */
    float ref_batch[BATCH * CLASSES], ref_single[CLASSES];
    incept_tensor ref_named[N_NAMES];
    memset(ref_named, 0, sizeof ref_named);
    incept_tensor in = {.dtype = INCEPT_FLOAT32, .rank = 4, .dims = {BATCH, 3, 24, 24}, .data = x};
    CHECK_OK(incept_session_new(m, &ref));
    CHECK_OK(incept_session_forward(ref, x, BATCH, ref_batch));
    CHECK_OK(incept_session_forward(ref, x + PER_SAMPLE, 1, ref_single));
    CHECK_OK(incept_session_run(ref, 1, NULL, &in, N_NAMES, names, ref_named));
    /* the shapes asked for: [N, C, H, W], and [N, C] for the classifier */
    const long long expect_dims[N_NAMES][4] = {
        {BATCH, 16, 24, 24}, {BATCH, 8, 12, 12}, {BATCH, 32, 12, 12}, {BATCH, 32, 6, 6},
        {BATCH, CLASSES, 0, 0}};
    for (int k = 0; k < N_NAMES; k++) {
        const incept_tensor *t = &ref_named[k];
        int rank = k == N_NAMES - 1 ? 2 : 4, ok = t->data && t->dtype == INCEPT_FLOAT32 && t->rank == rank;
        for (int d = 0; ok && d < rank; d++)
            ok = t->dims[d] == expect_dims[k][d];
        CHECK_MSG(ok, "'%s': rank %d, dims %lld %lld %lld %lld", names[k], t->rank, t->dims[0],
                  t->dims[1], t->dims[2], t->dims[3]);
    }
    /* the run's output by name is forward's output */
    CHECK(ref_named[N_NAMES - 1].data &&
          memcmp(ref_named[N_NAMES - 1].data, ref_batch, sizeof ref_batch) == 0);
    /* sample 1 alone agrees with it in the batch (within rounding: the batch is another plan) */
    CHECK(max_abs_diff(ref_single, ref_batch + CLASSES, CLASSES) <= 1e-5f * (1.0f + max_abs(ref_batch, CLASSES)));

    for (int i = 0; started[0] && started[1] && i < 2; i++) {
        const worker *w = &workers[i];
        CHECK_MSG(w->failures == 0, "%d failed calls; first: %s", w->failures, w->error);
        CHECK_MSG(w->runs == 3 * ITERATIONS, "session of %d thread(s): %d runs", w->threads, w->runs);
        CHECK_MSG(w->forward_differs == 0 && w->named_differs == 0, "session of %d thread(s): %d "
                  "forward and %d named outputs differ from its first", w->threads, w->forward_differs,
                  w->named_differs);
        CHECK_MSG(memcmp(w->first_batch, ref_batch, sizeof ref_batch) == 0 &&
                  memcmp(w->first_single, ref_single, sizeof ref_single) == 0,
                  "session of %d thread(s): forward differs from the reference run alone", w->threads);
        int named_same = 1;
        for (int k = 0; k < N_NAMES; k++)
            named_same &= same_tensor(&w->first_named[k], &ref_named[k]);
        CHECK_MSG(named_same, "session of %d thread(s): layers by name differ from the reference run "
                  "alone", w->threads);
        printf("session of %d thread(s): %d runs alongside the other session, all bit-identical to "
               "a run alone\n", w->threads, w->runs);
    }
    test_concurrent_saves(m);
    size_t n_after = 0;
    float *params_after = copy_params(m, &n_after);
    CHECK_MSG(params_before && params_after && n_after == n_params &&
              memcmp(params_before, params_after, n_params * sizeof(float)) == 0,
              "%s", "inference leaves the model's parameters untouched");
    free(params_before);
    free(params_after);

    for (int k = 0; k < N_NAMES; k++) {
        incept_tensor_free(&ref_named[k]);
        incept_tensor_free(&workers[0].first_named[k]);
        incept_tensor_free(&workers[1].first_named[k]);
    }
    incept_session_free(sessions[0]);
    incept_session_free(sessions[1]);
    incept_session_free(ref);
    incept_model_free(m);
    free(x);
    return test_summary("test_threads");
}
