/* rng.h — a small seeded generator (xoshiro256**, seeded by splitmix64) so that weight
 * initialization, dropout and shuffling are reproducible on every platform. */
#ifndef INCEPT_CORE_RNG_H
#define INCEPT_CORE_RNG_H

#include <stdint.h>

typedef struct {
    uint64_t s[4];
} incept_rng;

void incept_rng_seed(incept_rng *rng, uint64_t seed);
uint64_t incept_rng_next(incept_rng *rng);
/* Uniform in [0, 1). */
float incept_rng_uniform(incept_rng *rng);
/* Standard normal (Box-Muller). */
float incept_rng_normal(incept_rng *rng);

#endif
