/* test_description.c — the network description format: what it accepts and, for each kind of
 * mistake, an error that names the source, the line and what was expected. */
#include "graph/graph.h"
#include "incept.h"
#include "test.h"

static void accepts(const char *text, int classes)
{
    incept_model *m = NULL;
    CHECK_MSG(incept_model_parse_description(text, "ok.incept", &m) == INCEPT_OK, "%s",
              incept_last_error());
    if (m) {
        int c;
        incept_model_output_dims(m, &c, NULL, NULL);
        CHECK_MSG(c == classes, "output has %d channels, expected %d", c, classes);
    }
    incept_model_free(m);
}

static void rejects(const char *text, incept_status expected, const char *fragment)
{
    incept_model *m = (incept_model *)&m;
    incept_status st = incept_model_parse_description(text, "bad.incept", &m);
    CHECK_MSG(st == expected, "status %d (%s), expected %d for:\n%s", st, incept_last_error(),
              expected, text);
    CHECK(m == NULL);
    CHECK_MSG(strstr(incept_last_error(), fragment) != NULL, "message '%s' lacks '%s'",
              incept_last_error(), fragment);
}

int main(void)
{
    accepts("input x 3 8 8\nconv c 4 3x3 pad 1 relu\nfc out 7\n", 7);
    accepts("# comments and blank lines\n\ninput x 3 8 8   # trailing\n"
            "conv a 4 1x1\nconv b 5 3x3 pad 1 from x\nconcat j from a,b\n"
            "avgpool p 2x2 stride 2 exclude-pad\nlrn n\nrelu r\npad q 1,0,1,0 value 0.5\n"
            "flatten f\ndropout d 0.5\nfc out 3 relu\nsoftmax s\n", 3);
    accepts("input x 3 8 8\nconv c 4 3x3\nconv d 6 1x7 pad 0,3,0,3\noutput c\n", 4);
    accepts("input x 4 6 6\ninception m 2 2 3 1 2 2\naux head 9\nglobalavgpool g\n", 9);

    rejects("conv c 4 3x3\n", INCEPT_ERR_FORMAT, "bad.incept:1:");
    rejects("input x 3 8 8\nconv c four 3x3\n", INCEPT_ERR_FORMAT, "bad.incept:2: expected output channels");
    rejects("input x 3 8 8\nconv c 4 3by3\n", INCEPT_ERR_FORMAT, "kernel size like 3x3");
    rejects("input x 3 8 8\n\nconvolution c 4 3x3\n", INCEPT_ERR_FORMAT, "bad.incept:3: unknown layer kind 'convolution'");
    rejects("input x 3 8 8\nconv c 4 3x3 strides 2\n", INCEPT_ERR_FORMAT, "unexpected 'strides'");
    rejects("input x 3 8 8\nconv c 4 3x3 stride\n", INCEPT_ERR_FORMAT, "'stride' needs a value");
    rejects("input x 3 8 8\nconv c 4 3x3 pad 1,2\n", INCEPT_ERR_FORMAT, "P or T,L,B,R");
    /* empty fields are not skipped: ",,,9" is no padding of 9 on every side (fuzz_description) */
    rejects("input x 3 8 8\npad p ,,,9\n", INCEPT_ERR_FORMAT, "P or T,L,B,R");
    rejects("input x 3 8 8\nconv c 4 3x3 pad 1,,1,1\n", INCEPT_ERR_FORMAT, "P or T,L,B,R");
    rejects("input x 3 8 8\nconv c 4 3x3 pad 1,1,1,1,\n", INCEPT_ERR_FORMAT, "P or T,L,B,R");
    rejects("input x 3 8 8\nconv c 4 3x3 from nowhere\n", INCEPT_ERR_FORMAT, "'nowhere', which is not defined");
    rejects("input x 3 8 8\nconv c 4 9x9\n", INCEPT_ERR_SHAPE, "bad.incept:2: c (conv): 9x9 kernel does not fit");
    rejects("input x 3 8 8\nconv c 4 3x3\nconv c 4 3x3\n", INCEPT_ERR_FORMAT, "defined twice");
    rejects("input x 3 8 8\ninception m 2 2 3 1 2\n", INCEPT_ERR_FORMAT, "expected pool proj");
    rejects("input x 3 8 8\ninception m 2 2 0 1 2 2\n", INCEPT_ERR_ARG, "reduction without its convolution");
    rejects("input x 3 8 8\nmaxpool p 3x3 stride 0\n", INCEPT_ERR_FORMAT, "'stride' expects an integer >= 1");
    rejects("input x 3 8 8\ndropout d 1.5\n", INCEPT_ERR_ARG, "dropout ratio");
    rejects("input x 3 8 8\nconv a 4 3x3\nconv b 4 1x1 from x\nconcat j from a,b\n", INCEPT_ERR_SHAPE, "input 'b' is 8x8 but 'a' is 6x6");
    rejects("input x 3 8 8\ninput y 3 8 8\n", INCEPT_ERR_FORMAT, "a second input");
    rejects("input x 0 8 8\n", INCEPT_ERR_FORMAT, "channels (an integer >= 1)");
    rejects("input x 3 8 8\n", INCEPT_ERR_FORMAT, "no layers after the input");
    rejects("", INCEPT_ERR_FORMAT, "no 'input' line");
    rejects("input x 3 8 8\nfc f 10\noutput nothing\n", INCEPT_ERR_FORMAT, "'output' names 'nothing'");

    /* mutated descriptions: a status every time, a model only when it builds cleanly (the
     * fashion net: GoogLeNet's 13M parameters would make each build slow under ASan) */
    FILE *f = fopen("models/fashion.incept", "r");
    static char text[16384], mutated[16384];
    size_t len = f ? fread(text, 1, sizeof text - 1, f) : 0;
    if (f)
        fclose(f);
    text[len] = '\0';
    unsigned s = 5;
    int built = 0, refused = 0;
    for (int trial = 0; trial < 400 && len; trial++) {
        memcpy(mutated, text, len + 1);
        for (int k = 0; k < 1 + trial % 4; k++) {
            s = s * 1664525u + 1013904223u;
            size_t at = (s >> 8) % len;
            static const char pool[] = "0123456789x ,#\nabcdefgpoolconv-";
            mutated[at] = pool[(s >> 20) % (sizeof pool - 1)];
        }
        incept_model *m = NULL;
        if (incept_model_parse_description(mutated, "mutated", &m) == INCEPT_OK) {
            built++;
            incept_model_free(m);
        } else {
            refused++;
            CHECK(m == NULL && strncmp(incept_last_error(), "mutated", 7) == 0);
        }
    }
    CHECK_MSG(built > 0 && refused > 0, "%d built, %d refused", built, refused);

    incept_model *m = NULL;
    CHECK(incept_model_load_description("models/missing.incept", &m) == INCEPT_ERR_IO);
    CHECK(strstr(incept_last_error(), "models/missing.incept") != NULL);
    return test_summary("test_description");
}
