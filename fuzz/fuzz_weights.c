/* fuzz_weights.c — libFuzzer harness: a weights file from bytes (incept_model_load_weights_memory)
 * into a small fixed model, then a forward pass with whatever it loaded. With --seed FILE (not a
 * libFuzzer run) it writes that model's weights as a seed. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "fuzz.h"

static const char *model_text = "input x 3 8 8\nconv c 4 3x3 pad 1 relu bn\nmaxpool p 2x2 stride 2\n"
                                "flatten f\nfc o 3\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    incept_set_limit(INCEPT_LIMIT_PARAMETERS, FUZZ_MAX_PARAMS);
    static incept_model *m;
    if (!m && incept_model_parse_description(model_text, "fuzz", &m) != INCEPT_OK)
        return 0;
    if (incept_model_load_weights_memory(m, data, size, "fuzz.weights") == INCEPT_OK)
        fuzz_run(m);
    return 0;
}

#ifdef FUZZ_SEED_MAIN
int main(int argc, char **argv)
{
    incept_model *m = NULL;
    if (argc != 2 || incept_model_parse_description(model_text, "fuzz", &m) != INCEPT_OK ||
        incept_model_save_weights(m, argv[1]) != INCEPT_OK) {
        fprintf(stderr, "usage: fuzz_weights_seed OUT.weights (%s)\n", incept_last_error());
        return 1;
    }
    incept_model_free(m);
    return 0;
}
#endif
