/* test_grow.c — growing Inception modules from activation statistics (incept_grow_network): on a
 * small synthetic task (three classes of 12x12 images told apart by where a blob lies) it
 * grows modules on a stem, each with the comment saying what chose it; the result parses,
 * stays within the multiply-add budget, trains, and is the same for the same seed; bad options
 * are refused naming them. */
#include <string.h>
#include <unistd.h>

#include "incept.h"
#include "test.h"

#define IMAGES 384
#define SIDE 12

static incept_dataset *blobs(void)
{
    static float x[IMAGES * SIDE * SIDE], y[IMAGES];
    unsigned state = 7;
    for (int i = 0; i < IMAGES; i++) {
        int k = i % 3, cy = 3 + 3 * k, cx = 8 - 2 * k;
        for (int p = 0; p < SIDE * SIDE; p++) {
            state = state * 1103515245u + 12345u;
            float noise = (float)((state >> 16) & 0x7fff) / 32768.0f - 0.5f;
            int dy = p / SIDE - cy, dx = p % SIDE - cx;
            x[i * SIDE * SIDE + p] = (dy * dy + dx * dx <= 4 ? 1.0f : 0.0f) + 0.5f * noise;
        }
        y[i] = (float)k;
    }
    FILE *f = fopen("/tmp/incept_grow_x", "wb");
    fwrite(x, sizeof x, 1, f);
    fclose(f);
    f = fopen("/tmp/incept_grow_y", "wb");
    fwrite(y, sizeof y, 1, f);
    fclose(f);
    incept_dataset *d = NULL;
    CHECK_OK(incept_dataset_load_raw("/tmp/incept_grow_x", "/tmp/incept_grow_y", 1, SIDE, SIDE, &d));
    unlink("/tmp/incept_grow_x");
    unlink("/tmp/incept_grow_y");
    return d;
}

static const char *stem = "input x 1 12 12\nconv c1 8 3x3 pad 1 relu bn\n";

static char *grow(const incept_dataset *d, const char *stages, long long budget)
{
    incept_grow_options o = {.stem = stem, .stages = stages, .budget = budget, .sample = 48,
                             .steps = 6, .threads = 2, .seed = 3};
    char *text = NULL;
    CHECK_MSG(incept_grow_network(d, &o, &text) == INCEPT_OK, "grow %s: %s", stages, incept_last_error());
    return text;
}

static void test_grown(const incept_dataset *d)
{
    const long long budget = 400000;
    char *text = grow(d, "1,1", budget), *again = grow(d, "1,1", budget);
    if (!text || !again) {
        free(text), free(again);
        return;
    }
    CHECK_MSG(strcmp(text, again) == 0, "two growths from one seed differ:\n%s\n--\n%s", text, again);
    CHECK(strstr(text, "# grown_3a grown from c1/bn (8 channels, 12x12, 48 images)") != NULL);
    CHECK(strstr(text, "\ninception grown_3a ") && strstr(text, "\nmaxpool grown_pool3 3x3 stride 2 ceil\n"));
    CHECK(strstr(text, "# grown_4a grown from grown_pool3") && strstr(text, "\ninception grown_4a "));
    CHECK(strstr(text, "\nfc classifier 3\n") != NULL);
    incept_model *m = NULL;
    CHECK_MSG(incept_model_parse_description(text, "grown", &m) == INCEPT_OK, "%s", incept_last_error());
    if (m) {
        incept_totals t = {0};
        CHECK_OK(incept_model_summary(m, NULL, &t));
        CHECK_MSG(t.multiply_adds <= budget && t.multiply_adds > 20000, /* the stem alone: 10,400 */
                  "grown network: %lld multiply-adds for a budget of %lld", t.multiply_adds, budget);
        incept_session *s = NULL; /* it trains */
        CHECK_OK(incept_session_new(m, &s));
        float x[4 * SIDE * SIDE] = {0}, loss = 0.0f;
        int labels[4] = {0, 1, 2, 0};
        memcpy(x, incept_dataset_images(d), sizeof x);
        CHECK_OK(incept_session_train_step(s, x, labels, 4, &loss));
        CHECK(loss > 0.0f && loss < 10.0f);
        incept_session_free(s);
        incept_model_free(m);
    }
    free(text), free(again);
}

static void test_refused(const incept_dataset *d)
{
    char *text = NULL;
    const char *bad_stages[] = {"0", "1,", "a", "1,17", ",1"};
    for (size_t i = 0; i < sizeof bad_stages / sizeof bad_stages[0]; i++) {
        incept_grow_options o = {.stem = stem, .stages = bad_stages[i]};
        CHECK_MSG(incept_grow_network(d, &o, &text) == INCEPT_ERR_ARG && !text, "stages '%s' taken",
                  bad_stages[i]);
        CHECK(strstr(incept_last_error(), "stages") != NULL);
    }
    incept_grow_options o = {.stem = stem, .threshold = 1.5};
    CHECK(incept_grow_network(d, &o, &text) == INCEPT_ERR_ARG && strstr(incept_last_error(), "threshold"));
    o = (incept_grow_options){.stem = stem, .budget = 10};
    CHECK(incept_grow_network(d, &o, &text) == INCEPT_ERR_ARG && strstr(incept_last_error(), "budget"));
    o = (incept_grow_options){.stem = "input x 1 12 12\nconv c1 8 9x9 pad 0\nconv c2 8 9x9\n"};
    CHECK(incept_grow_network(d, &o, &text) == INCEPT_ERR_ARG && strstr(incept_last_error(), "stem"));
    o = (incept_grow_options){.stem = "input x 1 12 12\nconv c1 8 3x3 pad 1\nflatten f\nfc h 5\n",
                              .steps = 2, .threads = 2};
    CHECK(incept_grow_network(d, &o, &text) == INCEPT_ERR_ARG && strstr(incept_last_error(), "C x H x W"));
    o = (incept_grow_options){.stem = "input x 3 12 12\nconv c1 8 3x3 pad 1\n"}; /* not the data's */
    CHECK(incept_grow_network(d, &o, &text) != INCEPT_OK && !text);
    CHECK(incept_grow_network(d, NULL, &text) == INCEPT_ERR_ARG);
}

int main(void)
{
    if (!INCEPT_WITH_DATASETS) {
        printf("test_grow: skipped: this build reads no dataset files (INCEPT_WITH_DATASETS=OFF)\n");
        return 77;
    }
    incept_dataset *d = blobs();
    if (d) {
        test_grown(d);
        test_refused(d);
        incept_dataset_free(d);
    }
    return test_summary("test_grow");
}
