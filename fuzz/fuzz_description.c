/* fuzz_description.c — libFuzzer harness: a network description from text
 * (incept_model_parse_description), then a bounded forward pass of what it describes and one
 * training step. */
#include <stddef.h>
#include <stdint.h>

#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* smaller than the other harnesses' limit: text describes big models in a few bytes, and
     * building one of 2^22 parameters under the sanitizers takes the run's time */
    incept_set_limit(INCEPT_LIMIT_PARAMETERS, (size_t)1 << 18);
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    incept_model *m = NULL;
    if (incept_model_parse_description(text, "fuzz.incept", &m) == INCEPT_OK) {
        fuzz_run(m);
        fuzz_train_step(m);
        incept_model_free(m);
    }
    free(text);
    return 0;
}
