/* grow.c — `incept grow`: the paper's topology construction as a command. Grows Inception
 * modules on a stem (a description file, or the built-in Fashion-MNIST net's first convolution
 * and pool) from the correlations of their activations on the training data (incept_grow_network),
 * and writes the grown network as a description, with a comment per module saying what chose
 * its widths. Progress goes to stderr; the description to --out (or stdout). Also `incept
 * pareto`: the Pareto plot of an experiment's CSV (scripts/grow-experiment.sh). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* models/fashion.incept's input, first convolution and pool: where its modules begin. */
static const char *fashion_stem = "input data 1 28 28\n"
                                  "conv conv1 32 3x3 pad 1 relu bn\n"
                                  "maxpool pool1 3x3 stride 2 ceil\n";

static void show(const char *line, void *user)
{
    (void)user;
    fprintf(stderr, "incept: grow: %s\n", line);
}

/* The whole text of a file (malloc'd), or NULL after a message. */
static char *read_text(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *text = NULL;
    size_t size = 0;
    FILE *mem = f ? open_memstream(&text, &size) : NULL;
    char chunk[4096];
    size_t n;
    while (mem && (n = fread(chunk, 1, sizeof chunk, f)) > 0 && size < (1u << 24))
        fwrite(chunk, 1, n, mem);
    int bad = !f || ferror(f) || size >= (1u << 24);
    if (mem)
        fclose(mem);
    if (f)
        fclose(f);
    if (bad || !text) {
        fprintf(stderr, "incept: %s: cannot read the stem (or it is over 16 MB)\n", path);
        free(text);
        return NULL;
    }
    return text;
}

int cmd_grow(const options *o)
{
    char *stem = o->model ? read_text(o->model) : NULL;
    if (o->model && !stem)
        return 1;
    incept_model *probe = NULL; /* the stem's input, for the data */
    incept_status st = incept_model_parse_description(stem ? stem : fashion_stem,
                                                      o->model ? o->model : "the built-in stem", &probe);
    if (st) {
        free(stem);
        return cli_fail("the stem");
    }
    int c, h, w;
    incept_model_input_dims(probe, &c, &h, &w);
    incept_model_free(probe);
    incept_dataset *data = NULL;
    if (cli_load_split(o, 0, &data, c, h, w) || !data) {
        free(stem);
        incept_dataset_free(data);
        return cli_fail("loading the data");
    }
    incept_totals fashion = {0};
    incept_model *reference = NULL;
    if (!o->model && !incept_model_parse_description(incept_builtin_description("fashion"), "fashion",
                                                     &reference))
        incept_model_summary(reference, NULL, &fashion);
    incept_model_free(reference);
    incept_grow_options g = {
        .stem = stem ? stem : fashion_stem,
        .stages = o->stages,
        .budget = o->budget > 0 ? o->budget : fashion.multiply_adds, /* 0 with a stem of one's own */
        .sample = o->sample,
        .steps = o->steps,
        .learning_rate = o->lr,
        .threshold = o->threshold,
        .seed = o->seed,
        .threads = o->threads,
        .progress = show,
    };
    char *grown = NULL;
    int rc = 0;
    if (incept_grow_network(data, &g, &grown)) {
        rc = cli_fail("growing");
    } else {
        FILE *out = o->out ? fopen(o->out, "w") : stdout;
        if (!out || fputs(grown, out) < 0 || (o->out && fclose(out) != 0)) {
            fprintf(stderr, "incept: %s: cannot write the description\n", o->out ? o->out : "stdout");
            rc = 1;
        } else if (o->out) {
            fprintf(stderr, "incept: grown network written to %s\n", o->out);
        }
    }
    free(grown);
    free(stem);
    incept_dataset_free(data);
    return rc;
}

#define PARETO_MAX 4096
#define PARETO_FAMILIES 8

/* `incept pareto RESULTS.csv --out P.png`: test top-1 against multiply-adds, a colour and a
 * front per family, from the CSV scripts/grow-experiment.sh writes (a header line, then
 * family,model,parameters,multiply_adds,ms,top1 per model). */
int cmd_pareto(const options *o)
{
    if (!o->out) {
        fprintf(stderr, "incept: pareto needs --out P.png\n");
        return 2;
    }
    FILE *f = fopen(o->model, "r");
    if (!f) {
        fprintf(stderr, "incept: %s: cannot open the results\n", o->model);
        return 1;
    }
    static double x[PARETO_MAX], y[PARETO_MAX];
    static int family[PARETO_MAX];
    char names[PARETO_FAMILIES][64], line[1024];
    const char *shown[PARETO_FAMILIES];
    int n = 0, families = 0, number = 0, rc = 0;
    while (fgets(line, sizeof line, f) && !rc) {
        number++;
        char name[64], model[256];
        long long parameters, madds;
        double ms, top1;
        if (number == 1 && strncmp(line, "family,", 7) == 0)
            continue; /* the header */
        errno = 0; /* a number past what a long long holds sets ERANGE */
        if (sscanf(line, "%63[^,],%255[^,],%lld,%lld,%lf,%lf", name, model, &parameters, &madds, &ms,
                   &top1) != 6 || errno == ERANGE || madds <= 0 || !(top1 >= 0.0 && top1 <= 1.0)) {
            fprintf(stderr, "incept: %s:%d: expected family,model,parameters,multiply_adds,ms,top1 "
                    "(counts that fit 64 bits, top1 in [0, 1])\n", o->model, number);
            rc = 1;
            break;
        }
        int k = 0;
        while (k < families && strcmp(names[k], name) != 0)
            k++;
        if (k == families) {
            if (families == PARETO_FAMILIES || n == PARETO_MAX) {
                fprintf(stderr, "incept: %s:%d: at most %d families and %d models\n", o->model,
                        number, PARETO_FAMILIES, PARETO_MAX);
                rc = 1;
                break;
            }
            snprintf(names[families], sizeof names[families], "%s", name);
            shown[families] = names[families];
            families++;
        }
        if (n == PARETO_MAX) {
            fprintf(stderr, "incept: %s: more than %d models\n", o->model, PARETO_MAX);
            rc = 1;
            break;
        }
        x[n] = (double)madds, y[n] = top1, family[n] = k, n++;
    }
    fclose(f);
    if (!rc && !n) {
        fprintf(stderr, "incept: %s: no models\n", o->model);
        rc = 1;
    }
    if (rc)
        return rc;
    if ((rc = cli_pareto(o->out, "test top-1 against multiply-adds", x, y, family, n, shown, families)))
        fprintf(stderr, "incept: %s: the results were read but not plotted\n", o->model);
    else
        fprintf(stderr, "incept: %d models of %d families plotted to %s\n", n, families, o->out);
    return rc;
}
