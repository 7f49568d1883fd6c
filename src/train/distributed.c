/* distributed.c — data-parallel training over MPI (Open MPI): the ranks of MPI_COMM_WORLD each
 * train on their shard of every global batch and average gradients with MPI_Iallreduce before
 * the SGD step, so that all of them take the same step (what one process would take with the
 * whole batch, up to the order of float sums). Rank 0's weights, momentum and Polyak average
 * are everyone's at the start; batch norm's running statistics, which each rank updates from its
 * own shard (PyTorch DDP's default), are the last rank's after every step, or, synchronized, come
 * from the global batch's statistics (an allgather per batch norm, on a communicator of their
 * own); a checksum of the weights is compared across ranks every SYNC_CHECK_EVERY steps;
 * evaluation's hits are summed over the ranks' shares.
 *
 * No wait is unbounded: every collective is non-blocking and polled, and each rank tells the
 * others where it is (marks: rank 0 to all, the others to rank 0, on a third communicator), so
 * that a wait past the timeout fails naming the rank that fell behind (rank 0 names anyone;
 * the others name rank 0, or wait a grace longer for rank 0 to speak). The program initializes
 * MPI and calls MPI_Abort when training fails. */
#define _POSIX_C_SOURCE 200809L /* nanosleep */
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>

#include "core/status.h"
#include "train/distributed.h"

#define SYNC_CHECK_EVERY 50
#define MARK_TAG 7
#define HEARTBEAT 0.2 /* of the timeout: how often a waiting rank says it is still there */

/* What a data-parallel job keeps: the communicators, where the ranks are, and a step's
 * schedule: when each parameter's gradient is final (the order position of the first node
 * reading it; backward runs from the last), the parameters waiting for a bucket, and the
 * requests in flight. */
typedef struct {
    MPI_Comm stats_comm, marks_comm; /* duplicates of MPI_COMM_WORLD */
    long long own_mark, *heard;      /* marks: step * 3 + stage, -1 before any */
    double *heard_at;                /* when each rank's last mark came (MPI_Wtime) */
    double sent_at;                  /* when this rank's went out */
    long long *send_mark;            /* per destination: the mark in flight */
    MPI_Request *send_request;
    incept_stats_sync sync;          /* handed to batch norm in steps (synchronized) */
    int marks_ready;                 /* the requests and communicators above are valid */
    int abandoned;                   /* a wait timed out with operations in flight: kept, not freed */
    double *gathered, *zeros;        /* the sync's buffers */
    size_t gathered_cap, zeros_cap;
    int n_order;
    int *ready_start, *ready_params; /* per position p: ready_params[ready_start[p] .. [p + 1]) */
    int *late;                       /* parameters no node of the plan reads (sent at the end) */
    int n_late;
    int *pending, n_pending;
    size_t pending_floats;
    MPI_Request *requests;
    int n_requests, cap_requests;
    float share;
    int local;
    incept_status failed;
} dist_state;

static incept_status mpi_failed(int rc, const char *what)
{
    char text[MPI_MAX_ERROR_STRING] = "";
    int len = 0;
    MPI_Error_string(rc, text, &len);
    return incept_fail(INCEPT_ERR_IO, "MPI %s failed: %s", what, text);
}

/* ---- where the ranks are ---- */

static void describe_mark(long long mark, char *buf, size_t size)
{
    static const char *const stage[3] = {"had its batch of step", "had finished the backward of step",
                                         "had evaluated after step"};
    if (mark < 0)
        snprintf(buf, size, "had not begun training");
    else
        snprintf(buf, size, "%s %lld", stage[mark % 3], mark / 3);
}

/* The marks that came in: rank 0 hears everyone, the others rank 0. */
static void hear_marks(const incept_dist *d)
{
    dist_state *m = d->impl;
    for (;;) {
        int arrived = 0;
        MPI_Status status;
        long long mark;
        if (MPI_Iprobe(d->rank == 0 ? MPI_ANY_SOURCE : 0, MARK_TAG, m->marks_comm, &arrived, &status) !=
                MPI_SUCCESS || !arrived)
            return;
        if (MPI_Recv(&mark, 1, MPI_LONG_LONG, status.MPI_SOURCE, MARK_TAG, m->marks_comm,
                     MPI_STATUS_IGNORE) != MPI_SUCCESS)
            return;
        if (mark >= m->heard[status.MPI_SOURCE]) /* a heartbeat repeats the mark */
            m->heard[status.MPI_SOURCE] = mark, m->heard_at[status.MPI_SOURCE] = MPI_Wtime();
    }
}

/* This rank's mark to the others (rank 0 to all, the others to rank 0); also, repeated, the
 * heartbeat of a rank that waits. */
static void send_mark(const incept_dist *d)
{
    dist_state *m = d->impl;
    for (int to = 0; to < d->size; to++) {
        if (to == d->rank || (d->rank != 0 && to != 0))
            continue;
        int done = 1; /* a mark still in flight (its rank is not listening): this one waits */
        if (m->send_request[to] != MPI_REQUEST_NULL)
            MPI_Test(&m->send_request[to], &done, MPI_STATUS_IGNORE);
        if (!done)
            continue;
        m->send_mark[to] = m->own_mark;
        MPI_Isend(&m->send_mark[to], 1, MPI_LONG_LONG, to, MARK_TAG, m->marks_comm, &m->send_request[to]);
    }
    m->sent_at = MPI_Wtime();
}

void incept_dist_mark(incept_dist *d, int stage, long step)
{
    dist_state *m = d->impl;
    if (d->size == 1 || !m)
        return;
    m->own_mark = m->heard[d->rank] = (long long)step * 3 + stage;
    m->heard_at[d->rank] = MPI_Wtime();
    send_mark(d);
    hear_marks(d);
}

/* The failure of a wait on `what` that took `waited` seconds, naming the ranks behind this one
 * (a lower mark) or, when none is, those silent for longer than half the wait (a rank that
 * waits sends its mark again every HEARTBEAT of the limit: a hung one does not). */
static incept_status stalled(const incept_dist *d, const char *what, double waited)
{
    const dist_state *m = d->impl;
    char named[512] = "", where[96];
    const double now = MPI_Wtime();
    int behind = 0, silent = 0;
    for (int pass = 0; pass < 2 && !behind; pass++) {
        size_t used = 0;
        for (int r = 0; r < d->size; r++) {
            if (r == d->rank || (d->rank != 0 && r != 0))
                continue;
            const double quiet = m->heard[r] < 0 ? waited : now - m->heard_at[r];
            if (pass == 0 ? m->heard[r] >= m->own_mark : quiet < 0.5 * waited)
                continue;
            describe_mark(m->heard[r], where, sizeof where);
            int *count = pass == 0 ? &behind : &silent;
            if ((*count)++ < 4 && used < sizeof named)
                used += (size_t)snprintf(named + used, sizeof named - used, "%srank %d (it %s, last heard "
                                         "%.0f s ago)", *count > 1 ? ", " : "", r, where, quiet);
        }
    }
    describe_mark(m->own_mark, where, sizeof where);
    const int n = behind ? behind : silent;
    if (n)
        return incept_fail(INCEPT_ERR_IO, "rank %d of %d waited %.0f s on %s: %s%s stopped answering "
                           "(hung or died); stopping the job (this rank %s)", d->rank, d->size, waited,
                           what, named, n > 4 ? " and more" : "", where);
    return incept_fail(INCEPT_ERR_IO, "rank %d of %d waited %.0f s on %s; every rank it hears from "
                       "answers (it %s): the network or a rank that rank 0 names stalled; stopping "
                       "the job", d->rank, d->size, waited, what, where);
}

/* Waits for n requests, at most the timeout (a rank other than 0 waits a grace longer unless
 * rank 0 is the one behind, so that rank 0, which hears everyone, names the rank). */
static incept_status wait_bounded(const incept_dist *d, int n, MPI_Request *requests, const char *what)
{
    dist_state *m = d->impl;
    const double limit = d->timeout > 0 ? d->timeout : INCEPT_RANK_TIMEOUT, started = MPI_Wtime();
    for (;;) {
        int done = 0, rc = MPI_Testall(n, requests, &done, MPI_STATUSES_IGNORE);
        if (rc != MPI_SUCCESS)
            return mpi_failed(rc, what);
        if (done)
            return INCEPT_OK;
        hear_marks(d);
        const double now = MPI_Wtime(), waited = now - started;
        if (now - m->sent_at > HEARTBEAT * limit)
            send_mark(d); /* still here */
        const int leader_behind = d->rank != 0 && (m->heard[0] < m->own_mark ||
                                                   now - m->heard_at[0] > 0.5 * waited + HEARTBEAT * limit);
        if (waited > (d->rank == 0 || leader_behind ? limit : 1.5 * limit + 5.0)) {
            m->abandoned = 1; /* what the requests write into stays allocated */
            return stalled(d, what, waited);
        }
        if (waited > 0.002) { /* past a short spin: give the core to the ranks still computing */
            const struct timespec pause = {0, 100000};
            nanosleep(&pause, NULL);
        }
    }
}

/* Rank `root`'s copy of `count` floats for everyone (in pieces: MPI counts are ints). */
static incept_status broadcast_floats(const incept_dist *d, float *data, size_t count, int root)
{
    for (size_t done = 0; done < count;) {
        int piece = count - done > (1u << 30) ? 1 << 30 : (int)(count - done);
        MPI_Request request;
        int rc = MPI_Ibcast(data + done, piece, MPI_FLOAT, root, MPI_COMM_WORLD, &request);
        if (rc != MPI_SUCCESS)
            return mpi_failed(rc, "broadcast of the weights");
        incept_status st = wait_bounded(d, 1, &request, "the broadcast of the weights");
        if (st)
            return st;
        done += (size_t)piece;
    }
    return INCEPT_OK;
}

/* ---- synchronized batch statistics ---- */

static const double *gather_stats(const incept_stats_sync *sync, const double *mine, int n)
{
    const incept_dist *d = sync->impl;
    dist_state *m = d->impl;
    const size_t all = (size_t)n * (size_t)d->size;
    if (m->failed)
        return NULL;
    if (all > m->gathered_cap) {
        double *grown = realloc(m->gathered, sizeof(double) * all);
        if (!grown) {
            m->failed = incept_fail(INCEPT_ERR_NOMEM, "synchronized batch norm: no memory for %zu "
                                    "statistics", all);
            return NULL;
        }
        m->gathered = grown, m->gathered_cap = all;
    }
    if (m->local == 0) { /* a stand-in sample's statistics count for nothing: zeros instead */
        if ((size_t)n > m->zeros_cap) {
            double *grown = realloc(m->zeros, sizeof(double) * (size_t)n);
            if (!grown) {
                m->failed = INCEPT_ERR_NOMEM;
                return NULL;
            }
            m->zeros = grown, m->zeros_cap = (size_t)n;
        }
        memset(m->zeros, 0, sizeof(double) * (size_t)n);
        mine = m->zeros;
    }
    MPI_Request request;
    int rc = MPI_Iallgather(mine, n, MPI_DOUBLE, m->gathered, n, MPI_DOUBLE, m->stats_comm, &request);
    incept_status st = rc == MPI_SUCCESS ? wait_bounded(d, 1, &request, "the batch-norm statistics")
                                         : mpi_failed(rc, "allgather of the batch-norm statistics");
    if (st) {
        m->failed = st;
        return NULL;
    }
    return m->gathered;
}

static void free_state(dist_state *m)
{
    if (!m)
        return;
    free(m->ready_start), free(m->ready_params), free(m->late), free(m->pending), free(m->requests);
    free(m->heard), free(m->heard_at), free(m->send_mark), free(m->send_request);
    free(m->gathered), free(m->zeros);
    free(m);
}

void incept_dist_end(incept_dist *d)
{
    dist_state *m = d->impl;
    if (m && m->abandoned) { /* a wait timed out: MPI may still write what it was given */
        d->impl = NULL;
        return;
    }
    if (m && m->marks_ready) { /* marks still in flight: their ranks hear them or have ended */
        for (int r = 0; r < d->size; r++)
            if (m->send_request[r] != MPI_REQUEST_NULL) {
                int done = 0;
                MPI_Test(&m->send_request[r], &done, MPI_STATUS_IGNORE);
                if (!done)
                    MPI_Request_free(&m->send_request[r]);
            }
        hear_marks(d);
    }
    if (m && m->marks_comm != MPI_COMM_NULL)
        MPI_Comm_free(&m->marks_comm);
    if (m && m->stats_comm != MPI_COMM_NULL)
        MPI_Comm_free(&m->stats_comm);
    free_state(m);
    d->impl = NULL;
}

incept_status incept_dist_begin(incept_dist *d, const incept_train_options *o, incept_session *s)
{
    memset(d, 0, sizeof *d);
    d->size = 1;
    if (!o->distributed)
        return INCEPT_OK;
    d->bucket_bytes = o->bucket_bytes;
    d->sync_stats = o->sync_batch_norm != 0;
    d->timeout = o->rank_timeout;
    if (!(d->timeout >= 0.0 && d->timeout <= 1e9))
        return incept_fail(INCEPT_ERR_ARG, "a rank timeout of %g s", d->timeout);
    int initialized = 0;
    MPI_Initialized(&initialized);
    if (!initialized)
        return incept_fail(INCEPT_ERR_ARG, "data-parallel training: MPI is not initialized (the "
                           "program calls MPI_Init, as `mpirun ... incept train` does)");
    MPI_Comm_rank(MPI_COMM_WORLD, &d->rank);
    MPI_Comm_size(MPI_COMM_WORLD, &d->size);
    if (d->size == 1)
        return INCEPT_OK;
    dist_state *m = d->impl = incept_calloc(1, sizeof *m);
    if (!m)
        return INCEPT_ERR_NOMEM;
    m->stats_comm = m->marks_comm = MPI_COMM_NULL;
    m->heard = incept_malloc(sizeof(long long) * (size_t)d->size);
    m->heard_at = incept_calloc((size_t)d->size, sizeof(double));
    m->send_mark = incept_calloc((size_t)d->size, sizeof(long long));
    m->send_request = incept_malloc(sizeof(MPI_Request) * (size_t)d->size);
    if (!m->heard || !m->heard_at || !m->send_mark || !m->send_request)
        return INCEPT_ERR_NOMEM;
    for (int r = 0; r < d->size; r++)
        m->heard[r] = -1, m->send_request[r] = MPI_REQUEST_NULL;
    m->own_mark = -1;
    int rc = MPI_Comm_dup(MPI_COMM_WORLD, &m->marks_comm);
    if (rc == MPI_SUCCESS)
        rc = MPI_Comm_dup(MPI_COMM_WORLD, &m->stats_comm);
    if (rc != MPI_SUCCESS)
        return mpi_failed(rc, "communicator duplication");
    m->marks_ready = 1; /* requests and communicators valid: dist_end may use them */
    m->sync = (incept_stats_sync){.gather = gather_stats, .ranks = d->size, .impl = d};
    const incept_graph *g = &s->model->graph;
    /* which of momentum and average rank 0 has: everyone makes the same */
    int have[2] = {s->momentum != NULL, s->average != NULL};
    MPI_Request request;
    rc = MPI_Ibcast(have, 2, MPI_INT, 0, MPI_COMM_WORLD, &request);
    incept_status st = rc == MPI_SUCCESS ? wait_bounded(d, 1, &request, "the start") : mpi_failed(rc, "broadcast");
    if (st)
        return st;
    if (have[0] && !s->momentum && !(s->momentum = incept_alloc_floats(g->param_floats)))
        return INCEPT_ERR_NOMEM;
    if (have[1] && !s->average && !(s->average = incept_alloc_floats(g->param_floats)))
        return INCEPT_ERR_NOMEM;
    st = broadcast_floats(d, g->param_data, g->param_floats, 0);
    if (!st && have[0])
        st = broadcast_floats(d, s->momentum, g->param_floats, 0);
    if (!st && have[1])
        st = broadcast_floats(d, s->average, g->param_floats, 0);
    return st;
}

/* The schedule of the plan's order: which parameters are final after each position. */
static incept_status schedule(incept_session *s, dist_state *m)
{
    const incept_graph *g = &s->model->graph;
    int *first = incept_malloc(sizeof(int) * ((size_t)g->n_params + 1));
    m->ready_start = incept_calloc((size_t)s->n_order + 2, sizeof(int));
    m->ready_params = incept_malloc(sizeof(int) * ((size_t)g->n_params + 1));
    m->late = incept_malloc(sizeof(int) * ((size_t)g->n_params + 1));
    m->pending = incept_malloc(sizeof(int) * ((size_t)g->n_params + 1));
    if (!first || !m->ready_start || !m->ready_params || !m->late || !m->pending) {
        free(first);
        return INCEPT_ERR_NOMEM;
    }
    for (int i = 0; i < g->n_params; i++)
        first[i] = -1;
    for (int p = s->n_order - 1; p >= 0; p--) { /* descending: the last write is the first reader */
        const incept_node *n = &g->nodes[s->order[p]];
        if (n->weight >= 0)
            first[n->weight] = p;
        if (n->bias >= 0)
            first[n->bias] = p;
        for (int k = 0; n->nd && k < n->n_inputs; k++)
            if (n->inputs[k] >= 0 && g->values[n->inputs[k]].param >= 0)
                first[g->values[n->inputs[k]].param] = p;
    }
    m->n_late = 0;
    for (int i = 0; i < g->n_params; i++) {
        if (g->params[i].frozen)
            continue; /* SGD does not move them: nothing to send */
        if (first[i] < 0)
            m->late[m->n_late++] = i;
        else
            m->ready_start[first[i] + 1]++;
    }
    for (int p = 0; p < s->n_order; p++)
        m->ready_start[p + 1] += m->ready_start[p];
    int *fill = incept_calloc((size_t)s->n_order + 1, sizeof(int));
    if (!fill) {
        free(first);
        return INCEPT_ERR_NOMEM;
    }
    for (int i = 0; i < g->n_params; i++)
        if (!g->params[i].frozen && first[i] >= 0)
            m->ready_params[m->ready_start[first[i]] + fill[first[i]]++] = i;
    free(fill);
    free(first);
    m->n_order = s->n_order;
    return INCEPT_OK;
}

/* The pending parameters onto the wire: one non-blocking allreduce per run of them that lies
 * together in memory. */
static void flush(incept_session *s, dist_state *m)
{
    const incept_graph *g = &s->model->graph;
    /* parameters lie in index order in memory: sorting the indices sorts the offsets */
    for (int i = 1; i < m->n_pending; i++) /* few and nearly sorted (descending): insertion */
        for (int j = i; j > 0 && m->pending[j - 1] > m->pending[j]; j--) {
            int t = m->pending[j];
            m->pending[j] = m->pending[j - 1];
            m->pending[j - 1] = t;
        }
    for (int i = 0; i < m->n_pending && !m->failed;) {
        const incept_param *p = &g->params[m->pending[i]];
        size_t start = p->offset, end = p->offset + p->count;
        int j = i + 1;
        while (j < m->n_pending && g->params[m->pending[j]].offset == end)
            end += g->params[m->pending[j++]].count;
        for (size_t at = start; at < end && !m->failed;) {
            int piece = end - at > (1u << 30) ? 1 << 30 : (int)(end - at);
            if (m->n_requests == m->cap_requests) {
                int cap = m->cap_requests ? 2 * m->cap_requests : 64;
                MPI_Request *grown = realloc(m->requests, sizeof *grown * (size_t)cap);
                if (!grown) {
                    m->failed = INCEPT_ERR_NOMEM;
                    break;
                }
                m->requests = grown, m->cap_requests = cap;
            }
            int rc = MPI_Iallreduce(MPI_IN_PLACE, s->param_grads + at, piece, MPI_FLOAT, MPI_SUM,
                                    MPI_COMM_WORLD, &m->requests[m->n_requests++]);
            if (rc != MPI_SUCCESS)
                m->failed = mpi_failed(rc, "allreduce of the gradients");
            at += (size_t)piece;
        }
        i = j;
    }
    m->n_pending = 0;
    m->pending_floats = 0;
}

/* A parameter's gradient is final: weighted by this rank's share, it waits for a bucket. */
static void ready(incept_session *s, dist_state *m, int param)
{
    const incept_param *p = &s->model->graph.params[param];
    float *grad = s->param_grads + p->offset;
    if (m->local == 0)
        memset(grad, 0, sizeof(float) * p->count);
    else
        for (size_t k = 0; k < p->count; k++)
            grad[k] *= m->share;
    m->pending[m->n_pending++] = param;
    m->pending_floats += p->count;
}

/* Order position p's parameters are final: they wait for a bucket, which goes out once full
 * (every rank makes the same calls in the same order: a rank without samples walks the same
 * positions). */
static void position_ready(const incept_dist *d, incept_session *s, dist_state *m, int position)
{
    for (int k = m->ready_start[position]; k < m->ready_start[position + 1]; k++)
        ready(s, m, m->ready_params[k]);
    if (m->pending_floats * sizeof(float) >= (d->bucket_bytes ? d->bucket_bytes : INCEPT_BUCKET_BYTES))
        flush(s, m);
}

static void on_grads(incept_session *s, int position)
{
    incept_dist *d = s->grad_hook_user;
    dist_state *m = d->impl;
    if (m->failed || position >= m->n_order)
        return;
    position_ready(d, s, m, position);
    int done; /* lets MPI move what is in flight while backward goes on */
    if (m->n_requests)
        MPI_Testall(m->n_requests, m->requests, &done, MPI_STATUSES_IGNORE);
}

incept_status incept_dist_step_begin(incept_dist *d, incept_session *s, long step, int local,
                                     int global_count)
{
    if (d->size == 1)
        return INCEPT_OK;
    const incept_graph *g = &s->model->graph;
    if (!s->param_grads && !(s->param_grads = incept_alloc_floats(g->param_floats)))
        return INCEPT_ERR_NOMEM;
    /* every rank's order is the same (one graph), so its buckets are too: a rank with no samples
     * walks the same schedule with zeros */
    incept_status st = s->n_order ? INCEPT_OK : incept_session_plan(s, 1, 1, 1);
    dist_state *m = d->impl;
    if (!st && m->n_order != s->n_order) {
        free(m->ready_start), free(m->ready_params), free(m->late), free(m->pending);
        m->ready_start = m->ready_params = m->late = m->pending = NULL;
        st = schedule(s, m);
    }
    if (st)
        return st;
    m->local = local;
    m->share = global_count > 0 ? (float)local / (float)global_count : 0.0f;
    m->n_pending = 0, m->pending_floats = 0, m->n_requests = 0, m->failed = INCEPT_OK;
    s->grad_hook = on_grads;
    s->grad_hook_user = d;
    if (d->sync_stats) {
        m->sync.share = global_count > 0 ? (double)local / (double)global_count : 0.0;
        s->stats_sync = &m->sync;
    }
    incept_dist_mark(d, INCEPT_MARK_BATCH, step);
    return INCEPT_OK;
}

incept_status incept_dist_step_end(incept_dist *d, incept_session *s, float *loss)
{
    if (d->size == 1)
        return INCEPT_OK;
    dist_state *m = d->impl;
    s->grad_hook = NULL;
    s->grad_hook_user = NULL;
    s->stats_sync = NULL;
    incept_dist_mark(d, INCEPT_MARK_BACKWARD, (long)m->own_mark / 3);
    if (m->local == 0 && !d->sync_stats) /* no backward ran here: the same buckets, all zeros */
        for (int p = m->n_order - 1; p >= 0 && !m->failed; p--)
            position_ready(d, s, m, p);
    for (int k = 0; k < m->n_late; k++)
        ready(s, m, m->late[k]);
    flush(s, m);
    const double started = MPI_Wtime();
    incept_status st = m->n_requests ? wait_bounded(d, m->n_requests, m->requests, "the gradients") : INCEPT_OK;
    double weighted = m->local ? (double)*loss * m->share : 0.0;
    if (!st) {
        MPI_Request request;
        int rc = MPI_Iallreduce(MPI_IN_PLACE, &weighted, 1, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD, &request);
        st = rc == MPI_SUCCESS ? wait_bounded(d, 1, &request, "the loss") : mpi_failed(rc, "allreduce of the loss");
    }
    d->wait_seconds += MPI_Wtime() - started;
    m->n_requests = 0;
    if (m->failed)
        return m->failed;
    if (st)
        return st;
    *loss = (float)weighted;
    return INCEPT_OK;
}

/* An allreduce of n values of `type` in place, bounded. */
static incept_status allreduce(const incept_dist *d, void *v, int n, MPI_Datatype type, MPI_Op op,
                               const char *what)
{
    MPI_Request request;
    int rc = MPI_Iallreduce(MPI_IN_PLACE, v, n, type, op, MPI_COMM_WORLD, &request);
    return rc == MPI_SUCCESS ? wait_bounded(d, 1, &request, what) : mpi_failed(rc, what);
}

incept_status incept_dist_sum_longs(incept_dist *d, long *v, int n)
{
    if (d->size == 1)
        return INCEPT_OK;
    incept_dist_mark(d, INCEPT_MARK_EVALUATED, (long)(((dist_state *)d->impl)->own_mark / 3));
    return allreduce(d, v, n, MPI_LONG, MPI_SUM, "the evaluation's sums");
}

incept_status incept_dist_broadcast_int(incept_dist *d, int *v)
{
    if (d->size == 1)
        return INCEPT_OK;
    MPI_Request request;
    int rc = MPI_Ibcast(v, 1, MPI_INT, 0, MPI_COMM_WORLD, &request);
    return rc == MPI_SUCCESS ? wait_bounded(d, 1, &request, "rank 0's word") : mpi_failed(rc, "broadcast");
}

incept_status incept_dist_sync(incept_dist *d, incept_session *s, long step)
{
    if (d->size == 1)
        return INCEPT_OK;
    const incept_graph *g = &s->model->graph;
    /* running statistics, each rank's own: the last rank's (it has samples in every step, even
     * the short last of an epoch); synchronized, they are the same everywhere already */
    for (int i = 0; i < g->n_params && !d->sync_stats; i++) {
        const incept_param *p = &g->params[i];
        incept_status st = p->frozen ? broadcast_floats(d, g->param_data + p->offset, p->count, d->size - 1)
                                     : INCEPT_OK;
        if (st)
            return st;
    }
    if (step % SYNC_CHECK_EVERY)
        return INCEPT_OK;
    /* every rank's weights the same: the lowest and highest checksum agree */
    uLong crc = crc32(0L, Z_NULL, 0);
    for (size_t done = 0; done < g->param_floats;) {
        size_t piece = g->param_floats - done > (1u << 28) ? (size_t)1 << 28 : g->param_floats - done;
        crc = crc32(crc, (const Bytef *)(g->param_data + done), (uInt)(piece * sizeof(float)));
        done += piece;
    }
    long long range[2] = {-(long long)crc, (long long)crc}; /* -min, max: one allreduce */
    incept_status st = allreduce(d, range, 2, MPI_LONG_LONG, MPI_MAX, "the weights' checksum");
    if (st)
        return st;
    if (-range[0] != range[1])
        return incept_fail(INCEPT_ERR_ARG, "the ranks' weights differ after step %ld (checksums %llx "
                           "and %llx): they no longer train one model", step, (unsigned long long)-range[0],
                           (unsigned long long)range[1]);
    return INCEPT_OK;
}
