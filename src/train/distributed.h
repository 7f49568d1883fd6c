/* distributed.h — data-parallel training across MPI processes (distributed.c; in a build
 * without MPI, distributed_none.c: one process). The trainer (trainer.c) uses it so: every rank
 * starts from rank 0's weights, trains on its shard of each global batch, and before each SGD
 * step the gradients are averaged over the global batch, so all ranks take the same step and
 * stay identical (checked now and then). Internal to the library. */
#ifndef INCEPT_TRAIN_DISTRIBUTED_H
#define INCEPT_TRAIN_DISTRIBUTED_H

#include "graph/graph.h"

typedef struct {
    int rank, size;      /* 0 and 1 for one process */
    size_t bucket_bytes; /* gradients sent in buckets of about this much (0: INCEPT_BUCKET_BYTES) */
    double wait_seconds; /* spent waiting on communication backward did not hide */
    void *impl;          /* distributed.c's state */
} incept_dist;

#define INCEPT_BUCKET_BYTES ((size_t)4 << 20) /* a 4 MB bucket: GoogLeNet's 28 MB in about 7 */

/* Joins MPI_COMM_WORLD (MPI initialized by the program) when `wanted`, else one process; rank 0's
 * parameters, momentum and average are given to every rank. */
incept_status incept_dist_begin(incept_dist *d, int wanted, incept_session *s);
/* Around a training step: the global batch's gradient from every rank's (each a mean over its
 * `local` samples, weighted by local / global and summed), sent in buckets of about
 * INCEPT_BUCKET_BYTES as backward makes them final (non-blocking allreduce, in the order backward
 * finishes them, so communication overlaps the rest of backward); step_end sends what is left,
 * waits for all, and sums *loss likewise. A rank with no samples adds zeros. */
incept_status incept_dist_step_begin(incept_dist *d, incept_session *s, int local, int global_count);
incept_status incept_dist_step_end(incept_dist *d, incept_session *s, float *loss);
/* Frees what begin allocated. */
void incept_dist_end(incept_dist *d);
/* The sums over ranks of n longs (evaluation's hits and counts). */
incept_status incept_dist_sum_longs(const incept_dist *d, long *v, int n);
/* Rank 0's value of a flag for all (a stop asked for by rank 0's progress callback). */
incept_status incept_dist_broadcast_int(const incept_dist *d, int *v);
/* The parameters SGD does not move (batch norm's running statistics, per rank) from rank 0, and
 * a checksum of all weights compared across ranks: a divergence fails naming the step. */
incept_status incept_dist_sync(const incept_dist *d, incept_session *s, long step);

#endif
