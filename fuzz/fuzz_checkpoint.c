/* fuzz_checkpoint.c — libFuzzer harness: a checkpoint from bytes (incept_checkpoint_load), with
 * its CRC recomputed first so that mutations reach the records and the training state rather
 * than stopping at the checksum; then, where it loads, one training step of the restored session
 * and a save of it. */
#include <stddef.h>
#include <stdint.h>

#include <zlib.h>

#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    incept_set_limit(INCEPT_LIMIT_PARAMETERS, FUZZ_MAX_PARAMS);
    unsigned char *bytes = malloc(size + 1);
    if (!bytes)
        return 0;
    memcpy(bytes, data, size);
    if (size >= 16) { /* the last four bytes: the CRC of the rest, little-endian */
        uint32_t crc = (uint32_t)crc32(0L, bytes, (uInt)(size - 4));
        memcpy(bytes + size - 4, &crc, 4);
    }
    char path[256], saved[300];
    if (fuzz_write_file(bytes, size, ".ckpt", path, sizeof path)) {
        incept_model *m = NULL;
        incept_session *s = NULL;
        incept_train_state state;
        if (incept_checkpoint_load(path, &m, &s, &state) == INCEPT_OK) {
            snprintf(saved, sizeof saved, "%s.saved", path);
            incept_checkpoint_save(s, &state, saved);
            remove(saved);
            incept_session_free(s);
            fuzz_train_step(m);
            incept_model_free(m);
        }
        remove(path);
    }
    free(bytes);
    return 0;
}

#ifdef FUZZ_SEED_MAIN
/* Writes fuzz/corpus/checkpoint/seed.ckpt: a tiny description model after one SGD step. */
int main(int argc, char **argv)
{
    const char *out = argc > 1 ? argv[1] : "fuzz/corpus/checkpoint/seed.ckpt";
    incept_model *m = NULL;
    incept_session *s = NULL;
    if (incept_model_parse_description("input x 1 6 6\nconv c 2 3x3 pad 1 relu\nglobalavgpool g\n"
                                       "flatten f\nfc out 3\n", "seed.incept", &m) ||
        incept_session_new(m, &s))
        return 1;
    float x[2 * 36] = {0.5f, -1.0f, 2.0f};
    int labels[2] = {1, 2};
    float loss;
    const incept_sgd sgd = {0.1f, 0.9f, 1e-4f, 0};
    incept_train_state state = {.step = 1, .total_steps = 4, .seed = 3, .batch = 2, .shuffle = 1,
                                .aux_weight = 0.3f, .sgd = sgd, .schedule = "cosine"};
    int bad = incept_session_train_step(s, x, labels, 2, &loss) || incept_session_sgd_step(s, &sgd) ||
              incept_checkpoint_save(s, &state, out);
    incept_session_free(s);
    incept_model_free(m);
    return bad;
}
#endif
