/* trainer.c — a whole training run (incept_train): the epoch loop over a loader's batches, the
 * learning-rate schedule and warm-up, SGD steps, the evaluation after each epoch (of the Polyak
 * average when there is one), checkpoints at a fixed cadence, and progress reports to a
 * callback. What a run computes is a function of the state alone, so a run resumed from a
 * checkpoint continues exactly where the interrupted one was. */
#define _DEFAULT_SOURCE /* M_PI */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "graph/graph.h"
#include "incept.h"
#include "train/distributed.h"
#include "train/train.h"

int incept_schedule_valid(const char *name)
{
    return name && (!strcmp(name, "constant") || !strcmp(name, "cosine") || !strcmp(name, "step") ||
                    !strcmp(name, "paper"));
}

float incept_learning_rate(const incept_train_state *t, long step, int steps_per_epoch)
{
    float lr = t->sgd.learning_rate;
    if (t->warmup > 0 && step < t->warmup)
        return lr * (float)(step + 1) / (float)t->warmup;
    double progress = t->total_steps > 0 ? (double)step / (double)t->total_steps : 0.0;
    if (!strcmp(t->schedule, "cosine"))
        return (float)(lr * 0.5 * (1.0 + cos(M_PI * progress)));
    if (!strcmp(t->schedule, "step"))
        return lr * (progress >= 0.75 ? 0.01f : progress >= 0.5 ? 0.1f : 1.0f);
    if (!strcmp(t->schedule, "paper") && steps_per_epoch > 0) /* the paper: -4% every 8 epochs */
        return lr * powf(0.96f, (float)(step / steps_per_epoch / 8));
    return lr;
}

/* Test accuracy of the weights the run reports: the Polyak average when there is one. */
/* The test accuracy (of the Polyak average when there is one), each rank evaluating its share. */
static incept_status evaluate(incept_session *s, const incept_dataset *test, const incept_train_state *t,
                              int batch, int flips, incept_dist *dist, double *top1, double *top5)
{
    *top1 = *top5 = NAN;
    if (!test)
        return INCEPT_OK;
    int averaged = t->average_decay > 0.0f && s->average, n;
    incept_dataset_dims(test, &n, NULL, NULL, NULL, NULL);
    long counts[3] = {0, 0, 0}; /* hits1, hits5, evaluated */
    incept_status st = averaged ? incept_session_use_average(s, 1) : INCEPT_OK;
    if (!st)
        st = incept_evaluate_range(s, test, batch, flips, (int)((long)n * dist->rank / dist->size),
                                   (int)((long)n * (dist->rank + 1) / dist->size), &counts[0],
                                   &counts[1], &counts[2]);
    if (!st && !(st = incept_dist_sum_longs(dist, counts, 3)) && counts[2] > 0)
        *top1 = (double)counts[0] / counts[2], *top5 = (double)counts[1] / counts[2];
    if (averaged) {
        incept_status back = incept_session_use_average(s, 0);
        st = st ? st : back;
    }
    return st;
}

static incept_status check_state(const incept_session *s, const incept_dataset *train,
                                 const incept_train_state *t)
{
    int c, h, w, classes, n, dc, dh, dw, dclasses;
    incept_model_input_dims(s->model, &c, &h, &w);
    incept_model_output_dims(s->model, &classes, NULL, NULL);
    incept_dataset_dims(train, &n, &dc, &dh, &dw, &dclasses);
    if (dc != c || dh != h || dw != w || dclasses > classes)
        return incept_fail(INCEPT_ERR_SHAPE, "the data is %dx%dx%d with %d classes; the model takes "
                           "%dx%dx%d and has %d outputs", dc, dh, dw, dclasses, c, h, w, classes);
    return incept_train_state_check(t, "training state", INCEPT_ERR_ARG);
}

/* x finite and in [low, high]. */
static int within(double x, double low, double high) { return x >= low && x <= high; }

incept_status incept_train_state_check(const incept_train_state *t, const char *what, incept_status st)
{
    const char *why = NULL;
    if (!within(t->seconds, 0, 1e12) || !within(t->epoch_loss_sum, 0, FLT_MAX) ||
        t->epoch_loss_steps < 0 || t->epoch_loss_steps > t->step)
        why = "a time or a running loss out of range";
    else if (!memchr(t->schedule, '\0', sizeof t->schedule) || !incept_schedule_valid(t->schedule))
        why = "an unknown schedule";
    else if (t->batch < 1 || t->batch > INCEPT_BATCH_MAX)
        why = "a batch outside 1..2^20";
    else if (t->step < 0 || t->total_steps < 0 || (t->total_steps > 0 && t->step > t->total_steps))
        why = "steps out of range";
    else if (t->warmup < 0 || t->crop_pad < 0 || t->crop_pad > INCEPT_CROP_PAD_MAX)
        why = "a warm-up or crop padding out of range";
    else if ((t->shuffle | t->augment | t->dropout) & ~1)
        why = "a flag other than 0 or 1";
    else if (!within(t->aux_weight, 0, FLT_MAX) || !within(t->sgd.learning_rate, 0, FLT_MAX) ||
             !within(t->sgd.momentum, 0, 1) || !within(t->sgd.weight_decay, 0, FLT_MAX) ||
             !within(t->average_decay, 0, 1) || t->average_decay == 1.0f || (t->sgd.decay_biases & ~1) ||
             !within(t->label_smoothing, 0, 1) || t->label_smoothing == 1.0f)
        why = "a learning rate, momentum, decay, loss weight or label smoothing out of range";
    if (!why)
        return INCEPT_OK;
    return incept_fail(st, "%s has %s (batch %d, step %ld of %ld, warm-up %ld, crop padding %d, "
                       "learning rate %g, momentum %g)", what, why, t->batch, t->step, t->total_steps,
                       t->warmup, t->crop_pad, (double)t->sgd.learning_rate, (double)t->sgd.momentum);
}

incept_status incept_train(incept_session *s, const incept_dataset *train,
                           const incept_dataset *test, incept_train_state *t,
                           const incept_train_options *options)
{
    if (!s || !train || !t)
        return incept_fail(INCEPT_ERR_ARG, "train needs a session, training data and a state");
    const incept_train_options defaults = {0};
    const incept_train_options *o = options ? options : &defaults;
    incept_status st = check_state(s, train, t);
    if (st || (st = incept_session_set_training(s, t->aux_weight, t->dropout, t->seed)) ||
        (st = incept_session_set_label_smoothing(s, t->label_smoothing)) ||
        (st = incept_session_set_averaging(s, t->average_decay)))
        return st;
    incept_dist dist; /* one process, or this rank's part of a data-parallel job */
    if ((st = incept_dist_begin(&dist, o, s))) {
        incept_dist_end(&dist);
        return st;
    }
    if (dist.size > t->batch) {
        incept_dist_end(&dist);
        return incept_fail(INCEPT_ERR_ARG, "a global batch of %d over %d ranks: each needs a sample",
                           t->batch, dist.size);
    }
    const int leader = dist.rank == 0; /* writes checkpoints and reports */
    int reporting = o->progress != NULL; /* the leader's say: every rank evaluates with it */
    if ((st = incept_dist_broadcast_int(&dist, &reporting))) {
        incept_dist_end(&dist);
        return st;
    }
    incept_loader_options lo = {t->batch, t->shuffle, t->augment, t->crop_pad, 1, t->seed, dist.rank,
                                dist.size};
    incept_loader *loader;
    if ((st = incept_loader_new(train, &lo, t->step, &loader))) {
        incept_dist_end(&dist);
        return st;
    }
    /* synchronized statistics: a rank with no samples in a step (the short last batch of an
     * epoch) still takes part in every batch norm's exchange, running a zero image that counts
     * for nothing */
    float *stand_in = NULL;
    const int stand_in_label = 0;
    if (dist.sync_stats && dist.size > 1) {
        int c, h, w;
        incept_model_input_dims(s->model, &c, &h, &w);
        if (!(stand_in = incept_calloc((size_t)c * h * w, sizeof(float)))) {
            incept_loader_free(loader);
            incept_dist_end(&dist);
            return INCEPT_ERR_NOMEM;
        }
    }
    const int per_epoch = incept_loader_batches_per_epoch(loader);
    int n_train;
    incept_dataset_dims(train, &n_train, NULL, NULL, NULL, NULL);
    if (t->total_steps == 0)
        t->total_steps = (long)(o->epochs > 0 ? o->epochs : 1) * per_epoch;
    const long total = t->total_steps, first_step = t->step;
    const long every = o->checkpoint_every > 0 ? o->checkpoint_every : per_epoch;
    const int eval_batch = o->eval_batch > 0 ? o->eval_batch : 256;
    incept_train_progress p = {.epochs = (int)(total / per_epoch + (total % per_epoch != 0)),
                               .total_steps = total, .steps_per_epoch = per_epoch};
    incept_sgd sgd = t->sgd;
    const double started = incept_now_seconds(), before = t->seconds;
    double last = started, step_seconds = 0.0, first_loss = NAN; /* step_seconds: a recent mean */
    char last_bad[512] = "";
    for (long step = t->step; step < total && !st; step++) {
        const float *images;
        const int *labels;
        int count;
        float loss;
        if (step % per_epoch == 0) { /* a new epoch (a run resumed within one carries on its mean) */
            t->epoch_loss_sum = 0.0, t->epoch_loss_steps = 0;
            p.data_seconds = p.forward_seconds = p.backward_seconds = p.update_seconds = 0.0;
            p.eval_seconds = 0.0;
        }
        double mark = incept_now_seconds();
        incept_loader_next(loader, &images, &labels, &count);
        p.data_seconds += incept_now_seconds() - mark;
        sgd.learning_rate = incept_learning_rate(t, step, per_epoch);
        /* the step's whole batch over every rank: the last of an epoch may be short */
        const long first = (step % per_epoch) * (long)t->batch;
        const int global = n_train - first < t->batch ? (int)(n_train - first) : t->batch;
        loss = 0.0f;
        if ((st = incept_dist_step_begin(&dist, s, step + 1, count, global)) ||
            (count > 0 && (st = incept_session_train_step(s, images, labels, count, &loss))) ||
            (count == 0 && stand_in &&
             (st = incept_session_train_step(s, stand_in, &stand_in_label, 1, &loss))) ||
            (st = incept_dist_step_end(&dist, s, &loss)))
            break;
        p.forward_seconds += s->step_forward_seconds;
        p.backward_seconds += s->step_backward_seconds;
        mark = incept_now_seconds();
        if (isnan(first_loss))
            first_loss = loss;
        if (!isfinite(loss) || loss > 100.0 * first_loss) { /* before the update: the weights stay */
            st = incept_fail(INCEPT_ERR_ARG, "the loss diverged at step %ld (learning rate %g): %g, "
                             "where this run began at %g; try a smaller learning rate", step + 1,
                             (double)sgd.learning_rate, (double)loss, first_loss);
            break;
        }
        if ((st = incept_session_sgd_step(s, &sgd)) || (st = incept_dist_sync(&dist, s, step + 1)))
            break;
        if (s->nonfinite_param >= 0) { /* no checkpoint of it: the last one stays the last good */
            st = incept_fail(INCEPT_ERR_ARG, "the weights diverged at step %ld (learning rate %g): "
                             "parameter '%s' is no longer finite; try a smaller one", step + 1,
                             (double)sgd.learning_rate,
                             s->model->graph.params[s->nonfinite_param].name);
            break;
        }
        t->epoch_loss_sum += loss, t->epoch_loss_steps++;
        t->step = step + 1;
        const double now = incept_now_seconds();
        p.update_seconds += now - mark;
        t->seconds = before + (now - started);
        /* the rate of the last ~20 steps, for the ETA: a run's early steps (warm-up, caches)
         * and its evaluations say little about the rest */
        step_seconds = step == first_step ? now - last : 0.95 * step_seconds + 0.05 * (now - last);
        last = now;
        /* the report (and its evaluation) before the checkpoint: a run killed between them
         * resumes before this step and reports it again, rather than never */
        const int checkpoint_due = leader && o->checkpoint && (t->step % every == 0 || t->step == total);
        p.end_of_epoch = t->step % per_epoch == 0 || t->step == total;
        const int report = reporting &&
                           (p.end_of_epoch || (o->report_every > 0 && t->step % o->report_every == 0));
        int stop = 0;
        if (report) {
            p.seconds = t->seconds; /* training time: before the evaluation */
            p.test_top1 = p.test_top5 = NAN;
            /* every rank evaluates its share; the leader reports, and whether it stops every
             * rank learns */
            mark = incept_now_seconds();
            if (p.end_of_epoch &&
                (st = evaluate(s, test, t, eval_batch, o->test_flips, &dist, &p.test_top1, &p.test_top5)))
                break;
            p.eval_seconds += incept_now_seconds() - mark;
            p.epoch = (int)(step / per_epoch) + 1;
            p.step = t->step;
            p.learning_rate = sgd.learning_rate;
            p.loss = t->epoch_loss_sum / (double)t->epoch_loss_steps;
            p.images_per_second = step_seconds > 0 ? t->batch / step_seconds : 0.0;
            p.eta_seconds = step_seconds * (double)(total - t->step);
            p.wait_seconds = dist.wait_seconds;
            p.bad_images = incept_loader_errors(loader, last_bad, sizeof last_bad);
            p.last_bad_image = last_bad;
            stop = leader && o->progress(&p, o->user) != 0;
            if ((st = incept_dist_broadcast_int(&dist, &stop)))
                break;
        }
        if (checkpoint_due && (st = incept_checkpoint_save_notes(s, t, o->checkpoint_notes, o->checkpoint)))
            break;
        if (stop)
            break;
    }
    s->grad_hook = NULL; /* a step that failed may have left them */
    s->grad_hook_user = NULL;
    s->stats_sync = NULL;
    free(stand_in);
    incept_dist_end(&dist);
    incept_loader_free(loader);
    return st;
}
