/* distributed.c — data-parallel training over MPI (Open MPI): the ranks of MPI_COMM_WORLD each
 * train on their shard of every global batch and average gradients with MPI_Allreduce before
 * the SGD step, so that all of them take the same step (what one process would take with the
 * whole batch, up to the order of float sums). Rank 0's weights, momentum and Polyak average
 * are everyone's at the start; batch norm's running statistics, which each rank updates from its
 * own shard (PyTorch DDP's default), are rank 0's after every step; a checksum of the weights is
 * compared across ranks every SYNC_CHECK_EVERY steps; evaluation's hits are summed over the ranks'
 * shares. The program initializes MPI. */
#include <mpi.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "core/status.h"
#include "train/distributed.h"

#define SYNC_CHECK_EVERY 50

static incept_status mpi_failed(int rc, const char *what)
{
    char text[MPI_MAX_ERROR_STRING] = "";
    int len = 0;
    MPI_Error_string(rc, text, &len);
    return incept_fail(INCEPT_ERR_IO, "MPI %s failed: %s", what, text);
}

/* Rank 0's copy of `count` floats for everyone (in pieces: MPI counts are ints). */
static incept_status broadcast_floats(float *data, size_t count)
{
    for (size_t done = 0; done < count;) {
        int piece = count - done > (1u << 30) ? 1 << 30 : (int)(count - done);
        int rc = MPI_Bcast(data + done, piece, MPI_FLOAT, 0, MPI_COMM_WORLD);
        if (rc != MPI_SUCCESS)
            return mpi_failed(rc, "broadcast of the weights");
        done += (size_t)piece;
    }
    return INCEPT_OK;
}

incept_status incept_dist_begin(incept_dist *d, int wanted, incept_session *s)
{
    d->rank = 0, d->size = 1, d->wait_seconds = 0.0, d->impl = NULL, d->bucket_bytes = 0;
    if (!wanted)
        return INCEPT_OK;
    int initialized = 0;
    MPI_Initialized(&initialized);
    if (!initialized)
        return incept_fail(INCEPT_ERR_ARG, "data-parallel training: MPI is not initialized (the "
                           "program calls MPI_Init, as `mpirun ... incept train` does)");
    MPI_Comm_rank(MPI_COMM_WORLD, &d->rank);
    MPI_Comm_size(MPI_COMM_WORLD, &d->size);
    if (d->size == 1)
        return INCEPT_OK;
    const incept_graph *g = &s->model->graph;
    /* which of momentum and average rank 0 has: everyone makes the same */
    int have[2] = {s->momentum != NULL, s->average != NULL};
    int rc = MPI_Bcast(have, 2, MPI_INT, 0, MPI_COMM_WORLD);
    if (rc != MPI_SUCCESS)
        return mpi_failed(rc, "broadcast");
    if (have[0] && !s->momentum && !(s->momentum = incept_alloc_floats(g->param_floats)))
        return INCEPT_ERR_NOMEM;
    if (have[1] && !s->average && !(s->average = incept_alloc_floats(g->param_floats)))
        return INCEPT_ERR_NOMEM;
    incept_status st = broadcast_floats(g->param_data, g->param_floats);
    if (!st && have[0])
        st = broadcast_floats(s->momentum, g->param_floats);
    if (!st && have[1])
        st = broadcast_floats(s->average, g->param_floats);
    return st;
}

/* What a step of a data-parallel job keeps: when each parameter's gradient is final (the order
 * position of the first node reading it; backward runs from the last), the parameters waiting
 * for a bucket, and the requests in flight. */
typedef struct {
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

static void free_state(dist_state *m)
{
    if (!m)
        return;
    free(m->ready_start), free(m->ready_params), free(m->late), free(m->pending), free(m->requests);
    free(m);
}

void incept_dist_end(incept_dist *d)
{
    free_state(d->impl);
    d->impl = NULL;
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

static void on_grads(incept_session *s, int position)
{
    incept_dist *d = s->grad_hook_user;
    dist_state *m = d->impl;
    if (m->failed || position >= m->n_order)
        return;
    for (int k = m->ready_start[position]; k < m->ready_start[position + 1]; k++)
        ready(s, m, m->ready_params[k]);
    if (m->pending_floats * sizeof(float) >= (d->bucket_bytes ? d->bucket_bytes : INCEPT_BUCKET_BYTES))
        flush(s, m);
    int done; /* lets MPI move what is in flight while backward goes on */
    if (m->n_requests)
        MPI_Testall(m->n_requests, m->requests, &done, MPI_STATUSES_IGNORE);
}

incept_status incept_dist_step_begin(incept_dist *d, incept_session *s, int local, int global_count)
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
    if (!st && (!m || m->n_order != s->n_order)) {
        free_state(m);
        if (!(m = d->impl = incept_calloc(1, sizeof *m)))
            return INCEPT_ERR_NOMEM;
        st = schedule(s, m);
    }
    if (st)
        return st;
    m->local = local;
    m->share = global_count > 0 ? (float)local / (float)global_count : 0.0f;
    m->n_pending = 0, m->pending_floats = 0, m->n_requests = 0, m->failed = INCEPT_OK;
    s->grad_hook = on_grads;
    s->grad_hook_user = d;
    return INCEPT_OK;
}

incept_status incept_dist_step_end(incept_dist *d, incept_session *s, float *loss)
{
    if (d->size == 1)
        return INCEPT_OK;
    dist_state *m = d->impl;
    s->grad_hook = NULL;
    s->grad_hook_user = NULL;
    if (m->local == 0) /* no backward ran here: the same schedule, all zeros */
        for (int p = m->n_order - 1; p >= 0; p--)
            for (int k = m->ready_start[p]; k < m->ready_start[p + 1]; k++)
                ready(s, m, m->ready_params[k]);
    for (int k = 0; k < m->n_late; k++)
        ready(s, m, m->late[k]);
    flush(s, m);
    const double started = MPI_Wtime();
    int rc = m->n_requests ? MPI_Waitall(m->n_requests, m->requests, MPI_STATUSES_IGNORE) : MPI_SUCCESS;
    double weighted = m->local ? (double)*loss * m->share : 0.0;
    if (rc == MPI_SUCCESS)
        rc = MPI_Allreduce(MPI_IN_PLACE, &weighted, 1, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
    d->wait_seconds += MPI_Wtime() - started;
    m->n_requests = 0;
    if (m->failed)
        return m->failed;
    if (rc != MPI_SUCCESS)
        return mpi_failed(rc, "allreduce of the gradients");
    *loss = (float)weighted;
    return INCEPT_OK;
}

incept_status incept_dist_sum_longs(const incept_dist *d, long *v, int n)
{
    if (d->size == 1)
        return INCEPT_OK;
    int rc = MPI_Allreduce(MPI_IN_PLACE, v, n, MPI_LONG, MPI_SUM, MPI_COMM_WORLD);
    return rc == MPI_SUCCESS ? INCEPT_OK : mpi_failed(rc, "allreduce");
}

incept_status incept_dist_broadcast_int(const incept_dist *d, int *v)
{
    if (d->size == 1)
        return INCEPT_OK;
    int rc = MPI_Bcast(v, 1, MPI_INT, 0, MPI_COMM_WORLD);
    return rc == MPI_SUCCESS ? INCEPT_OK : mpi_failed(rc, "broadcast");
}

incept_status incept_dist_sync(const incept_dist *d, incept_session *s, long step)
{
    if (d->size == 1)
        return INCEPT_OK;
    const incept_graph *g = &s->model->graph;
    for (int i = 0; i < g->n_params; i++) { /* running statistics: rank 0's */
        const incept_param *p = &g->params[i];
        incept_status st = p->frozen ? broadcast_floats(g->param_data + p->offset, p->count) : INCEPT_OK;
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
    long long lo = (long long)crc, hi = (long long)crc;
    int rc = MPI_Allreduce(MPI_IN_PLACE, &lo, 1, MPI_LONG_LONG, MPI_MIN, MPI_COMM_WORLD);
    if (rc == MPI_SUCCESS)
        rc = MPI_Allreduce(MPI_IN_PLACE, &hi, 1, MPI_LONG_LONG, MPI_MAX, MPI_COMM_WORLD);
    if (rc != MPI_SUCCESS)
        return mpi_failed(rc, "allreduce of the weights' checksum");
    if (lo != hi)
        return incept_fail(INCEPT_ERR_ARG, "the ranks' weights differ after step %ld (checksums %llx "
                           "and %llx): they no longer train one model", step, (unsigned long long)lo,
                           (unsigned long long)hi);
    return INCEPT_OK;
}
