/* train.c — the `incept train` and `incept eval` commands: datasets from files, progress on a
 * terminal (plain lines otherwise), a CSV log and the plot. The run itself is the library's
 * trainer (incept_train); this file only wires options and reports to it. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "incept.h"
#include "io/io.h"

#define FASHION_DIR "/usr/share/datasets/fashion-mnist"

/* Images of an idx set in [0, 1] are centred to [-1, 1]; raw tensors are taken as they are. */
incept_status cli_load_split(const options *o, int test, incept_dataset **out, int c, int h, int w)
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

/* The data options, as a checkpoint's notes keep them ("--train-images=PATH" lines). */
#define DATA_OPTIONS(X)                                                                          \
    X("--train-images", train_images) X("--train-labels", train_labels)                          \
    X("--test-images", test_images) X("--test-labels", test_labels) X("--inputs", inputs)         \
    X("--labels", labels_file) X("--train-dir", train_dir) X("--test-dir", test_dir)             \
    X("--preset", preset)

static char *data_notes(const options *o)
{
    size_t size = 1 + 32; /* and "--holdout=N" */
#define SIZE(flag, field) size += o->field ? strlen(flag) + strlen(o->field) + 2 : 0;
    DATA_OPTIONS(SIZE)
    char *notes = calloc(size, 1);
#define PUT(flag, field)                                                                         \
    if (notes && o->field)                                                                       \
        strcat(strcat(strcat(strcat(notes, flag), "="), o->field), "\n");
    DATA_OPTIONS(PUT)
    if (notes && o->holdout > 0)
        snprintf(notes + strlen(notes), 32, "--holdout=%ld\n", o->holdout);
    return notes;
}

/* Whether any data option was given. */
static int has_data_options(const options *o)
{
    int given = 0;
#define GIVEN(flag, field) given |= o->field != NULL;
    DATA_OPTIONS(GIVEN)
    return given || o->holdout > 0;
}

/* The data options back from notes (pointing into them; the values' line ends cut). */
static void restore_data_options(char *notes, options *o)
{
    for (char *line = notes; line && *line;) {
        char *end = strchr(line, '\n'), *eq = strchr(line, '=');
        if (end)
            *end = '\0';
        if (eq) {
            *eq = '\0';
#define TAKE(flag, field)                                                                        \
    if (!strcmp(line, flag))                                                                     \
        o->field = eq + 1;
            DATA_OPTIONS(TAKE)
            if (!strcmp(line, "--holdout"))
                o->holdout = strtol(eq + 1, NULL, 10); /* checked against the data as given */
        }
        line = end ? end + 1 : NULL;
    }
}

/* A pair named without its other half is an error, not a fallback to the built-in data. */
static int check_pairs(const options *o)
{
    const char *pairs[][2] = {{o->train_images, o->train_labels}, {o->test_images, o->test_labels},
                              {o->inputs, o->labels_file}};
    const char *names[][2] = {{"--train-images", "--train-labels"}, {"--test-images", "--test-labels"},
                              {"--inputs", "--labels"}};
    for (int k = 0; k < 3; k++)
        if (!pairs[k][0] != !pairs[k][1]) {
            fprintf(stderr, "incept: %s needs %s too\n", names[k][!pairs[k][0]], names[k][!!pairs[k][0]]);
            return 2;
        }
    return 0;
}

/* The log of a resumed run: the rows of the epochs it finished before kept (and their loss and
 * accuracy for the plot), those of the epoch it resumes in and after dropped. */
static FILE *resume_log(const char *path, int first_epoch, double *loss, double *top1, int epochs)
{
    FILE *old = fopen(path, "r");
    char *kept = NULL, line[512];
    size_t size = 0;
    FILE *mem = open_memstream(&kept, &size);
    while (old && mem && fgets(line, sizeof line, old)) {
        int epoch = atoi(line);
        if (epoch >= first_epoch)
            continue;
        fputs(line, mem);
        double l, a, lr;
        long step;
        if (epoch >= 1 && epoch <= epochs && sscanf(line, "%*d,%ld,%lf,%lf,%lf", &step, &lr, &l, &a) == 4)
            loss[epoch - 1] = l, top1[epoch - 1] = a;
    }
    if (old)
        fclose(old);
    if (mem)
        fclose(mem);
    /* rewritten as weights and checkpoints are (a temporary renamed over it): a run killed
     * meanwhile leaves the old log whole */
    const char *text = kept && *kept ? kept : "epoch,step,lr,loss,test_top1,test_top5,seconds\n";
    FILE *f = incept_write_atomically(path, text, strlen(text)) == INCEPT_OK ? fopen(path, "a") : NULL;
    free(kept);
    return f;
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

/* What the progress callback needs: the terminal, the log and the per-epoch history for --plot. */
typedef struct {
    const options *o;
    int terminal;
    FILE *log;
    double *epoch_loss, *epoch_top1;
    long bad_reported;
    int failed;
    double last_line; /* when the last progress line went to a file (at most one per 10 s) */
    /* the checkpoints' notes: the data options, then "epoch=E,LOSS,TOP1" per finished epoch
     * (so that a resumed run's plot has the epochs before it) */
    incept_train_options *train_options;
    char *data, *notes;
} reporter;

/* The notes with every epoch finished so far. */
static void update_notes(reporter *r, int epochs_done)
{
    if (!r->data)
        return;
    size_t size = strlen(r->data) + 64 * (size_t)epochs_done + 1, used = strlen(r->data);
    char *notes = malloc(size);
    if (!notes)
        return; /* the older notes stay: only the plot of a resumed run would miss an epoch */
    memcpy(notes, r->data, used + 1);
    for (int e = 0; e < epochs_done; e++)
        used += (size_t)snprintf(notes + used, size - used, "epoch=%d,%.6f,%.6f\n", e + 1,
                                 r->epoch_loss[e], r->epoch_top1[e]);
    free(r->notes);
    r->notes = notes;
    r->train_options->checkpoint_notes = notes;
}

/* The epochs a resumed run's checkpoint recorded, back into the plot's history. */
static void restore_history(const char *notes, double *loss, double *top1, int epochs, int done)
{
    for (const char *line = notes; line && *line;) {
        int e;
        double l, a;
        if (sscanf(line, "epoch=%d,%lf,%lf", &e, &l, &a) == 3 && e >= 1 && e <= epochs && e <= done)
            loss[e - 1] = l, top1[e - 1] = a;
        line = strchr(line, '\n');
        line = line ? line + 1 : NULL;
    }
}

static int report(const incept_train_progress *p, void *user)
{
    reporter *r = user;
    if (!p->end_of_epoch) {
        if (!r->terminal && cli_now() - r->last_line < 10.0)
            return 0;
        r->last_line = cli_now();
        progress(r->terminal, p->epoch, p->epochs, p->step, p->total_steps, p->loss,
                 p->images_per_second, p->eta_seconds);
        return 0;
    }
    if (p->bad_images > r->bad_reported) {
        fprintf(stderr, "%sincept: %ld image(s) could not be decoded and trained as zeros; the last: "
                        "%s\n", r->terminal ? "\n" : "", p->bad_images, p->last_bad_image);
        r->bad_reported = p->bad_images;
    }
    char accuracy[96] = "";
    if (!isnan(p->test_top1))
        snprintf(accuracy, sizeof accuracy, " %s top1 %.2f%% top5 %.2f%%", r->o->holdout ? "held-out" : "test", p->test_top1 * 100,
                 p->test_top5 * 100);
    char waited[64] = ""; /* data-parallel: what communication cost beyond backward */
    if (p->wait_seconds > 0)
        snprintf(waited, sizeof waited, " (%.1f s waiting on gradients)", p->wait_seconds);
    fprintf(stderr, "%sepoch %d/%d step %ld loss %.4f%s %.0f img/s %.0f s%s\n", r->terminal ? "\r" : "",
            p->epoch, p->epochs, p->step, p->loss, accuracy, p->images_per_second, p->seconds, waited);
    if (r->o->profile) {
        double parts = p->data_seconds + p->forward_seconds + p->backward_seconds +
                       p->update_seconds + p->eval_seconds;
        fprintf(stderr, "  epoch %d time: forward %.1f s, backward %.1f s, update %.1f s, data %.1f s, "
                "evaluation %.1f s (%.1f s in all)\n", p->epoch, p->forward_seconds,
                p->backward_seconds, p->update_seconds, p->data_seconds, p->eval_seconds, parts);
    }
    if (r->log) {
        fprintf(r->log, "%d,%ld,%g,%.6f,%.4f,%.4f,%.1f\n", p->epoch, p->step,
                (double)p->learning_rate, p->loss, p->test_top1, p->test_top5, p->seconds);
        fflush(r->log);
    }
    r->epoch_loss[p->epoch - 1] = p->loss;
    r->epoch_top1[p->epoch - 1] = p->test_top1;
    update_notes(r, p->epoch);
    if (r->o->plot && cli_plot(r->o->plot, r->epoch_loss, r->epoch_top1, p->epoch))
        return r->failed = 1;
    return 0;
}

/* One process's part of `incept train` (rank of ranks; 0 of 1 alone): rank 0 alone reports,
 * logs, plots and writes files. */
static int train_run(const options *given, int rank, int ranks)
{
    const int leader = rank == 0;
    options resumed = *given, *o = &resumed;
    char *notes = NULL, *restored = NULL; /* restored: what the data options point into */
    incept_model *m;
    incept_session *s = NULL;
    incept_train_state t;
    memset(&t, 0, sizeof t);
    int rc = 0;
    if (leader && o->plot && cli_plot_check(o->plot)) /* before hours of training, not after an epoch */
        return 1;
    if ((rc = check_pairs(o)))
        return rc;
    if (o->resume) { /* the session comes back with its momentum, average and step */
        if (incept_checkpoint_load(o->resume, &m, &s, &t))
            return cli_fail("resuming");
        if (incept_checkpoint_notes(o->resume, &notes)) {
            incept_session_free(s);
            incept_model_free(m);
            return cli_fail("resuming");
        }
        if (o->steps > 0) { /* train on to another end (the schedule then reads the new one) */
            if (o->steps < t.step) {
                fprintf(stderr, "incept: --steps %ld: the checkpoint is at step %ld already\n", o->steps, t.step);
                incept_session_free(s);
                incept_model_free(m);
                return 2;
            }
            t.total_steps = o->steps;
        }
        if (!has_data_options(o) && notes && (restored = strdup(notes))) {
            restore_data_options(restored, o); /* the data it trained on, unless new data is named */
            char *shown = data_notes(o);
            for (char *c = shown; c && *c; c++)
                *c = *c == '\n' ? ' ' : *c;
            if (leader)
                fprintf(stderr, "incept: resuming with the checkpoint's data: %s\n",
                        shown && *shown ? shown : "the built-in Fashion-MNIST");
            free(shown);
        }
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
        t.label_smoothing = o->label_smoothing;
        t.total_steps = o->steps > 0 ? o->steps : 0; /* 0: the trainer counts o->epochs */
    }
    int c, h, w;
    incept_model_input_dims(m, &c, &h, &w);
    incept_dataset *train = NULL, *test = NULL;
    reporter r = {.o = o, .terminal = isatty(STDERR_FILENO)};
    rc = 1;
    if (cli_load_split(o, 0, &train, c, h, w) || (!o->holdout && cli_load_split(o, 1, &test, c, h, w))) {
        rc = cli_fail("loading the data");
        goto done;
    }
    int n;
    incept_dataset_dims(train, &n, NULL, NULL, NULL, NULL);
    if (o->holdout > 0) { /* the last N images evaluate, the others train */
        incept_dataset *kept = NULL;
        if (o->holdout >= n) {
            fprintf(stderr, "incept: --holdout %ld leaves none of the %d training images to train on\n",
                    o->holdout, n);
            rc = 2;
            goto done;
        }
        if (incept_dataset_split(train, n - (int)o->holdout, (int)o->holdout, &test) ||
            incept_dataset_split(train, 0, n - (int)o->holdout, &kept)) {
            rc = cli_fail("holding out images");
            goto done;
        }
        incept_dataset_free(train);
        train = kept;
        n -= (int)o->holdout;
        if (leader)
            fprintf(stderr, "incept: the last %ld training images held out: the accuracy below is "
                    "theirs, not the test set's\n", o->holdout);
    }
    const int per_epoch = (n + t.batch - 1) / (t.batch > 0 ? t.batch : 1);
    const long total = t.total_steps ? t.total_steps : (long)o->epochs * per_epoch;
    const int epochs = per_epoch > 0 ? (int)(total / per_epoch + (total % per_epoch != 0)) : 0;
    r.epoch_loss = calloc((size_t)epochs + 1, sizeof(double));
    r.epoch_top1 = calloc((size_t)epochs + 1, sizeof(double));
    if (!r.epoch_loss || !r.epoch_top1) {
        fprintf(stderr, "incept: out of memory\n");
        goto done;
    }
    for (int e = 0; e <= epochs; e++)
        r.epoch_loss[e] = r.epoch_top1[e] = NAN;
    /* the epochs a resumed checkpoint has finished (the last one too when the run is over) */
    int done_epochs = (int)(t.step / (per_epoch > 0 ? per_epoch : 1));
    if (t.step >= total && per_epoch > 0 && t.step % per_epoch)
        done_epochs++;
    if (o->resume)
        restore_history(notes, r.epoch_loss, r.epoch_top1, epochs, done_epochs);
    if (!leader)
        resumed.log = resumed.plot = resumed.out = NULL; /* rank 0's to write */
    if (o->log && o->resume) {
        r.log = resume_log(o->log, done_epochs + 1, r.epoch_loss, r.epoch_top1, epochs);
    } else if (o->log && (r.log = fopen(o->log, "w"))) {
        fprintf(r.log, "epoch,step,lr,loss,test_top1,test_top5,seconds\n");
    }
    if (o->log && !r.log) {
        fprintf(stderr, "incept: %s: cannot create the log\n", o->log);
        goto done;
    }
    if (incept_session_set_threads(s, o->threads)) {
        rc = cli_fail("setting up training");
        goto done;
    }
    if (leader)
        fprintf(stderr, "incept: training %s on %d images (%d steps of %d per epoch%s), steps %ld to %ld\n",
                o->resume ? o->resume : o->model ? o->model : "the built-in model", n, per_epoch, t.batch,
                ranks > 1 ? ", shared by the ranks" : "", t.step + 1, total);
    if (leader && ranks > 1)
        fprintf(stderr, "incept: data-parallel over %d MPI ranks of %d thread(s) each\n", ranks, o->threads);
    char *data = r.data = data_notes(o);
    incept_train_options to = {
        .epochs = o->epochs,
        .checkpoint = o->checkpoint,
        .checkpoint_every = o->checkpoint_every,
        .report_every = 10, /* to a file, at most a line per 10 s (report) */
        .test_flips = o->test_flips,
        .checkpoint_notes = data,
        .progress = leader ? report : NULL,
        .user = &r,
        .distributed = ranks > 1,
        .bucket_bytes = (size_t)o->bucket_kb << 10,
        .sync_batch_norm = o->sync_bn,
        .rank_timeout = o->rank_timeout,
    };
    r.last_line = cli_now();
    r.train_options = &to;
    if (data && done_epochs > 0) /* a resumed run's checkpoints keep the epochs before it */
        update_notes(&r, done_epochs < epochs ? done_epochs : epochs);
    incept_status trained = data ? incept_train(s, train, test, &t, &to) : INCEPT_ERR_NOMEM;
    free(data);
    r.data = NULL;
    if (trained) {
        if (r.terminal)
            fputc('\n', stderr);
        rc = cli_fail("training");
        goto done;
    }
    if (r.failed)
        goto done;
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
    free(notes);
    free(restored);
    free(r.notes);
    free(r.epoch_loss);
    free(r.epoch_top1);
    if (r.log)
        fclose(r.log);
    incept_dataset_free(train);
    incept_dataset_free(test);
    incept_session_free(s);
    incept_model_free(m);
    return rc;
}

#if INCEPT_WITH_MPI
#include <mpi.h>
#endif

/* Under mpirun (Open MPI's or a PMI launcher's environment), a rank of a data-parallel job: MPI
 * initialized around the run, and a failing rank stops the whole job. */
int cmd_train(const options *o)
{
#if INCEPT_WITH_MPI
    if (getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMI_SIZE") || getenv("PMIX_RANK")) {
        int rank = 0, ranks = 1;
        if (MPI_Init(NULL, NULL) != MPI_SUCCESS) {
            fprintf(stderr, "incept: MPI_Init failed\n");
            return 1;
        }
        MPI_Comm_rank(MPI_COMM_WORLD, &rank);
        MPI_Comm_size(MPI_COMM_WORLD, &ranks);
        int rc = train_run(o, rank, ranks);
        if (rc && ranks > 1) { /* the others wait on this rank: end them all, naming it */
            fprintf(stderr, "incept: rank %d of %d failed: stopping the job\n", rank, ranks);
            MPI_Abort(MPI_COMM_WORLD, rc);
        }
        MPI_Finalize();
        return rc;
    }
#endif
    return train_run(o, 0, 1);
}

int cli_dataset_samples(const incept_dataset *data, int count, float **out)
{
    int n, c, h, w;
    incept_dataset_dims(data, &n, &c, &h, &w, NULL);
    count = count < n ? count : n;
    const size_t sample = (size_t)c * h * w;
    float *x = malloc(sizeof(float) * sample * (size_t)(count > 0 ? count : 1));
    if (!x) {
        fprintf(stderr, "incept: out of memory for %d samples\n", count);
        return 1;
    }
    for (int i = 0; i < count; i++)
        if (incept_dataset_sample(data, i, 0, 0, x + (size_t)i * sample)) {
            free(x);
            return cli_fail("a sample");
        }
    *out = x;
    return 0;
}

/* The top class of every sample of data under session s into predicted (-1 where an image could
 * not be decoded), the output's values all counting as classes (as evaluation counts them). */
static incept_status predict_all(incept_session *s, const incept_dataset *data, int batch, int *predicted)
{
    int n, c, h, w, classes, oh, ow;
    incept_dataset_dims(data, &n, &c, &h, &w, NULL);
    incept_model_output_dims(incept_session_model(s), &classes, &oh, &ow);
    classes *= oh * ow;
    const size_t sample = (size_t)c * h * w;
    const float *images = incept_dataset_images(data); /* NULL: decoded on demand (a folder) */
    float *logits = malloc(sizeof(float) * (size_t)batch * classes);
    float *decoded = images ? NULL : malloc(sizeof(float) * sample * (size_t)batch);
    incept_status st = logits && (images || decoded) ? INCEPT_OK : INCEPT_ERR_NOMEM;
    for (int at = 0; at < n && !st; at += batch) {
        int count = n - at < batch ? n - at : batch;
        for (int i = 0; i < count && !images; i++)
            if (incept_dataset_sample(data, at + i, 0, 0, decoded + (size_t)i * sample))
                memset(decoded + (size_t)i * sample, 0, sizeof(float) * sample), predicted[at + i] = -2;
        if ((st = incept_session_forward(s, images ? images + (size_t)at * sample : decoded, count, logits)))
            break;
        for (int i = 0; i < count; i++) {
            const float *row = logits + (size_t)i * classes;
            int best = 0;
            for (int k = 1; k < classes; k++)
                best = row[k] > row[best] ? k : best;
            predicted[at + i] = !images && predicted[at + i] == -2 ? -1 : best;
        }
    }
    free(logits);
    free(decoded);
    return st;
}

/* eval --precision int8 or bf16: int8 calibrated on --calib, else on up to 500 images of
 * Fashion-MNIST's training split when the test set is its default one, else on the test images
 * themselves (saying so); the fp32 accuracy beside it and how often the two predict the same
 * class. */
static int eval_reduced(const options *o, incept_model *m, incept_session *s, const incept_dataset *data)
{
    const char *precision = o->precision;
    const int is_int8 = strcmp(precision, "int8") == 0;
    int n, c, h, w, rc = 1;
    incept_dataset_dims(data, &n, &c, &h, &w, NULL);
    int *fp32 = calloc((size_t)n + 1, sizeof(int)), *low = calloc((size_t)n + 1, sizeof(int));
    incept_dataset *train = NULL;
    float *calib = NULL;
    double top1, top5, q1, q5;
    int evaluated, count = 0;
    if (!fp32 || !low || incept_session_evaluate_flips(s, data, o->batch, o->test_flips, &top1, &top5, &evaluated) ||
        predict_all(s, data, o->batch, fp32)) {
        rc = cli_fail("evaluation in fp32");
        goto done;
    }
    const int fashion_default = !o->test_images && !o->test_dir && !o->inputs;
    if (!is_int8)
        rc = 0; /* bf16 needs no calibration */
    else if (!o->calib && fashion_default && !cli_load_split(o, 0, &train, c, h, w) && train)
        rc = cli_dataset_samples(train, 500, &calib);
    else if (!o->calib)
        rc = cli_dataset_samples(data, 500, &calib);
    else
        rc = 0;
    if (rc)
        goto done;
    incept_dataset_dims(train ? train : data, &count, NULL, NULL, NULL, NULL);
    count = count < 500 ? count : 500;
    const char *name = train ? "Fashion-MNIST training images" : "test images themselves (--calib X.bin gives others)";
    if ((rc = cli_set_precision(o, m, s, calib, count, name)))
        goto done;
    rc = 1;
    if (incept_session_evaluate_flips(s, data, o->batch, o->test_flips, &q1, &q5, &evaluated) ||
        predict_all(s, data, o->batch, low)) {
        rc = cli_fail(is_int8 ? "evaluation in int8" : "evaluation in reduced precision");
        goto done;
    }
    int same = 0, both = 0;
    for (int i = 0; i < n; i++)
        if (fp32[i] >= 0)
            both++, same += fp32[i] == low[i];
    const double agreement = (double)same / (both > 0 ? both : 1);
    fprintf(stderr, "incept: fp32 top1=%.4f top5=%.4f; %s agrees with it on %.2f%% of the images\n", top1,
            top5, precision, 100.0 * agreement);
    printf("eval: top1=%.4f top5=%.4f n=%d precision=%s fp32_top1=%.4f agreement=%.4f\n", q1, q5, evaluated,
           precision, top1, agreement);
    rc = 0;
done:
    incept_dataset_free(train);
    free(calib);
    free(fp32);
    free(low);
    return rc;
}

int cmd_eval(const options *o)
{
    incept_model *m;
    incept_session *s = NULL;
    int rc = check_pairs(o);
    if (rc || (rc = cli_load_or(o, "fashion", &m)))
        return rc;
    size_t len = o->model ? strlen(o->model) : 0;
    if (!o->weights && !(len > 5 && !strcmp(o->model + len - 5, ".onnx")))
        fprintf(stderr, "incept: warning: %s has random weights (a description evaluated without "
                        "--weights): its accuracy means nothing\n", o->model ? o->model : "the built-in model");
    int c, h, w;
    incept_model_input_dims(m, &c, &h, &w);
    incept_dataset *data = NULL;
    double top1, top5;
    int n = 0, all = 0;
    incept_status st = o->inputs ? incept_dataset_load_raw(o->inputs, o->labels_file, c, h, w, &data)
                                 : cli_load_split(o, 1, &data, c, h, w);
    if (!st && !data) {
        fprintf(stderr, "incept: eval needs test data (--test-images/--test-labels, --test-dir or "
                        "--inputs/--labels)\n");
        incept_model_free(m);
        return 2;
    }
    const int reduced = o->precision && strcmp(o->precision, "fp32") != 0;
    if (st || incept_session_new(m, &s) || incept_session_set_threads(s, o->threads)) {
        rc = cli_fail("evaluation");
    } else if (reduced) {
        rc = eval_reduced(o, m, s, data);
    } else if (incept_session_evaluate_flips(s, data, o->batch, o->test_flips, &top1, &top5, &n)) {
        rc = cli_fail("evaluation");
    } else {
        incept_dataset_dims(data, &all, NULL, NULL, NULL, NULL);
        if (n < all)
            fprintf(stderr, "incept: %d image(s) could not be decoded and were left out\n", all - n);
        printf("eval: top1=%.4f top5=%.4f n=%d%s\n", top1, top5, n, o->test_flips ? " flips=1" : "");
    }
    incept_dataset_free(data);
    incept_session_free(s);
    incept_model_free(m);
    return rc;
}
