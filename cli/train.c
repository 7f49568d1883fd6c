/* train.c — the `incept train` and `incept eval` commands: datasets from files, the learning-rate
 * schedule, progress on a terminal (plain lines otherwise), a CSV log. All the work is the
 * library's; this file only wires options to it. */
#define _DEFAULT_SOURCE /* M_PI */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "incept.h"

#define FASHION_DIR "/usr/share/datasets/fashion-mnist"

/* Images of an idx set in [0, 1] are centred to [-1, 1]; raw tensors are taken as they are. */
static incept_status load_split(const options *o, int test, incept_dataset **out, int c, int h, int w)
{
    char images[4096], labels[4096];
    const char *dir = test ? o->test_dir : o->train_dir;
    if (dir || (test && o->train_dir)) { /* image folders: ImageNet layout */
        incept_preprocess pre;
        *out = NULL;
        if (!dir)
            return INCEPT_OK; /* trained on a folder without a test folder: no test split */
        (void)c; /* folders give RGB: a mismatch with the model is reported by the caller */
        incept_status st = incept_preprocess_preset(o->preset ? o->preset : "torchvision", &pre);
        return st ? st : incept_dataset_load_folder(dir, h, w, &pre, out);
    }
    const char *x = test ? o->test_images : o->train_images, *y = test ? o->test_labels : o->train_labels;
    if (!test && o->inputs)
        return incept_dataset_load_raw(o->inputs, o->labels_file, c, h, w, out);
    if (test && o->inputs) {
        *out = NULL; /* raw data: no separate test split */
        return INCEPT_OK;
    }
    if (!x || !y) {
        snprintf(images, sizeof images, "%s/%s-images-idx3-ubyte.gz", FASHION_DIR, test ? "t10k" : "train");
        snprintf(labels, sizeof labels, "%s/%s-labels-idx1-ubyte.gz", FASHION_DIR, test ? "t10k" : "train");
        x = images, y = labels;
    }
    incept_status st = incept_dataset_load_idx(x, y, out);
    if (!st)
        incept_dataset_standardize(*out, 0.5f, 0.5f);
    return st;
}

/* The learning rate at `step`: linear warm-up, then the schedule. */
static float learning_rate(const incept_train_state *t, long step, int steps_per_epoch)
{
    float lr = t->sgd.learning_rate;
    if (t->warmup > 0 && step < t->warmup)
        return lr * (float)(step + 1) / (float)t->warmup;
    double progress = t->total_steps > 0 ? (double)step / (double)t->total_steps : 0.0;
    if (!strcmp(t->schedule, "cosine"))
        return (float)(lr * 0.5 * (1.0 + cos(M_PI * progress)));
    if (!strcmp(t->schedule, "step"))
        return lr * (progress >= 0.75 ? 0.01f : progress >= 0.5 ? 0.1f : 1.0f);
    if (!strcmp(t->schedule, "paper")) /* the paper: -4% every 8 epochs */
        return lr * powf(0.96f, (float)(step / steps_per_epoch / 8));
    return lr;
}

int cli_valid_schedule(const char *name)
{
    return !strcmp(name, "constant") || !strcmp(name, "cosine") || !strcmp(name, "step") ||
           !strcmp(name, "paper");
}

static void progress(int terminal, int epoch, int epochs, long step, long total, double loss,
                     double rate, double eta)
{
    if (!terminal) { /* a log file: a plain line now and then */
        fprintf(stderr, "epoch %d/%d step %ld/%ld loss %.4f %.0f img/s ETA %.0f s\n", epoch, epochs,
                step, total, loss, rate, eta);
        return;
    }
    int width = 30, done = total ? (int)(width * step / total) : 0;
    char bar[64];
    for (int i = 0; i < width; i++)
        bar[i] = i < done ? '#' : '.';
    bar[width] = '\0';
    fprintf(stderr, "\repoch %d/%d [%s] step %ld/%ld loss %.4f %.0f img/s ETA %.0f s   ", epoch, epochs,
            bar, step, total, loss, rate, eta);
    fflush(stderr);
}

/* `incept train` told nothing about model or data trains the built-in Fashion-MNIST net with
 * this recipe (measured: see the README); with a model or data of one's own the plain defaults
 * are one epoch at a constant 0.05. Options given always win. */
#define RECIPE_EPOCHS 11
#define RECIPE_LR 0.1f
#define RECIPE_SCHEDULE "cosine"
#define RECIPE_WARMUP 200
#define RECIPE_CROP_PAD 0 /* flips only: in 11 epochs shifted crops cost more fit than they add */

void cli_training_defaults(options *o)
{
    int builtin = !o->model && !o->inputs && !o->train_dir && !o->train_images && !o->resume;
    if (o->epochs <= 0)
        o->epochs = builtin ? RECIPE_EPOCHS : 1;
    if (isnan(o->lr))
        o->lr = builtin ? RECIPE_LR : 0.05f;
    if (!o->schedule)
        o->schedule = builtin ? RECIPE_SCHEDULE : "constant";
    if (o->warmup < 0)
        o->warmup = builtin ? RECIPE_WARMUP : 0;
    if (o->crop_pad < 0)
        o->crop_pad = builtin ? RECIPE_CROP_PAD : 2;
}

int cmd_train(const options *o)
{
    incept_model *m;
    incept_session *s = NULL;
    incept_train_state t;
    memset(&t, 0, sizeof t);
    int rc = 0;
    if (o->resume) { /* the session comes back with its momentum, average and step */
        if (incept_checkpoint_load(o->resume, &m, &s, &t))
            return cli_fail("resuming");
    } else {
        if ((rc = cli_load_or(o, "fashion", &m)))
            return rc;
        if (incept_session_new(m, &s)) {
            incept_model_free(m);
            return cli_fail("a session");
        }
        t.seed = o->seed;
        t.batch = o->batch;
        t.shuffle = !o->no_shuffle;
        t.augment = !o->no_augment;
        t.crop_pad = (int)o->crop_pad;
        t.dropout = 1;
        t.aux_weight = 0.3f;
        t.sgd = (incept_sgd){o->lr, o->momentum, o->weight_decay, 1};
        snprintf(t.schedule, sizeof t.schedule, "%s", o->schedule);
        t.warmup = o->warmup;
        t.average_decay = o->average;
        if (incept_session_set_averaging(s, t.average_decay)) {
            rc = cli_fail("--average");
            incept_session_free(s);
            incept_model_free(m);
            return rc;
        }
    }
    int c, h, w, classes;
    incept_model_input_dims(m, &c, &h, &w);
    incept_model_output_dims(m, &classes, NULL, NULL);
    incept_dataset *train = NULL, *test = NULL;
    incept_loader *loader = NULL;
    FILE *log = NULL;
    double *epoch_loss = NULL, *epoch_top1 = NULL; /* for --plot */
    rc = 1;
    if (load_split(o, 0, &train, c, h, w) || load_split(o, 1, &test, c, h, w)) {
        rc = cli_fail("loading the data");
        goto done;
    }
    int n, dc, dh, dw, dclasses;
    incept_dataset_dims(train, &n, &dc, &dh, &dw, &dclasses);
    if (dc != c || dh != h || dw != w || dclasses > classes) {
        fprintf(stderr, "incept: the data is %dx%dx%d with %d classes; the model takes %dx%dx%d and "
                        "has %d outputs\n", dc, dh, dw, dclasses, c, h, w, classes);
        goto done;
    }
    incept_loader_options lo = {t.batch, t.shuffle, t.augment, t.crop_pad, 1, t.seed};
    if (incept_session_set_threads(s, o->threads) ||
        (!o->resume && incept_session_set_training(s, t.aux_weight, t.dropout, t.seed)) ||
        incept_loader_new(train, &lo, t.step, &loader)) {
        rc = cli_fail("setting up training");
        goto done;
    }
    if (o->log && !(log = fopen(o->log, o->resume ? "a" : "w"))) {
        fprintf(stderr, "incept: %s: cannot create the log\n", o->log);
        goto done;
    }
    if (log && !o->resume)
        fprintf(log, "epoch,step,lr,loss,test_top1,test_top5,seconds\n");
    const int per_epoch = incept_loader_batches_per_epoch(loader);
    if (!o->resume)
        t.total_steps = o->steps > 0 ? o->steps : (long)o->epochs * per_epoch;
    const long total = t.total_steps;
    const long every = o->checkpoint_every > 0 ? o->checkpoint_every : per_epoch;
    const int epochs = (int)((total + per_epoch - 1) / per_epoch);
    const int terminal = isatty(STDERR_FILENO);
    incept_sgd sgd = t.sgd;
    double started = cli_now(), loss_sum = 0.0;
    long seen = 0, loss_count = 0, first_step = t.step;
    epoch_loss = calloc((size_t)epochs + 1, sizeof(double));
    epoch_top1 = calloc((size_t)epochs + 1, sizeof(double));
    if (!epoch_loss || !epoch_top1) {
        fprintf(stderr, "incept: out of memory\n");
        goto done;
    }
    for (int e = 0; e <= epochs; e++)
        epoch_loss[e] = epoch_top1[e] = NAN;
    fprintf(stderr, "incept: training %s on %d images (%d steps of %d per epoch), steps %ld to %ld\n",
            o->resume ? o->resume : o->model ? o->model : "the built-in model", n, per_epoch, t.batch,
            t.step + 1, total);
    for (long step = t.step; step < total; step++) {
        const float *images;
        const int *labels;
        int count;
        float loss;
        incept_loader_next(loader, &images, &labels, &count);
        sgd.learning_rate = learning_rate(&t, step, per_epoch);
        if (incept_session_train_step(s, images, labels, count, &loss) ||
            incept_session_sgd_step(s, &sgd)) {
            rc = cli_fail("training step");
            goto done;
        }
        if (!isfinite(loss)) {
            fprintf(stderr, "\nincept: the loss diverged at step %ld (lr %g): try a smaller --lr\n",
                    step + 1, (double)sgd.learning_rate);
            goto done;
        }
        seen += count;
        loss_sum += loss;
        loss_count++;
        t.step = step + 1;
        if (o->checkpoint && (t.step % every == 0 || t.step == total) &&
            incept_checkpoint_save(s, &t, o->checkpoint)) {
            rc = cli_fail("writing the checkpoint");
            goto done;
        }
        double elapsed = cli_now() - started;
        long every = terminal ? 10 : (per_epoch >= 10 ? per_epoch / 5 : 1);
        if ((step + 1) % every == 0 && (step + 1) % per_epoch != 0)
            progress(terminal, (int)(step / per_epoch) + 1, epochs, step + 1, total,
                     loss_sum / loss_count, seen / elapsed,
                     elapsed / (step + 1 - first_step) * (total - step - 1));
        if ((step + 1) % per_epoch == 0 || step + 1 == total) {
            double top1 = NAN, top5 = NAN;
            int averaged = t.average_decay > 0.0f; /* evaluate the Polyak average, as the paper */
            if (test && ((averaged && incept_session_use_average(s, 1)) ||
                         incept_session_evaluate(s, test, 256, &top1, &top5, NULL) ||
                         (averaged && incept_session_use_average(s, 0)))) {
                rc = cli_fail("evaluation");
                goto done;
            }
            int epoch = (int)(step / per_epoch) + 1;
            char accuracy[96] = "", last_bad[512];
            long bad = incept_loader_errors(loader, last_bad, sizeof last_bad);
            if (bad)
                fprintf(stderr, "%sincept: %ld image(s) could not be decoded and trained as zeros; "
                                "the last: %s\n", terminal ? "\n" : "", bad, last_bad);
            if (test)
                snprintf(accuracy, sizeof accuracy, " test top1 %.2f%% top5 %.2f%%", top1 * 100,
                         top5 * 100);
            fprintf(stderr, "%sepoch %d/%d step %ld loss %.4f%s %.0f img/s %.0f s\n",
                    terminal ? "\r" : "", epoch, epochs, step + 1, loss_sum / loss_count, accuracy,
                    seen / elapsed, elapsed);
            if (log) {
                fprintf(log, "%d,%ld,%g,%.6f,%.4f,%.4f,%.1f\n", epoch, step + 1,
                        (double)sgd.learning_rate, loss_sum / loss_count, top1, top5, elapsed);
                fflush(log);
            }
            epoch_loss[epoch - 1] = loss_sum / loss_count;
            epoch_top1[epoch - 1] = top1;
            if (o->plot && cli_plot(o->plot, epoch_loss, epoch_top1, epoch)) {
                goto done;
            }
            loss_sum = 0.0;
            loss_count = 0;
        }
    }
    if (o->out && t.average_decay > 0.0f && incept_session_use_average(s, 1)) {
        rc = cli_fail("the averaged weights");
        goto done;
    }
    if (o->out) {
        size_t len = strlen(o->out);
        int onnx = len > 5 && strcmp(o->out + len - 5, ".onnx") == 0;
        if (onnx ? incept_model_save_onnx(m, o->out) : incept_model_save_weights(m, o->out)) {
            rc = cli_fail(onnx ? "exporting ONNX" : "saving the weights");
            goto done;
        }
        fprintf(stderr, "incept: %s written to %s\n", onnx ? "model" : "weights", o->out);
    }
    rc = 0;
done:
    free(epoch_loss);
    free(epoch_top1);
    if (log)
        fclose(log);
    incept_loader_free(loader);
    incept_dataset_free(train);
    incept_dataset_free(test);
    incept_session_free(s);
    incept_model_free(m);
    return rc;
}

int cmd_eval(const options *o)
{
    incept_model *m;
    incept_session *s = NULL;
    int rc = cli_load_or(o, "fashion", &m);
    if (rc)
        return rc;
    int c, h, w;
    incept_model_input_dims(m, &c, &h, &w);
    incept_dataset *data = NULL;
    double top1, top5;
    int n = 0, all = 0;
    incept_status st = o->inputs ? incept_dataset_load_raw(o->inputs, o->labels_file, c, h, w, &data)
                                 : load_split(o, 1, &data, c, h, w);
    if (!st && !data) {
        fprintf(stderr, "incept: eval needs test data (--test-images/--test-labels, --test-dir or "
                        "--inputs/--labels)\n");
        incept_model_free(m);
        return 2;
    }
    if (st || incept_session_new(m, &s) || incept_session_set_threads(s, o->threads) ||
        incept_session_evaluate(s, data, o->batch > 1 ? o->batch : 256, &top1, &top5, &n)) {
        rc = cli_fail("evaluation");
    } else {
        incept_dataset_dims(data, &all, NULL, NULL, NULL, NULL);
        if (n < all)
            fprintf(stderr, "incept: %d image(s) could not be decoded and were left out\n", all - n);
        printf("eval: top1=%.4f top5=%.4f n=%d\n", top1, top5, n);
    }
    incept_dataset_free(data);
    incept_session_free(s);
    incept_model_free(m);
    return rc;
}
