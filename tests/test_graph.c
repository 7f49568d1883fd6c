/* test_graph.c — the model as a whole: GoogLeNet's Table 1 totals, the C builder and the
 * description giving the same network, variants without code changes, the naive module of
 * Figure 2(a), the memory plan (reuse, auxiliary heads left out), batch changes, and weights
 * files (round trip, corruption, mismatch). */
#include <string.h>
#include <unistd.h>

#include "graph/graph.h"
#include "incept.h"
#include "test.h"

static void test_table1(void)
{
    incept_model *built = NULL, *described = NULL;
    CHECK_OK(incept_model_googlenet(1000, 0, &built));
    CHECK_OK(incept_model_load("models/googlenet.incept", NULL, &described));
    if (!built || !described)
        goto done;
    incept_totals a, b;
    char *text_a = summary_text(built, &a), *text_b = summary_text(described, &b);
    CHECK_MSG(a.params == 6998552, "params %lld", a.params);
    CHECK_MSG(a.aux_params == 3188840 + 3190888, "aux params %lld", a.aux_params);
    CHECK_MSG(a.multiply_adds == 1582671872LL, "multiply-adds %lld", a.multiply_adds);
    CHECK(strstr(text_a, "6,998,552 parameters") && strstr(text_a, "1,582,671,872 multiply-adds"));
    CHECK(strstr(text_a, "3,188,840") && strstr(text_a, "3,190,888"));
    CHECK_MSG(strcmp(text_a, text_b) == 0, "%s", "C builder and models/googlenet.incept print the same Table 1");
    /* same parameters in the same order with the same seed: same weights */
    CHECK(incept_model_param_count(built) == incept_model_param_count(described));
    free(text_a);
    free(text_b);

    /* the plan (a session's): auxiliary heads are not run, activations share memory */
    incept_session *s = NULL;
    CHECK_OK(incept_session_new(built, &s));
    if (!s)
        goto done;
    float *x = calloc(3 * 224 * 224, sizeof(float)), y[1000];
    CHECK_OK(incept_session_forward(s, x, 1, y));
    int aux_run = 0;
    size_t all = 0;
    for (int p = 0; p < s->n_order; p++)
        aux_run += built->graph.nodes[s->order[p]].aux;
    for (int v = 0; v < built->graph.n_values; v++)
        all += (size_t)built->graph.values[v].c * built->graph.values[v].h * built->graph.values[v].w;
    CHECK(aux_run == 0);
    CHECK_MSG(s->arena_floats * 4 < all, "arena %zu floats for %zu floats of activations",
              s->arena_floats, all);
    printf("GoogLeNet batch 1: arena %.1f MB for %.1f MB of activations, workspace %.1f MB\n",
           (double)s->arena_floats * 4e-6, (double)all * 4e-6, (double)s->workspace_floats * 4e-6);
    free(x);
    incept_session_free(s);
done:
    incept_model_free(built);
    incept_model_free(described);
}

static void test_variants(void)
{
    /* a narrower GoogLeNet-like net: 96x96 input, 10 classes, 3 modules, one naive module */
    const char *text =
        "input data 3 96 96\n"
        "conv conv1 16 5x5 stride 2 pad 2 relu   # 48x48\n"
        "maxpool pool1 3x3 stride 2 ceil         # 24x24\n"
        "inception a 8 8 12 4 4 4                # 28 channels\n"
        "inception naive 8 0 12 0 4 0            # Figure 2(a): 8+12+4+28 = 52 channels\n"
        "maxpool pool2 3x3 stride 2 ceil\n"
        "inception b 16 8 16 4 8 8\n"
        "globalavgpool gap\n"
        "fc logits 10\n";
    incept_model *m = NULL;
    CHECK_OK(incept_model_parse_description(text, "variant", &m));
    if (!m)
        return;
    int c, h, w;
    incept_model_input_dims(m, &c, &h, &w);
    CHECK(c == 3 && h == 96 && w == 96);
    incept_model_output_dims(m, &c, &h, &w);
    CHECK(c == 10 && h == 1 && w == 1);
    int v = incept_graph_find_value(&m->graph, "naive");
    CHECK(v >= 0 && m->graph.values[v].c == 52 && m->graph.values[v].h == 24);
    /* the naive module's parameters: 1x1, 3x3 and 5x5 straight on the 28-channel input */
    long long naive = 0;
    for (int i = 0; i < m->graph.n_params; i++)
        if (strncmp(m->graph.params[i].name, "naive/", 6) == 0)
            naive += (long long)m->graph.params[i].count;
    CHECK_MSG(naive == 28 * 8 + 8 + 28 * 9 * 12 + 12 + 28 * 25 * 4 + 4, "naive params %lld", naive);
    CHECK(incept_graph_find_value(&m->graph, "naive/3x3_reduce") < 0);

    /* batch changes re-plan; every sample's output is independent of the batch */
    incept_session *s = NULL;
    CHECK_OK(incept_session_new(m, &s));
    if (!s) {
        incept_model_free(m);
        return;
    }
    size_t per = 3 * 96 * 96;
    float *x = malloc(3 * per * sizeof(float)), y3[30], y1[10];
    fill_random(x, 3 * per, 4);
    CHECK_OK(incept_session_forward(s, x + per, 1, y1));
    CHECK_OK(incept_session_forward(s, x, 3, y3));
    CHECK(max_abs_diff(y1, y3 + 10, 10) < 1e-5f);
    CHECK_OK(incept_session_forward(s, x + per, 1, y1));
    CHECK(max_abs_diff(y1, y3 + 10, 10) < 1e-5f);
    CHECK_OK(incept_session_set_threads(s, 2));
    float y3b[30];
    CHECK_OK(incept_session_forward(s, x, 3, y3b));
    CHECK(max_abs_diff(y3, y3b, 30) < 1e-5f);
    free(x);
    incept_session_free(s);
    incept_model_free(m);
}

static void test_weights_file(void)
{
    incept_model *a = NULL, *b = NULL, *other = NULL;
    incept_session *sa = NULL, *sb = NULL;
    CHECK_OK(incept_model_load("models/tiny.incept", NULL, &a));
    CHECK_OK(incept_model_load("models/tiny.incept", NULL, &b));
    CHECK_OK(incept_model_googlenet(10, 0, &other));
    if (!a || !b || !other)
        goto done;
    CHECK_OK(incept_session_new(a, &sa));
    CHECK_OK(incept_session_new(b, &sb));
    if (!sa || !sb)
        goto done;
    incept_model_init_weights(a, 77);
    char path[] = "/tmp/incept_test_weights_XXXXXX";
    int fd = mkstemp(path);
    close(fd);
    CHECK_OK(incept_model_save_weights(a, path));
    CHECK_OK(incept_model_load_weights(b, path));
    float x[2 * 3 * 15 * 15], ya[10], yb[10];
    fill_random(x, sizeof x / sizeof x[0], 8);
    CHECK_OK(incept_session_forward(sa, x, 2, ya));
    CHECK_OK(incept_session_forward(sb, x, 2, yb));
    CHECK(memcmp(ya, yb, sizeof ya) == 0);

    incept_model *loaded = NULL; /* the CLI's path: description plus weights */
    incept_session *sl = NULL;
    CHECK_OK(incept_model_load("models/tiny.incept", path, &loaded));
    if (loaded)
        CHECK_OK(incept_session_new(loaded, &sl));
    if (sl) {
        CHECK_OK(incept_session_forward(sl, x, 2, yb));
        CHECK(memcmp(ya, yb, sizeof ya) == 0);
    }
    incept_session_free(sl);
    incept_model_free(loaded);

    CHECK(incept_model_load_weights(other, path) == INCEPT_ERR_SHAPE);
    CHECK(strstr(incept_last_error(), path) != NULL);

    FILE *f = fopen(path, "r+b"); /* one flipped byte: the checksum catches it */
    fseek(f, 200, SEEK_SET);
    int byte = fgetc(f);
    fseek(f, 200, SEEK_SET);
    fputc(byte ^ 0x40, f);
    fclose(f);
    incept_model_init_weights(b, 5);
    CHECK_OK(incept_session_forward(sb, x, 2, yb));
    CHECK(incept_model_load_weights(b, path) == INCEPT_ERR_FORMAT);
    CHECK(strstr(incept_last_error(), "checksum") != NULL);
    float yc[10];
    CHECK_OK(incept_session_forward(sb, x, 2, yc));
    CHECK(memcmp(yb, yc, sizeof yb) == 0); /* a rejected file changes nothing */
    CHECK(truncate(path, 100) == 0);
    CHECK(incept_model_load_weights(b, path) == INCEPT_ERR_FORMAT);
    unlink(path);
done:
    incept_session_free(sa);
    incept_session_free(sb);
    incept_model_free(a);
    incept_model_free(b);
    incept_model_free(other);
}

/* The drawing: one cluster per module (aux heads dashed), every edge of the graph, and dot-able. */
static void test_dot(void)
{
    incept_model *m = NULL;
    CHECK_OK(incept_model_load("models/googlenet.incept", NULL, &m));
    if (!m)
        return;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    CHECK_OK(incept_model_dot(m, f));
    fclose(f);
    int clusters = 0, dashed = 0, edges = 0, expected_edges = 0;
    for (const char *p = buf; (p = strstr(p, "subgraph \"cluster_")); p++)
        clusters++;
    for (const char *p = buf; (p = strstr(p, "style=dashed; color")); p++)
        dashed++;
    for (const char *p = buf; (p = strstr(p, " -> ")); p++)
        edges++;
    for (int i = 0; i < m->graph.n_nodes; i++)
        expected_edges += m->graph.nodes[i].n_inputs;
    CHECK_MSG(clusters == 9 + 2 && dashed == 2, "%d clusters, %d dashed", clusters, dashed);
    CHECK(edges == expected_edges);
    CHECK(strstr(buf, "filter concatenation\\n256") && strstr(buf, "rank=same"));
    if (system("command -v dot >/dev/null 2>&1") == 0) {
        f = fopen("/tmp/incept_test.dot", "w");
        fputs(buf, f);
        fclose(f);
        CHECK(system("dot -Tsvg /tmp/incept_test.dot -o /tmp/incept_test.svg") == 0);
        unlink("/tmp/incept_test.dot");
        unlink("/tmp/incept_test.svg");
    } else {
        printf("SKIP rendering the drawing: Graphviz's dot is not installed\n");
    }
    free(buf);
    incept_model_free(m);
}

/* passes/fuse_activations.c: a relu after a conv and one after an fc become the nodes' own; a
 * relu whose conv another layer also reads stays. The fused layers' names still name their
 * values (the conv's, now rectified), the model's output keeps its name, and the outputs are
 * those of the unfused network computed by hand. */
static void test_fused_activations(void)
{
    const char *text = "input x 2 5 5\nconv c 3 3x3 pad 1\nrelu r\nconv d 3 1x1 from c\n"
                       "concat k from r,d\nflatten f\nfc o 4\nrelu out\n";
    incept_model *m = NULL;
    incept_session *s = NULL;
    CHECK_OK(incept_model_parse_description(text, "fused", &m));
    if (!m || incept_session_new(m, &s) != INCEPT_OK)
        goto done;
    incept_model_init_weights(m, 5);
    int relus = 0;
    for (int i = 0; i < incept_model_layer_count(m); i++) {
        const char *op;
        incept_model_layer(m, i, NULL, &op, NULL, NULL);
        relus += strcmp(op, "relu") == 0;
    }
    CHECK_MSG(relus == 1 && incept_model_layer_count(m) == 6, "%d relu nodes of %d layers (r stays: c has two readers)",
              relus, incept_model_layer_count(m));
    CHECK(strcmp(incept_model_output_name(m, 0), "out") == 0);
    float x[50];
    fill_random(x, 50, 3);
    incept_tensor in = {.dtype = INCEPT_FLOAT32, .rank = 4, .dims = {1, 2, 5, 5}, .data = x};
    incept_tensor outs[4] = {{0}};
    const char *names[4] = {"c", "r", "o", "out"};
    CHECK_OK(incept_session_run(s, 1, NULL, &in, 4, names, outs));
    if (outs[0].data && outs[1].data && outs[2].data && outs[3].data) {
        const float *c = outs[0].data, *r = outs[1].data, *o = outs[2].data, *y = outs[3].data;
        int ok = 1;
        for (int i = 0; i < 75; i++)
            ok &= r[i] == (c[i] > 0 ? c[i] : 0.0f); /* c is not fused: it has two readers */
        for (int i = 0; i < 4; i++)
            ok &= o[i] == y[i] && y[i] >= 0.0f; /* o is fused: its name gives the rectified values */
        CHECK_MSG(ok, "%s", "fused and unfused layers give what the unfused network does");
    }
    for (int i = 0; i < 4; i++)
        incept_tensor_free(&outs[i]);
done:
    incept_session_free(s);
    incept_model_free(m);
}

int main(void)
{
    test_fused_activations();
    test_table1();
    test_dot();
    test_variants();
    test_weights_file();
    return test_summary("test_graph");
}
