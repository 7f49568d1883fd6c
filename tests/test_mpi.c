/* test_mpi.c — data-parallel training (issue "Scale out"): `mpirun -np N incept train` with 2 and
 * 3 ranks on localhost against one process with the same global batch, on a model without batch
 * norm or dropout: every epoch's loss and the final weights within 1e-5 (float sums differ only
 * in order), the test accuracy (evaluated in shares across the ranks) the same; and a checkpoint
 * of 2 ranks trained on in 3. Skipped, saying why, in a build without MPI or where mpirun is missing. */
#define _DEFAULT_SOURCE /* usleep, kill */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "incept.h"
#include "test.h"

static const char *cli_path(void)
{
    const char *exe = getenv("INCEPT_CLI");
    return exe ? exe : "build/incept";
}

/* Runs `[mpirun -np ranks] incept ARGS`; returns the exit code. */
static int run(int ranks, const char *args)
{
    char cmd[8192];
    if (ranks > 1)
        /* a container's kernel may refuse Open MPI's cross-memory attach: plain copies instead */
        snprintf(cmd, sizeof cmd, "OMPI_MCA_btl_vader_single_copy_mechanism=none mpirun %s--oversubscribe "
                 "-np %d %s %s > /tmp/incept_mpi.out 2>&1 </dev/null", geteuid() == 0 ? "--allow-run-as-root " : "",
                 ranks, cli_path(), args);
    else
        snprintf(cmd, sizeof cmd, "%s %s > /tmp/incept_mpi.out 2>&1 </dev/null", cli_path(), args);
    int status = system(cmd);
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    if (code)
        system("cat /tmp/incept_mpi.out");
    return code;
}

/* The loss and test top-1 columns of a --log CSV, up to max epochs; returns how many. */
static int read_losses(const char *path, double *loss, double *top1, int max)
{
    FILE *f = fopen(path, "r");
    char line[512];
    int n = 0;
    while (f && n < max && fgets(line, sizeof line, f)) {
        int epoch;
        long step;
        double lr, l, a;
        if (sscanf(line, "%d,%ld,%lf,%lf,%lf", &epoch, &step, &lr, &l, &a) == 5)
            loss[n] = l, top1[n++] = a;
    }
    if (f)
        fclose(f);
    return n;
}

/* max |a - b| / max |a| over every parameter of two weights files of the model. */
static double weights_difference(const char *model, const char *a, const char *b)
{
    incept_model *ma = NULL, *mb = NULL;
    double worst = INFINITY;
    if (incept_model_load(model, a, &ma) == INCEPT_OK && incept_model_load(model, b, &mb) == INCEPT_OK) {
        double diff = 0.0, scale = 0.0;
        for (int p = 0; p < incept_model_param_count(ma); p++) {
            int nd, dims[4];
            float *x, *y;
            incept_model_param(ma, p, NULL, &nd, dims, &x);
            incept_model_param(mb, p, NULL, NULL, NULL, &y);
            size_t count = 1;
            for (int k = 0; k < nd; k++)
                count *= (size_t)dims[k];
            for (size_t i = 0; i < count; i++) {
                diff = fmax(diff, fabs((double)x[i] - y[i]));
                scale = fmax(scale, fabs((double)x[i]));
            }
        }
        worst = diff / (scale > 0 ? scale : 1.0);
    }
    incept_model_free(ma);
    incept_model_free(mb);
    return worst;
}

/* PATH_images and PATH_labels: n 8x8 idx images of a smooth pattern, 4 classes. */
static void write_idx(const char *path, int n, int split)
{
    unsigned char images[16 + 40 * 64] = {0, 0, 8, 3, 0, 0, 0, (unsigned char)n, 0, 0, 0, 8, 0, 0, 0, 8};
    unsigned char labels[8 + 40] = {0, 0, 8, 1, 0, 0, 0, (unsigned char)n};
    for (int i = 0; i < n * 64; i++)
        images[16 + i] = (unsigned char)(127.5 + 120 * sin(0.37 * i + split));
    for (int i = 0; i < n; i++)
        labels[8 + i] = (unsigned char)((i + split) % 4);
    char name[96];
    snprintf(name, sizeof name, "%s_images", path);
    FILE *f = fopen(name, "wb");
    fwrite(images, 16 + (size_t)n * 64, 1, f);
    fclose(f);
    snprintf(name, sizeof name, "%s_labels", path);
    f = fopen(name, "wb");
    fwrite(labels, 8 + (size_t)n, 1, f);
    fclose(f);
}

/* Synchronized batch norm: 2 and 3 ranks against one process over 21 steps of a model with
 * batch norm after every convolution (the epoch's short last batch leaving a rank of 3 with
 * none), and per-rank statistics, which differ. */
static void batch_norm_ranks(void)
{
    const char *model = "/tmp/incept_mpi_bn.incept";
    FILE *f = fopen(model, "w");
    fputs("input x 1 8 8\nconv c 6 3x3 pad 1 bn relu\ninception m 2 2 3 1 2 2 bn\nglobalavgpool g\n"
          "flatten f\nfc out 4\n", f);
    fclose(f);
    const char *common = "--train-images /tmp/incept_mpi_bn_images --train-labels /tmp/incept_mpi_bn_labels "
                         "--test-images /tmp/incept_mpi_test_images --test-labels /tmp/incept_mpi_test_labels "
                         "--batch 12 --steps 21 --lr 0.05 --seed 3 --threads 1 --crop-pad 1";
    char args[2048];
    double one[8], many[8], top1[8];
    snprintf(args, sizeof args, "train %s %s --log /tmp/incept_mpi_bn1.csv --out /tmp/incept_mpi_bn1.w",
             model, common);
    CHECK_MSG(run(1, args) == 0, "%s", "one process trains the batch-norm model");
    int epochs = read_losses("/tmp/incept_mpi_bn1.csv", one, top1, 8);
    for (int ranks = 2; ranks <= 3; ranks++) {
        /* 1 KB buckets on 3 ranks: the rank without samples must make the same allreduces */
        snprintf(args, sizeof args, "train %s %s --sync-bn --log /tmp/incept_mpi_bn2.csv --out "
                 "/tmp/incept_mpi_bn2.w%s", model, common, ranks == 3 ? " --bucket-kb 1" : "");
        CHECK_MSG(run(ranks, args) == 0, "%d ranks train with --sync-bn", ranks);
        int n = read_losses("/tmp/incept_mpi_bn2.csv", many, top1, 8);
        double worst = 0.0;
        for (int e = 0; e < n && e < epochs; e++)
            worst = fmax(worst, fabs(many[e] - one[e]) / fabs(one[e]));
        double w = weights_difference(model, "/tmp/incept_mpi_bn1.w", "/tmp/incept_mpi_bn2.w");
        printf("test_mpi: batch norm synchronized over %d ranks against one process over 21 steps: "
               "losses within %.2g, weights and running statistics within %.2g\n", ranks, worst, w);
        CHECK_MSG(epochs == 6 && n == epochs && worst < 1e-5, "%d ranks: %d of %d epochs, losses within %g",
                  ranks, n, epochs, worst);
        CHECK_MSG(w < 1e-5, "%d ranks, synchronized batch norm: weights within %g", ranks, w);
    }
    snprintf(args, sizeof args, "train %s %s --out /tmp/incept_mpi_bn2.w --bucket-kb 1", model, common);
    CHECK_MSG(run(3, args) == 0, "%s", "3 ranks train with per-rank statistics");
    double w = weights_difference(model, "/tmp/incept_mpi_bn1.w", "/tmp/incept_mpi_bn2.w");
    printf("test_mpi: per-rank batch norm statistics over 3 ranks: weights %.2g from one process's\n", w);
    CHECK_MSG(w > 1e-4, "per-rank statistics are a different computation (%g)", w);
    unlink(model), unlink("/tmp/incept_mpi_bn1.csv"), unlink("/tmp/incept_mpi_bn2.csv");
    unlink("/tmp/incept_mpi_bn1.w"), unlink("/tmp/incept_mpi_bn2.w");
    unlink("/tmp/incept_mpi_bn_images"), unlink("/tmp/incept_mpi_bn_labels");
}

static double now_seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* The process of rank `rank` whose command line holds `marker` (Open MPI tells each its rank in
 * OMPI_COMM_WORLD_RANK), or -1. */
static pid_t find_rank(const char *marker, int rank)
{
    DIR *proc = opendir("/proc");
    struct dirent *e;
    pid_t found = -1;
    char want[64];
    int want_len = snprintf(want, sizeof want, "OMPI_COMM_WORLD_RANK=%d", rank) + 1;
    while (proc && found < 0 && (e = readdir(proc))) {
        char path[300], text[65536];
        pid_t pid = (pid_t)atoi(e->d_name);
        if (pid <= 0)
            continue;
        const char *files[2] = {"cmdline", "environ"};
        size_t len[2] = {0, 0};
        int match[2] = {0, 0};
        for (int k = 0; k < 2; k++) {
            snprintf(path, sizeof path, "/proc/%d/%s", (int)pid, files[k]);
            FILE *f = fopen(path, "rb");
            if (!f)
                break;
            len[k] = fread(text, 1, sizeof text - 1, f);
            fclose(f);
            for (size_t i = 0; i < len[k]; i += strlen(text + i) + 1) /* NUL-separated strings */
                match[k] |= k == 0 ? strstr(text + i, marker) != NULL && strstr(text, "mpirun") == NULL
                                   : memcmp(text + i, want, (size_t)want_len) == 0;
        }
        if (match[0] && match[1])
            found = pid;
    }
    if (proc)
        closedir(proc);
    return found;
}

/* A job of 3 ranks whose rank 1 is stopped (SIGSTOP: hung) or killed (SIGKILL: died) after the
 * first checkpoint: the job ends within a bounded time, saying which rank; the checkpoint is
 * whole and a run resumed from it on 2 ranks finishes. */
static void rank_failure(const char *model, const char *common, int sig)
{
    const char *ckpt = "/tmp/incept_mpi_fail.ckpt";
    unlink(ckpt);
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "OMPI_MCA_btl_vader_single_copy_mechanism=none exec mpirun %s--oversubscribe "
             "-np 3 %s train %s %s --steps 1000000 --checkpoint %s --checkpoint-every 20 --rank-timeout 3 "
             "> /tmp/incept_mpi_fail.out 2>&1 </dev/null", geteuid() == 0 ? "--allow-run-as-root " : "",
             cli_path(), model, common, ckpt);
    pid_t job = fork();
    if (job == 0) {
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    double started = now_seconds();
    pid_t victim = -1;
    while (now_seconds() - started < 60 && (access(ckpt, F_OK) != 0 || victim < 0)) {
        victim = find_rank(ckpt, 1);
        usleep(20000);
    }
    CHECK_MSG(victim > 0, "%s", "found rank 1 after the first checkpoint");
    if (victim > 0)
        kill(victim, sig);
    double signalled = now_seconds();
    int status = 0;
    pid_t ended = 0;
    while ((ended = waitpid(job, &status, WNOHANG)) == 0 && now_seconds() - signalled < 60)
        usleep(20000);
    double took = now_seconds() - signalled;
    if (ended == 0) { /* did not stop: end it, and fail */
        kill(job, SIGKILL);
        waitpid(job, &status, 0);
    }
    if (victim > 0)
        kill(victim, SIGKILL); /* the stopped rank, if the job left it */
    FILE *f = fopen("/tmp/incept_mpi_fail.out", "r");
    char out[65536] = "";
    size_t got = f ? fread(out, 1, sizeof out - 1, f) : 0;
    out[got] = '\0';
    if (f)
        fclose(f);
    const char *says = sig == SIGSTOP ? "rank 1 (it " : "rank 1";
    printf("test_mpi: rank 1 %s: the job ended %.1f s later, exit status %d\n",
           sig == SIGSTOP ? "stopped (hung)" : "killed", took, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    CHECK_MSG(ended == job && took < 30 && !(WIFEXITED(status) && WEXITSTATUS(status) == 0),
              "the job ends, failing, within 30 s of rank 1's %s (%.1f s)", sig == SIGSTOP ? "hang" : "death", took);
    const char *line = strstr(out, says);
    CHECK_MSG(line != NULL, "the job's output names rank 1:\n%s", out);
    while (line && line > out && line[-1] != '\n')
        line--;
    if (line)
        printf("test_mpi: it said: %.*s\n", (int)strcspn(line, "\n"), line);
    if (sig == SIGSTOP)
        CHECK_MSG(strstr(out, "stopped answering") != NULL, "%s", "it says rank 1 stopped answering");
    incept_model *m = NULL;
    incept_session *s = NULL;
    incept_train_state t;
    int whole = incept_checkpoint_load(ckpt, &m, &s, &t) == INCEPT_OK;
    CHECK_MSG(whole && t.step > 0 && t.step % 20 == 0, "the last checkpoint is whole (step %ld)", whole ? t.step : -1L);
    incept_session_free(s);
    incept_model_free(m);
    if (whole) {
        char args[512];
        snprintf(args, sizeof args, "train --resume %s --steps %ld --threads 1", ckpt, t.step + 7);
        CHECK_MSG(run(2, args) == 0, "%s", "a run resumed from it on 2 ranks finishes");
    }
    unlink(ckpt), unlink("/tmp/incept_mpi_fail.out");
}

int main(void)
{
#if !INCEPT_WITH_MPI
    printf("test_mpi: skipped: this build has no MPI (Debian: libopenmpi-dev)\n");
    return 77;
#endif
    if (!INCEPT_WITH_DATASETS) {
        printf("test_mpi: skipped: this build reads no dataset files (INCEPT_WITH_DATASETS=OFF)\n");
        return 77;
    }
    if (system("command -v mpirun > /dev/null 2>&1") != 0) {
        printf("test_mpi: skipped: mpirun is not installed (Debian: openmpi-bin)\n");
        return 77;
    }
    const char *model = "/tmp/incept_mpi.incept";
    FILE *f = fopen(model, "w");
    fputs("input x 1 8 8\nconv c 6 3x3 pad 1 relu\ninception m 2 2 3 1 2 2\nglobalavgpool g\n"
          "flatten f\nfc out 4\n", f);
    fclose(f);
    /* idx files (a train and a test split, 36 and 17 images of 8x8, and 38 for batch norm: its
     * last batch of 2 leaves a rank of 3 without samples): the test set is evaluated in shares
     * across the ranks */
    write_idx("/tmp/incept_mpi_train", 36, 0);
    write_idx("/tmp/incept_mpi_test", 17, 1);
    write_idx("/tmp/incept_mpi_bn", 38, 0);
    const char *common = "--train-images /tmp/incept_mpi_train_images --train-labels /tmp/incept_mpi_train_labels "
                         "--test-images /tmp/incept_mpi_test_images --test-labels /tmp/incept_mpi_test_labels "
                         "--batch 12 --steps 21 --lr 0.1 --seed 5 --threads 1 --crop-pad 1"; /* crops and flips */
    char args[2048], out[64], log[64];
    double one[8], many[8], one_top1[8], many_top1[8];
    snprintf(args, sizeof args, "train %s %s --log /tmp/incept_mpi_1.csv --out /tmp/incept_mpi_1.w", model,
             common);
    CHECK_MSG(run(1, args) == 0, "%s", "one process trains");
    int epochs = read_losses("/tmp/incept_mpi_1.csv", one, one_top1, 8);
    CHECK_MSG(epochs == 7, "%d epochs logged", epochs);
    for (int ranks = 2; ranks <= 3; ranks++) {
        snprintf(out, sizeof out, "/tmp/incept_mpi_%d.w", ranks);
        snprintf(log, sizeof log, "/tmp/incept_mpi_%d.csv", ranks);
        /* 1 KB buckets: several allreduces in flight while backward goes on */
        snprintf(args, sizeof args, "train %s %s --log %s --out %s%s", model, common, log, out,
                 ranks == 3 ? " --bucket-kb 1" : "");
        CHECK_MSG(run(ranks, args) == 0, "%d ranks train", ranks);
        int n = read_losses(log, many, many_top1, 8), same_accuracy = 1;
        double worst = 0.0;
        for (int e = 0; e < n && e < epochs; e++) {
            worst = fmax(worst, fabs(many[e] - one[e]) / fabs(one[e]));
            same_accuracy &= fabs(many_top1[e] - one_top1[e]) < 1e-9;
        }
        CHECK_MSG(same_accuracy, "%d ranks: the sharded evaluation's accuracy equals one process's", ranks);
        double w = weights_difference(model, "/tmp/incept_mpi_1.w", out);
        printf("test_mpi: %d ranks against one process over 21 steps: losses within %.2g, weights within "
               "%.2g (relative)\n", ranks, worst, w);
        CHECK_MSG(n == epochs && worst < 1e-5, "%d ranks: %d epochs, losses within %g", ranks, n, worst);
        CHECK_MSG(w < 1e-5, "%d ranks: weights within %g", ranks, w);
    }
    /* a checkpoint of 2 ranks trains on in 3 (the global batch and position are the checkpoint's;
     * a constant rate, so stopping at 9 of 21 changes nothing): as one process's 21 steps */
    unlink("/tmp/incept_mpi.ckpt");
    snprintf(args, sizeof args, "train %s %s --steps 9 --checkpoint /tmp/incept_mpi.ckpt", model, common);
    CHECK(run(2, args) == 0);
    CHECK(run(3, "train --resume /tmp/incept_mpi.ckpt --steps 21 --threads 1 --out /tmp/incept_mpi_r.w") == 0);
    double w = weights_difference(model, "/tmp/incept_mpi_1.w", "/tmp/incept_mpi_r.w");
    printf("test_mpi: 9 steps on 2 ranks, resumed on 3 to step 21: weights within %.2g of one process\n", w);
    CHECK_MSG(w < 1e-5, "resumed on another rank count: within %g", w);
    unlink("/tmp/incept_mpi.ckpt"), unlink("/tmp/incept_mpi_r.w");
    for (int k = 1; k <= 3; k++) {
        snprintf(out, sizeof out, "/tmp/incept_mpi_%d.w", k);
        snprintf(log, sizeof log, "/tmp/incept_mpi_%d.csv", k);
        unlink(out), unlink(log);
    }
    /* 38 images: each epoch's short last batch leaves rank 0 of 3 without samples; in 1 KB
     * buckets it must still make the allreduces the others make, bucket for bucket */
    const char *short_batch = "--train-images /tmp/incept_mpi_bn_images --train-labels /tmp/incept_mpi_bn_labels "
                              "--test-images /tmp/incept_mpi_test_images --test-labels /tmp/incept_mpi_test_labels "
                              "--batch 12 --steps 8 --lr 0.1 --seed 5 --threads 1 --no-augment";
    const char *wide = "/tmp/incept_mpi_wide.incept"; /* layers of 9 KB: several buckets each */
    f = fopen(wide, "w");
    fputs("input x 1 8 8\nconv a 16 3x3 pad 1 relu\nconv b 16 3x3 pad 1 relu\nconv c 16 3x3 pad 1 relu\n"
          "globalavgpool g\nflatten f\nfc out 4\n", f);
    fclose(f);
    snprintf(args, sizeof args, "train %s %s --out /tmp/incept_mpi_s1.w", wide, short_batch);
    CHECK(run(1, args) == 0);
    snprintf(args, sizeof args, "train %s %s --out /tmp/incept_mpi_s3.w --bucket-kb 1", wide, short_batch);
    CHECK_MSG(run(3, args) == 0, "%s", "3 ranks, one of them without samples in some steps, 1 KB buckets");
    w = weights_difference(wide, "/tmp/incept_mpi_s1.w", "/tmp/incept_mpi_s3.w");
    unlink(wide);
    printf("test_mpi: 3 ranks in 1 KB buckets, a rank without samples in the short batches: weights within "
           "%.2g of one process\n", w);
    CHECK_MSG(w < 1e-5, "within %g", w);
    unlink("/tmp/incept_mpi_s1.w"), unlink("/tmp/incept_mpi_s3.w");
    batch_norm_ranks();
    rank_failure(model, common, SIGSTOP);
    rank_failure(model, common, SIGKILL);
    unlink(model), unlink("/tmp/incept_mpi.out");
    unlink("/tmp/incept_mpi_train_images"), unlink("/tmp/incept_mpi_train_labels");
    unlink("/tmp/incept_mpi_test_images"), unlink("/tmp/incept_mpi_test_labels");
    return test_summary("test_mpi");
}
