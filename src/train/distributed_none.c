/* distributed_none.c — data-parallel training in a build without MPI: one process only, and
 * asking for more says so. */
#include "core/status.h"
#include "train/distributed.h"

incept_status incept_dist_begin(incept_dist *d, int wanted, incept_session *s)
{
    (void)s;
    d->rank = 0, d->size = 1, d->wait_seconds = 0.0, d->impl = NULL, d->bucket_bytes = 0;
    if (wanted)
        return incept_fail(INCEPT_ERR_UNSUPPORTED, "data-parallel training needs a build with MPI "
                           "(Debian's libopenmpi-dev, found by CMake)");
    return INCEPT_OK;
}

incept_status incept_dist_step_begin(incept_dist *d, incept_session *s, int local, int global_count)
{
    (void)d, (void)s, (void)local, (void)global_count;
    return INCEPT_OK;
}

incept_status incept_dist_step_end(incept_dist *d, incept_session *s, float *loss)
{
    (void)d, (void)s, (void)loss;
    return INCEPT_OK;
}

void incept_dist_end(incept_dist *d) { (void)d; }

incept_status incept_dist_sum_longs(const incept_dist *d, long *v, int n)
{
    (void)d, (void)v, (void)n;
    return INCEPT_OK;
}

incept_status incept_dist_broadcast_int(const incept_dist *d, int *v)
{
    (void)d, (void)v;
    return INCEPT_OK;
}

incept_status incept_dist_sync(const incept_dist *d, incept_session *s, long step)
{
    (void)d, (void)s, (void)step;
    return INCEPT_OK;
}
