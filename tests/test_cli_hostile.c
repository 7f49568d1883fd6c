/* test_cli_hostile.c — hostile files through the command-line tool (issue "Robustness"): every
 * input the fuzz harnesses keep (their seeds and the inputs they once failed on) and files made
 * here to claim what they do not hold (a PNG and a JPEG of 30000x30000, a gzip'd idx inflating
 * a thousandfold, idx sizes past 2^64, a truncated ONNX file, a checkpoint cut short, a FIFO named
 * as a model) go through the CLI command that reads their kind. Each must exit 0, 1 or 2 (never
 * a signal), within 10 s, below 1 GB of resident memory, and name the file when it fails (on
 * stderr, or for classify, which carries on past a bad image, in that image's line). */
#define _DEFAULT_SOURCE /* wait4 */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "test.h"

#define LIMIT_SECONDS 10.0
#define LIMIT_RSS_KB (1024L * 1024L)

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int checked, worst_rss_kb;
static double worst_seconds;

/* Runs `incept ARGS` (ARGS' %s replaced by path) and checks how it ends. */
static void run_on(const char *args_format, const char *path)
{
    const char *exe = getenv("INCEPT_CLI");
    char args[8192], cmd[9000];
    snprintf(args, sizeof args, args_format, path, path, path);
    snprintf(cmd, sizeof cmd, "exec %s %s >/tmp/incept_hostile.err 2>&1 </dev/null",
             exe ? exe : "build/incept", args);
    double started = now();
    pid_t pid = fork();
    if (pid == 0) {
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    int status = 0, done = 0;
    struct rusage usage;
    memset(&usage, 0, sizeof usage);
    while (!done) {
        pid_t got = wait4(pid, &status, WNOHANG, &usage);
        if (got == pid) {
            done = 1;
        } else if (now() - started > LIMIT_SECONDS + 20.0) { /* hung: stop it, and fail */
            kill(pid, SIGKILL);
            wait4(pid, &status, 0, &usage);
            done = 1;
        } else {
            struct timespec pause = {0, 2000000};
            nanosleep(&pause, NULL);
        }
    }
    double seconds = now() - started;
    char err[4096] = "";
    FILE *f = fopen("/tmp/incept_hostile.err", "r");
    if (f) {
        size_t n = fread(err, 1, sizeof err - 1, f);
        err[n] = '\0';
        fclose(f);
    }
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    checked++;
    if (usage.ru_maxrss > worst_rss_kb)
        worst_rss_kb = (int)usage.ru_maxrss;
    if (seconds > worst_seconds)
        worst_seconds = seconds;
    CHECK_MSG(WIFEXITED(status), "incept %s: killed by signal %d", args,
              WIFSIGNALED(status) ? WTERMSIG(status) : 0);
    CHECK_MSG(code >= 0 && code <= 2, "incept %s: exit code %d: %s", args, code, err);
    CHECK_MSG(code == 0 || strstr(err, base), "incept %s: exit %d, message does not name %s: %s", args,
              code, base, err);
    CHECK_MSG(seconds <= LIMIT_SECONDS, "incept %s: %.1f s", args, seconds);
    CHECK_MSG(usage.ru_maxrss <= LIMIT_RSS_KB, "incept %s: %ld KB resident", args, (long)usage.ru_maxrss);
}

/* Every file of a folder (if it exists) through the command. */
static void run_folder(const char *args_format, const char *dir, const char *skip_suffix)
{
    DIR *d = opendir(dir);
    for (struct dirent *e; d && (e = readdir(d));) {
        size_t n = strlen(e->d_name), k = skip_suffix ? strlen(skip_suffix) : 0;
        if (e->d_name[0] == '.' || strcmp(e->d_name, "README") == 0 ||
            (k && n >= k && strcmp(e->d_name + n - k, skip_suffix) == 0))
            continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        run_on(args_format, path);
    }
    if (d)
        closedir(d);
}

static void write_file(const char *path, const void *data, size_t size)
{
    FILE *f = fopen(path, "wb");
    if (f) {
        fwrite(data, 1, size, f);
        fclose(f);
    }
}

/* A copy of file `from` with `length` bytes (0: all) and bytes [at, at + n) replaced. */
static void edited_copy(const char *from, const char *to, size_t length, size_t at,
                        const unsigned char *bytes, size_t n)
{
    static unsigned char buf[1 << 20];
    FILE *f = fopen(from, "rb");
    size_t size = f ? fread(buf, 1, sizeof buf, f) : 0;
    if (f)
        fclose(f);
    if (length && length < size)
        size = length;
    if (n && at + n <= size)
        memcpy(buf + at, bytes, n);
    write_file(to, buf, size);
}

static void put_be32(unsigned char *p, unsigned v)
{
    p[0] = (unsigned char)(v >> 24), p[1] = (unsigned char)(v >> 16), p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

static void hostile_files(void)
{
    /* a PNG whose header claims 30000x30000 (CRC fixed so that libpng reads on) */
    static unsigned char png[4096];
    FILE *f = fopen("fuzz/corpus/image/rgb.png", "rb");
    size_t n = f ? fread(png, 1, sizeof png, f) : 0;
    if (f)
        fclose(f);
    CHECK(n > 33);
    put_be32(png + 16, 30000), put_be32(png + 20, 30000);
    put_be32(png + 29, (unsigned)crc32(0L, png + 12, 17));
    write_file("/tmp/incept_hostile_huge.png", png, n);
    run_on("classify models/tiny.incept %s", "/tmp/incept_hostile_huge.png");
    /* a JPEG whose frame header claims 30000x30000 */
    static unsigned char jpg[4096];
    f = fopen("fuzz/corpus/image/baseline.jpg", "rb");
    n = f ? fread(jpg, 1, sizeof jpg, f) : 0;
    if (f)
        fclose(f);
    for (size_t i = 0; i + 9 < n; i++)
        if (jpg[i] == 0xff && jpg[i + 1] == 0xc0) {
            jpg[i + 5] = 30000 >> 8, jpg[i + 6] = 30000 & 255, jpg[i + 7] = 30000 >> 8, jpg[i + 8] = 30000 & 255;
            break;
        }
    write_file("/tmp/incept_hostile_huge.jpg", jpg, n / 2); /* truncated too */
    run_on("classify models/tiny.incept %s", "/tmp/incept_hostile_huge.jpg");
    /* a gzip'd idx of 256 MiB of zeros (about 250 KB compressed) */
    gzFile g = gzopen("/tmp/incept_hostile_bomb.gz", "wb9");
    const unsigned char header[16] = {0, 0, 8, 3, 0, 1, 0, 0, 0, 0, 0x10, 0, 0, 0, 0x10, 0};
    static unsigned char zeros[1 << 20];
    if (g) {
        gzwrite(g, header, sizeof header);
        for (int i = 0; i < 256; i++)
            gzwrite(g, zeros, sizeof zeros);
        gzclose(g);
    }
    const unsigned char labels[9] = {0, 0, 8, 1, 0, 1, 0, 0, 0};
    write_file("/tmp/incept_hostile_labels.idx", labels, sizeof labels);
    run_on("eval models/fashion.incept --test-images %s --test-labels /tmp/incept_hostile_labels.idx",
           "/tmp/incept_hostile_bomb.gz");
    /* idx sizes whose product passes 2^64 */
    const unsigned char wraps[17] = {0, 0, 8, 3, 0, 1, 0, 0, 0, 1, 0, 0, 0xff, 0xff, 0xff, 0xff, 7};
    write_file("/tmp/incept_hostile_wraps.idx", wraps, sizeof wraps);
    run_on("eval models/fashion.incept --test-images %s --test-labels /tmp/incept_hostile_labels.idx",
           "/tmp/incept_hostile_wraps.idx");
    /* a truncated ONNX file, one with flipped bytes, and a FIFO named as a model */
    edited_copy("tests/fixtures/opset13_same_upper.onnx", "/tmp/incept_hostile_cut.onnx", 200, 0, NULL, 0);
    run_on("summary %s", "/tmp/incept_hostile_cut.onnx");
    const unsigned char garbage[8] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x0f};
    edited_copy("tests/fixtures/opset13_same_upper.onnx", "/tmp/incept_hostile_flip.onnx", 0, 40, garbage, 8);
    run_on("bench %s --batch 1 --seconds 1", "/tmp/incept_hostile_flip.onnx");
    unlink("/tmp/incept_hostile_fifo.onnx");
    if (mkfifo("/tmp/incept_hostile_fifo.onnx", 0600) == 0)
        run_on("summary %s", "/tmp/incept_hostile_fifo.onnx");
    /* a checkpoint cut short */
    edited_copy("fuzz/corpus/checkpoint/seed.ckpt", "/tmp/incept_hostile_cut.ckpt", 100, 0, NULL, 0);
    run_on("train --resume %s --steps 1", "/tmp/incept_hostile_cut.ckpt");
    /* experiment results that are not: a missing field, a top-1 past 1, numbers past 2^63,
     * nine families, bytes that are no text; and a stem for grow that is no description */
    const char *results[] = {
        "family,model,parameters,multiply_adds,ms,top1\nhand,a,1,2,3\n",
        "hand,a,1,1000,0.5,7\n",
        "hand,a,99999999999999999999999,99999999999999999999999,1,0.5\n",
        ("a,m,1,9,1,0.5\nb,m,1,9,1,0.5\nc,m,1,9,1,0.5\nd,m,1,9,1,0.5\ne,m,1,9,1,0.5\n"
         "f,m,1,9,1,0.5\ng,m,1,9,1,0.5\nh,m,1,9,1,0.5\ni,m,1,9,1,0.5\n"),
        "\x01\xff\xfe,\x80,,,,\n",
    };
    for (size_t i = 0; i < sizeof results / sizeof results[0]; i++) {
        write_file("/tmp/incept_hostile_results.csv", results[i], strlen(results[i]));
        run_on("pareto %s --out /tmp/incept_hostile_pareto.png", "/tmp/incept_hostile_results.csv");
    }
    write_file("/tmp/incept_hostile_stem.incept", "\x7f" "ELF\x02\x01", 6);
    run_on("grow %s --steps 1", "/tmp/incept_hostile_stem.incept");
    unlink("/tmp/incept_hostile_results.csv"), unlink("/tmp/incept_hostile_pareto.png");
    unlink("/tmp/incept_hostile_stem.incept");
    unlink("/tmp/incept_hostile_huge.png"), unlink("/tmp/incept_hostile_huge.jpg");
    unlink("/tmp/incept_hostile_bomb.gz"), unlink("/tmp/incept_hostile_labels.idx");
    unlink("/tmp/incept_hostile_wraps.idx"), unlink("/tmp/incept_hostile_cut.onnx");
    unlink("/tmp/incept_hostile_flip.onnx"), unlink("/tmp/incept_hostile_fifo.onnx");
    unlink("/tmp/incept_hostile_cut.ckpt"), unlink("/tmp/incept_hostile.err");
    unlink("/tmp/incept_hostile_out.pb");
}

int main(void)
{
    /* what the fuzz harnesses keep, each through the command that reads its kind */
    const char *onnx = "bench %s --batch 1 --seconds 1";
    run_folder(onnx, "fuzz/corpus/onnx", NULL);
    run_folder(onnx, "tests/fuzz_regressions/onnx", NULL);
    run_folder("summary %s", "fuzz/corpus/description", NULL);
    run_folder("summary %s", "tests/fuzz_regressions/description", NULL);
    run_folder("summary models/tiny.incept --weights %s", "fuzz/corpus/weights", NULL);
    run_folder("summary models/tiny.incept --weights %s", "tests/fuzz_regressions/weights", NULL);
    run_folder("classify models/tiny.incept %s", "fuzz/corpus/image", NULL);
    run_folder("run tests/fixtures/opset13_several_inputs.onnx --input %s,%s,%s --output "
               "/tmp/incept_hostile_out.pb", "fuzz/corpus/tensor", NULL);
    hostile_files();
    printf("test_cli_hostile: %d runs of the CLI, the slowest %.2f s, the largest %.0f MB resident\n",
           checked, worst_seconds, worst_rss_kb / 1024.0);
    return test_summary("test_cli_hostile");
}
