/* distributed.h — data-parallel training across MPI processes (distributed.c; in a build
 * without MPI, distributed_none.c: one process). The trainer (trainer.c) uses it so: every rank
 * starts from rank 0's weights, trains on its shard of each global batch, and before each SGD
 * step the gradients are averaged over the global batch, so all ranks take the same step and
 * stay identical (checked now and then). Every wait on the other ranks is bounded: a rank that
 * stops answering fails the job, naming it. Internal to the library. */
#ifndef INCEPT_TRAIN_DISTRIBUTED_H
#define INCEPT_TRAIN_DISTRIBUTED_H

#include "graph/graph.h"
#include "incept.h"

typedef struct {
    int rank, size;      /* 0 and 1 for one process */
    size_t bucket_bytes; /* gradients sent in buckets of about this much (0: INCEPT_BUCKET_BYTES) */
    int sync_stats;      /* batch norm's statistics over the global batch (else each rank's own) */
    double timeout;      /* seconds a wait on the other ranks may take (0: INCEPT_RANK_TIMEOUT) */
    double wait_seconds; /* spent waiting on communication backward did not hide */
    void *impl;          /* distributed.c's state */
} incept_dist;

#define INCEPT_BUCKET_BYTES ((size_t)4 << 20) /* a 4 MB bucket: GoogLeNet's 28 MB in about 7 */
#define INCEPT_RANK_TIMEOUT 300.0             /* seconds: longer than any checkpoint or evaluation */

/* Joins MPI_COMM_WORLD (MPI initialized by the program) when o->distributed, else one process;
 * rank 0's parameters, momentum and average are given to every rank. */
incept_status incept_dist_begin(incept_dist *d, const incept_train_options *o, incept_session *s);
/* Around training step `step` (1-based): the global batch's gradient from every rank's (each a mean over its
 * `local` samples, weighted by local / global and summed), sent in buckets of about
 * INCEPT_BUCKET_BYTES as backward makes them final (non-blocking allreduce, in the order backward
 * finishes them, so communication overlaps the rest of backward); step_end sends what is left,
 * waits for all, and sums *loss likewise. A rank with no samples adds zeros (with synchronized
 * statistics it still runs the step, on a stand-in sample whose statistics it does not send). */
incept_status incept_dist_step_begin(incept_dist *d, incept_session *s, long step, int local,
                                     int global_count);
incept_status incept_dist_step_end(incept_dist *d, incept_session *s, float *loss);
/* Frees what begin allocated. */
void incept_dist_end(incept_dist *d);
/* Where this rank is (the step, 1-based, and a stage), told to the others: a wait that times
 * out names the ranks behind. */
enum { INCEPT_MARK_BATCH, INCEPT_MARK_BACKWARD, INCEPT_MARK_EVALUATED };
void incept_dist_mark(incept_dist *d, int stage, long step);
/* The sums over ranks of n longs (evaluation's hits and counts). */
incept_status incept_dist_sum_longs(incept_dist *d, long *v, int n);
/* Rank 0's value of a flag for all (a stop asked for by rank 0's progress callback). */
incept_status incept_dist_broadcast_int(incept_dist *d, int *v);
/* The parameters SGD does not move (batch norm's running statistics, per rank) from the last
 * rank (the one that always has samples), and a checksum of all weights compared across ranks:
 * a divergence fails naming the step. */
incept_status incept_dist_sync(incept_dist *d, incept_session *s, long step);

#endif
