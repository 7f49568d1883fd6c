/* onnx_test.c — `incept onnx-test DIR...`: runs ONNX backend node tests (a folder with model.onnx
 * and test_data_set_N folders of input_N.pb and output_N.pb, as Debian's libonnx-testdata installs them) and
 * prints a line per case (PASS, FAIL, SKIP or UNSUPPORTED: an op or attribute the engine does not
 * implement is no wrong result) and, last, `N passed, N failed, N skipped (N of them unsupported)`.
 *
 * Every case runs through the model incept_model_load_onnx makes (the one engine: fast path
 * where it takes a node, the generic N-d path after), every output compared; then through a
 * model with every node generic (incept_model_load_onnx_generic: each op's N-d reference), where
 * every op has one; then, where the fast path takes the whole model once the model's other
 * inputs (a Conv's W, a Gemm's B and C) are written into it as initializers, its output 0. The
 *  * line says which paths ran: fast, generic or both. Cases with sequence or optional values, or data other than float32,
 * uint8, int32, int64 and bool, are skipped. */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "graph/graph.h" /* incept_model_load_onnx_generic */
#include "incept.h"
#include "onnx.pb-c.h"

#define ONNX_FLOAT 1

static unsigned char *read_bytes(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    unsigned char *buf = NULL;
    long n = -1;
    if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0 &&
        (buf = malloc((size_t)n + 1)) && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    *size = n > 0 ? (size_t)n : 0;
    return buf;
}

static Onnx__TensorProto *read_tensor(const char *path)
{
    size_t size;
    unsigned char *data = read_bytes(path, &size);
    Onnx__TensorProto *t = data ? onnx__tensor_proto__unpack(NULL, size, data) : NULL;
    free(data);
    return t;
}

static size_t element_count(const Onnx__TensorProto *t)
{
    size_t n = 1;
    for (size_t i = 0; i < t->n_dims; i++)
        n *= (size_t)(t->dims[i] > 0 ? t->dims[i] : 0);
    return n;
}

/* A float tensor's values (malloc'd), or NULL when it is not float32. */
static float *tensor_values(const Onnx__TensorProto *t, size_t *count)
{
    *count = element_count(t);
    if (t->data_type != ONNX_FLOAT)
        return NULL;
    float *v = malloc(sizeof(float) * (*count ? *count : 1));
    if (!v)
        return NULL;
    if (t->has_raw_data && t->raw_data.len == *count * sizeof(float))
        memcpy(v, t->raw_data.data, *count * sizeof(float));
    else if (t->n_float_data == *count)
        memcpy(v, t->float_data, *count * sizeof(float));
    else {
        free(v);
        return NULL;
    }
    return v;
}

/* The case's model.onnx, unpacked, or NULL. */
static Onnx__ModelProto *read_model(const char *dir)
{
    char path[8192];
    snprintf(path, sizeof path, "%s/model.onnx", dir);
    size_t size;
    unsigned char *bytes = read_bytes(path, &size);
    Onnx__ModelProto *model = bytes ? onnx__model_proto__unpack(NULL, size, bytes) : NULL;
    free(bytes);
    return model;
}

/* CASE_UNSUPPORTED: the model uses what the engine does not implement (an op, an attribute):
 * not a wrong result, counted apart from failures */
typedef enum { CASE_PASS, CASE_FAIL, CASE_SKIP, CASE_UNSUPPORTED } outcome;

static int is_initializer(const Onnx__GraphProto *g, const char *name)
{
    for (size_t k = 0; k < g->n_initializer; k++)
        if (!strcmp(g->initializer[k]->name, name))
            return 1;
    return 0;
}

/* One test_data_set through the engine: the model with its extra inputs made initializers, run
 * on input 0. SKIP when the engine does not take the model or its data. */
static outcome engine_set(const char *dir, const char *set, char *why, size_t why_size, int threads)
{
    char path[8192];
    Onnx__ModelProto *model = read_model(dir);
    if (!model || !model->graph) {
        snprintf(why, why_size, "cannot read model.onnx");
        if (model)
            onnx__model_proto__free_unpacked(model, NULL);
        return CASE_FAIL;
    }
    Onnx__GraphProto *g = model->graph;
    Onnx__TensorProto *input = NULL, *expect = NULL;
    Onnx__TensorProto **extra = calloc(g->n_input + 1, sizeof *extra);
    Onnx__TensorProto **inits = NULL;
    outcome result = CASE_FAIL;
    Onnx__ValueInfoProto *data_input = NULL; /* the one input left a graph input */
    incept_model *m = NULL;
    incept_session *s = NULL;
    float *x = NULL, *y = NULL, *want = NULL;
    size_t n_extra = 0;
    if (!extra) {
        snprintf(why, why_size, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < g->n_input; i++) {
        if (is_initializer(g, g->input[i]->name))
            continue;
        snprintf(path, sizeof path, "%s/%s/input_%zu.pb", dir, set, n_extra);
        Onnx__TensorProto *t = read_tensor(path);
        if (!t) {
            snprintf(why, why_size, "cannot read %.900s", path);
            goto done;
        }
        if (n_extra == 0) {
            input = t, data_input = g->input[i];
        } else {
            extra[n_extra - 1] = t;
            free(t->name);
            if (!(t->name = strdup(g->input[i]->name))) {
                snprintf(why, why_size, "out of memory");
                goto done;
            }
        }
        n_extra++;
    }
    snprintf(path, sizeof path, "%s/%s/output_0.pb", dir, set);
    expect = read_tensor(path);
    if (!input || !expect) {
        snprintf(why, why_size, input ? "missing test data" : "no activation input");
        result = input ? CASE_FAIL : CASE_SKIP;
        goto done;
    }
    if (input->data_type != ONNX_FLOAT || expect->data_type != ONNX_FLOAT) {
        snprintf(why, why_size, "not float32 data");
        result = CASE_SKIP;
        goto done;
    }
    /* the extra inputs become initializers (and leave the input list) */
    n_extra = n_extra ? n_extra - 1 : 0;
    inits = malloc(sizeof *inits * (g->n_initializer + n_extra + 1));
    if (!inits)
        goto done;
    for (size_t k = 0; k < g->n_initializer; k++) /* (a case may have none: no memcpy from NULL) */
        inits[k] = g->initializer[k];
    for (size_t k = 0; k < n_extra; k++)
        inits[g->n_initializer + k] = extra[k];
    Onnx__TensorProto **old_inits = g->initializer;
    size_t old_n_inits = g->n_initializer, old_n_input = g->n_input;
    Onnx__ValueInfoProto **old_inputs = g->input;
    g->initializer = inits, g->n_initializer = old_n_inits + n_extra;
    g->input = &data_input, g->n_input = 1;
    size_t length = onnx__model_proto__get_packed_size(model);
    unsigned char *packed = malloc(length ? length : 1);
    if (packed)
        onnx__model_proto__pack(model, packed);
    g->initializer = old_inits, g->n_initializer = old_n_inits; /* give back what free expects */
    g->input = old_inputs, g->n_input = old_n_input;
    char model_path[] = "/tmp/incept_onnx_test_XXXXXX";
    int fd = packed ? mkstemp(model_path) : -1;
    FILE *f = fd >= 0 ? fdopen(fd, "wb") : NULL;
    if (fd >= 0 && !f)
        close(fd);
    int written = f && fwrite(packed, 1, length, f) == length;
    if (f && fclose(f) != 0)
        written = 0;
    free(packed);
    if (!written) {
        snprintf(why, why_size, "cannot write a temporary model");
        if (fd >= 0)
            remove(model_path);
        goto done;
    }
    incept_status st = incept_model_load_onnx(model_path, &m);
    remove(model_path);
    if (st || incept_model_generic_nodes(m)) {
        snprintf(why, why_size, "%s", st ? incept_last_error() : "the fast path does not take it");
        result = CASE_SKIP;
        goto done;
    }
    size_t nx, ny, in_sample = 0, out_sample = 0; /* per sample, from the shapes (any rank) */
    x = tensor_values(input, &nx);
    want = tensor_values(expect, &ny);
    long long dims[INCEPT_MAX_RANK];
    int batch = input->n_dims ? (int)input->dims[0] : 1;
    if (!cli_sample_size(m, 0, &in_sample, dims) || !cli_sample_size(m, 1, &out_sample, dims) ||
        !x || !want || batch < 1 || nx != (size_t)batch * in_sample ||
        ny != (size_t)batch * out_sample) {
        snprintf(why, why_size, "%d samples of %zu values in and %zu out where %zu and %zu values are "
                 "given", batch, in_sample, out_sample, nx, ny);
        goto done;
    }
    y = malloc(sizeof(float) * (ny ? ny : 1));
    if (!y || incept_session_new(m, &s) || incept_session_set_threads(s, threads) ||
        incept_session_set_exact(s, 1) || incept_session_forward(s, x, batch, y)) {
        snprintf(why, why_size, "%s", incept_last_error());
        goto done;
    }
    double worst = 0.0;
    for (size_t i = 0; i < ny; i++) { /* the ONNX backend tests' tolerance: rtol 1e-3, atol 1e-7 */
        double err = fabs((double)y[i] - want[i]) - 1e-3 * fabs((double)want[i]);
        worst = err > worst ? err : worst;
    }
    if (worst > 1e-7) {
        snprintf(why, why_size, "values differ by %g beyond the tolerance", worst);
        goto done;
    }
    result = CASE_PASS;
done:
    if (input)
        onnx__tensor_proto__free_unpacked(input, NULL);
    if (expect)
        onnx__tensor_proto__free_unpacked(expect, NULL);
    for (size_t k = 0; extra && extra[k]; k++)
        onnx__tensor_proto__free_unpacked(extra[k], NULL);
    free(extra);
    free(inits);
    free(x);
    free(y);
    free(want);
    incept_session_free(s);
    incept_model_free(m);
    onnx__model_proto__free_unpacked(model, NULL);
    return result;
}

/* Whether every value the graph takes or gives is a tensor of a type the engine holds. */
static int plain_tensors(const Onnx__ValueInfoProto *const *values, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const Onnx__TypeProto *t = values[i]->type;
        if (!t || t->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE)
            return 0;
        int type = t->tensor_type->elem_type;
        /* float32, uint8, int32, int64, bool */
        if (type != 1 && type != 2 && type != 6 && type != 7 && type != 9)
            return 0;
    }
    return 1;
}

/* Whether got matches want: shape, type, and values (float32 at the ONNX backend tests'
 * tolerance, rtol 1e-3 and atol 1e-7; integers and bools exactly). */
static int same_array(const incept_tensor *got, const incept_tensor *want, char *why, size_t why_size)
{
    int same_shape = got->rank == want->rank && got->dtype == want->dtype;
    for (int d = 0; same_shape && d < got->rank; d++)
        same_shape = got->dims[d] == want->dims[d];
    if (!same_shape) {
        char shapes[2][160];
        for (int k = 0; k < 2; k++) {
            const incept_tensor *a = k ? want : got;
            int used = snprintf(shapes[k], sizeof shapes[k], "type %d [", a->dtype);
            for (int d = 0; d < a->rank && used < 140; d++)
                used += snprintf(shapes[k] + used, sizeof shapes[k] - (size_t)used, d ? " %lld" : "%lld",
                                 a->dims[d]);
            snprintf(shapes[k] + used, sizeof shapes[k] - (size_t)used, "]");
        }
        snprintf(why, why_size, "a result of %s where %s is expected", shapes[0], shapes[1]);
        return 0;
    }
    size_t n = incept_tensor_count(got);
    double worst = 0.0;
    for (size_t i = 0; i < n; i++) {
        double a, b;
        if (got->dtype == INCEPT_FLOAT32)
            a = ((const float *)got->data)[i], b = ((const float *)want->data)[i];
        else if (got->dtype == INCEPT_INT64)
            a = (double)((const long long *)got->data)[i], b = (double)((const long long *)want->data)[i];
        else
            a = ((const unsigned char *)got->data)[i], b = ((const unsigned char *)want->data)[i];
        double err = fabs(a - b) - (got->dtype == INCEPT_FLOAT32 ? 1e-3 * fabs(b) : 0.0);
        worst = err > worst || isnan(a) != isnan(b) ? (isnan(err) ? INFINITY : err) : worst;
    }
    if (worst > 1e-7) {
        snprintf(why, why_size, "values differ by %g beyond the tolerance", worst);
        return 0;
    }
    return 1;
}

/* One test_data_set through a model of the file, every output compared: as incept_model_load_onnx
 * makes it (generic = 0), or with every node on the generic N-d path (1). */
static outcome model_set(const char *dir, const char *set, char *why, size_t why_size, int threads,
                         int generic, int *unsupported)
{
    char path[8192];
    snprintf(path, sizeof path, "%s/model.onnx", dir);
    incept_model *m = NULL;
    incept_session *s = NULL;
    incept_status st = generic ? incept_model_load_onnx_generic(path, &m) : incept_model_load_onnx(path, &m);
    *unsupported = st == INCEPT_ERR_UNSUPPORTED;
    if (st || incept_session_new(m, &s) || incept_session_set_threads(s, threads)) {
        snprintf(why, why_size, "%s", incept_last_error());
        incept_session_free(s);
        incept_model_free(m);
        return CASE_FAIL;
    }
    int n_in = incept_model_inputs(m), n_out = incept_model_outputs(m);
    incept_tensor *arrays = calloc((size_t)(n_in + 2 * n_out) + 1, sizeof *arrays);
    incept_tensor *outputs = arrays + n_in, *expected = arrays + n_in + n_out;
    outcome result = CASE_FAIL;
    if (!arrays) {
        snprintf(why, why_size, "out of memory");
        goto done;
    }
    for (int i = 0; i < n_in + n_out; i++) {
        snprintf(path, sizeof path, "%s/%s/%s_%d.pb", dir, set, i < n_in ? "input" : "output",
                 i < n_in ? i : i - n_in);
        if (incept_tensor_load(path, i < n_in ? &arrays[i] : &expected[i - n_in])) {
            snprintf(why, why_size, "%s", incept_last_error());
            goto done;
        }
    }
    if (incept_session_run(s, n_in, NULL, arrays, n_out, NULL, outputs)) {
        snprintf(why, why_size, "%s", incept_last_error());
        goto done;
    }
    result = CASE_PASS;
    for (int i = 0; i < n_out && result == CASE_PASS; i++) {
        char what[900];
        if (!same_array(&outputs[i], &expected[i], what, sizeof what)) {
            snprintf(why, why_size, "output '%s': %s", incept_model_output_name(m, i), what);
            result = CASE_FAIL;
        }
    }
done:
    for (int i = 0; arrays && i < n_in + 2 * n_out; i++)
        incept_tensor_free(&arrays[i]);
    free(arrays);
    incept_session_free(s);
    incept_model_free(m);
    return result;
}

/* One test_data_set: the model incept_model_load_onnx makes must pass it; so must the model all on
 * the generic path (where every op has an N-d reference) and the fast path alone (where it takes
 * the model with the other inputs written in as initializers). */
static outcome run_set(const char *dir, const char *set, char *why, size_t why_size, int threads,
                       int *fast_ran, int *generic_ran)
{
    Onnx__ModelProto *model = read_model(dir);
    const Onnx__GraphProto *g = model ? model->graph : NULL;
    int plain = g && plain_tensors((const Onnx__ValueInfoProto *const *)g->input, g->n_input) &&
                plain_tensors((const Onnx__ValueInfoProto *const *)g->output, g->n_output);
    if (model)
        onnx__model_proto__free_unpacked(model, NULL);
    if (!model) {
        snprintf(why, why_size, "cannot read model.onnx");
        return CASE_FAIL;
    }
    if (!plain) {
        snprintf(why, why_size, "sequence or optional values, or data of another type (the engine "
                                "holds tensors of float32, uint8, int32, int64 and bool)");
        return CASE_SKIP;
    }
    int unsupported;
    outcome r = model_set(dir, set, why, why_size, threads, 0, &unsupported);
    if (r != CASE_PASS)
        return unsupported ? CASE_UNSUPPORTED : r;
    char other_why[1024];
    outcome generic = model_set(dir, set, other_why, sizeof other_why, threads, 1, &unsupported);
    *generic_ran = generic == CASE_PASS;
    if (generic != CASE_PASS && !unsupported) {
        snprintf(why, why_size, "generic path: %.1000s", other_why);
        return CASE_FAIL;
    }
    outcome fast = engine_set(dir, set, other_why, sizeof other_why, threads);
    *fast_ran = fast == CASE_PASS;
    if (fast == CASE_FAIL) {
        snprintf(why, why_size, "fast path: %.1000s", other_why);
        return CASE_FAIL;
    }
    return CASE_PASS;
}

static int compare_names(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* The sorted entries of dir whose names start with prefix. */
static int list(const char *dir, const char *prefix, char ***out)
{
    DIR *d = opendir(dir);
    int n = 0, cap = 16;
    char **names = malloc(sizeof(char *) * (size_t)cap);
    for (struct dirent *e; d && names && (e = readdir(d));) {
        if (strncmp(e->d_name, prefix, strlen(prefix)) != 0)
            continue;
        if (n == cap) {
            char **grown = realloc(names, sizeof(char *) * (size_t)(cap *= 2));
            if (!grown)
                break;
            names = grown;
        }
        if (!(names[n] = strdup(e->d_name)))
            break;
        n++;
    }
    if (d)
        closedir(d);
    if (names && n)
        qsort(names, (size_t)n, sizeof(char *), compare_names);
    *out = names;
    return names ? n : 0;
}

static void free_list(char **names, int n)
{
    for (int i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

/* One case folder: every test_data_set must pass. */
static outcome run_case(const char *dir, int threads, int *counts)
{
    char **sets, why[1024] = "", worst_why[1024] = "";
    int n = list(dir, "test_data_set_", &sets);
    outcome result = n ? CASE_PASS : CASE_FAIL;
    if (!n)
        snprintf(worst_why, sizeof worst_why, "no test_data_set_*");
    int fast_ran = 1, generic_ran = 1;
    for (int i = 0; i < n; i++) {
        int fast = 0, generic = 0;
        outcome r = run_set(dir, sets[i], why, sizeof why, threads, &fast, &generic);
        fast_ran &= fast;
        generic_ran &= generic;
        if (r != CASE_PASS && result == CASE_PASS) {
            result = r;
            snprintf(worst_why, sizeof worst_why, "%s: %s", sets[i], why);
        }
    }
    free_list(sets, n);
    const char *name = strrchr(dir, '/') ? strrchr(dir, '/') + 1 : dir;
    if (result == CASE_PASS)
        printf("PASS %s [%s]\n", name, fast_ran && generic_ran ? "fast+generic" : fast_ran ? "fast"
                                        : generic_ran ? "generic" : "mixed");
    else
        printf("%s %s: %s\n", result == CASE_SKIP ? "SKIP" : result == CASE_UNSUPPORTED ? "UNSUPPORTED"
                                                                                        : "FAIL",
               name, worst_why);
    counts[result]++;
    return result;
}

int cmd_onnx_test(const options *o)
{
    int counts[4] = {0, 0, 0, 0};
    if (o->n_positional == 0) {
        fprintf(stderr, "incept: onnx-test needs case folders (or a folder of them), e.g. "
                        "/usr/share/libonnx-testdata/data/node/test_relu\n");
        return 2;
    }
    for (int i = 0; i < o->n_positional; i++) {
        const char *dir = o->positional[i];
        char path[8192];
        struct stat info;
        snprintf(path, sizeof path, "%s/model.onnx", dir);
        if (stat(path, &info) == 0) {
            run_case(dir, o->threads, counts);
            continue;
        }
        char **cases;
        int n = list(dir, "test_", &cases);
        if (!n) {
            printf("FAIL %s: neither a case (model.onnx) nor a folder of cases\n", dir);
            counts[CASE_FAIL]++;
        }
        for (int k = 0; k < n; k++) {
            snprintf(path, sizeof path, "%s/%s", dir, cases[k]);
            run_case(path, o->threads, counts);
        }
        free_list(cases, n);
    }
    /* unsupported cases are skipped too, and said apart: a missing op is not a wrong answer */
    printf("%d passed, %d failed, %d skipped (%d of them unsupported ops or attributes)\n",
           counts[CASE_PASS], counts[CASE_FAIL], counts[CASE_SKIP] + counts[CASE_UNSUPPORTED],
           counts[CASE_UNSUPPORTED]);
    return counts[CASE_FAIL] ? 1 : 0;
}
