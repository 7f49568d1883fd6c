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
    d->rank = 0, d->size = 1;
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

incept_status incept_dist_reduce(const incept_dist *d, incept_session *s, int local, int global_count,
                                 float *loss)
{
    if (d->size == 1)
        return INCEPT_OK;
    const incept_graph *g = &s->model->graph;
    if (!s->param_grads && !(s->param_grads = incept_alloc_floats(g->param_floats)))
        return INCEPT_ERR_NOMEM;
    const float share = global_count > 0 ? (float)local / (float)global_count : 0.0f;
    if (local == 0) /* nothing of this batch here: it adds zeros */
        memset(s->param_grads, 0, sizeof(float) * g->param_floats);
    else
        for (size_t k = 0; k < g->param_floats; k++)
            s->param_grads[k] *= share;
    for (size_t done = 0; done < g->param_floats;) {
        int piece = g->param_floats - done > (1u << 30) ? 1 << 30 : (int)(g->param_floats - done);
        int rc = MPI_Allreduce(MPI_IN_PLACE, s->param_grads + done, piece, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
        if (rc != MPI_SUCCESS)
            return mpi_failed(rc, "allreduce of the gradients");
        done += (size_t)piece;
    }
    double weighted = local ? (double)*loss * share : 0.0;
    int rc = MPI_Allreduce(MPI_IN_PLACE, &weighted, 1, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
    if (rc != MPI_SUCCESS)
        return mpi_failed(rc, "allreduce of the loss");
    *loss = (float)weighted;
    return INCEPT_OK;
}

incept_status incept_dist_sum_int(const incept_dist *d, int *v)
{
    if (d->size == 1)
        return INCEPT_OK;
    int rc = MPI_Allreduce(MPI_IN_PLACE, v, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    return rc == MPI_SUCCESS ? INCEPT_OK : mpi_failed(rc, "allreduce");
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
