/* distributed_none.c — data-parallel training in a build without MPI: one process only, and
 * asking for more says so. */
#include <string.h>

#include "core/status.h"
#include "train/distributed.h"

incept_status incept_dist_begin(incept_dist *d, const incept_train_options *o, incept_session *s)
{
    (void)s;
    memset(d, 0, sizeof *d);
    d->size = 1;
    if (o->distributed)
        return incept_fail(INCEPT_ERR_UNSUPPORTED, "data-parallel training needs a build with MPI "
                           "(Debian's libopenmpi-dev, found by CMake)");
    return INCEPT_OK;
}

incept_status incept_dist_step_begin(incept_dist *d, incept_session *s, long step, int local,
                                     int global_count)
{
    (void)d, (void)s, (void)step, (void)local, (void)global_count;
    return INCEPT_OK;
}

incept_status incept_dist_step_end(incept_dist *d, incept_session *s, float *loss)
{
    (void)d, (void)s, (void)loss;
    return INCEPT_OK;
}

void incept_dist_end(incept_dist *d) { (void)d; }

void incept_dist_mark(incept_dist *d, int stage, long step) { (void)d, (void)stage, (void)step; }

incept_status incept_dist_sum_longs(incept_dist *d, long *v, int n)
{
    (void)d, (void)v, (void)n;
    return INCEPT_OK;
}

incept_status incept_dist_broadcast_int(incept_dist *d, int *v)
{
    (void)d, (void)v;
    return INCEPT_OK;
}

incept_status incept_dist_sync(incept_dist *d, incept_session *s, long step)
{
    (void)d, (void)s, (void)step;
    return INCEPT_OK;
}
