/* variant.h — the knobs that make a variant of a described network (incept_variant in
 * incept.h, a description's `variant` lines): reading and checking them, and the widths and
 * module copies they give the description parser (description.c) and the C GoogLeNet builder
 * (googlenet.c), built by both through the same calls. Internal to the library. */
#ifndef INCEPT_NETS_VARIANT_H
#define INCEPT_NETS_VARIANT_H

#include "incept.h"
#include "nets/layers.h"

#define INCEPT_VARIANT_MAX_WIDTH 16.0f
#define INCEPT_VARIANT_MAX_ROUND 1024
#define INCEPT_VARIANT_MAX_RESOLUTION 65536
#define INCEPT_VARIANT_MAX_COPIES 16
#define INCEPT_VARIANT_DEFAULT_ROUND 8

/* Where a knob was set: not at all, by the caller (incept_variant), or on a description line. */
#define INCEPT_KNOB_UNSET 0
#define INCEPT_KNOB_FROM_CALLER (-1)

typedef struct {
    char *module; /* an Inception module of the description */
    int copies;   /* 0: dropped; N: built N times in sequence */
} incept_depth_entry;

typedef struct incept_knobs {
    float width;          /* 1: as written */
    int round_to;         /* INCEPT_VARIANT_DEFAULT_ROUND unless set */
    int input_h, input_w; /* 0: as written */
    incept_depth_entry *depth;
    int n_depth;
    int n_split;          /* 0: as written; 1: the same shares at every module; 2: first, last */
    float split[2][4];    /* shares of 1x1, 3x3, 5x5, pool projection; each set sums to 1 */
    /* INCEPT_KNOB_UNSET, INCEPT_KNOB_FROM_CALLER or the line that set it, per knob */
    int width_from, round_from, resolution_from, depth_from, split_from;
} incept_knobs;

void incept_knobs_init(incept_knobs *k);
void incept_knobs_free(incept_knobs *k);
int incept_knobs_any(const incept_knobs *k);
/* The caller's variant (NULL: none) into k; a bad value fails with INCEPT_ERR_ARG naming it. */
incept_status incept_knobs_from_variant(incept_knobs *k, const incept_variant *v);
/* `variant KEY VALUE` on description line `line`: INCEPT_ERR_FORMAT naming the knob (the
 * caller prefixes the file and line); a knob set twice in one file is an error too. */
incept_status incept_knobs_set(incept_knobs *k, const char *key, const char *value, int line);
/* Every knob `over` sets replaces k's; what moves is taken out of `over`. */
void incept_knobs_override(incept_knobs *k, incept_knobs *over);
/* Checks that every depth entry names one of the description's Inception modules. */
incept_status incept_knobs_check_modules(const incept_knobs *k, const char *const *modules,
                                         int n_modules, const char *source);

/* How many times the module is built (1 unless depth says otherwise; 0: dropped). */
int incept_knobs_copies(const incept_knobs *k, const char *module);
/* A filter bank of `channels` after the width multiplier, for layer `layer` (in messages). */
incept_status incept_knobs_scale(const incept_knobs *k, const char *layer, int channels, int *out);
/* Module `name`'s widths, as written in *w, after width and split: the index-th of `count`
 * Inception modules built. */
incept_status incept_knobs_module(const incept_knobs *k, const char *name, int index, int count,
                                  incept_inception_widths *w);
/* Inception module `name` as the knobs build it: its widths as written after width and split,
 * built as many times as depth says (copies NAME, NAME_2, ...), each reading the one before;
 * *index counts the modules built so far, of `count`. Dropped, *out is `input`. */
incept_status incept_knobs_build_module(const incept_knobs *k, incept_builder *b, const char *name,
                                        int input, const incept_inception_widths *written,
                                        int *index, int count, int *out);
/* An auxiliary classifier on `input`, its 128-channel conv and 1024-feature fc after the width
 * knob, its classes kept. */
incept_status incept_knobs_build_aux(const incept_knobs *k, incept_builder *b, const char *name,
                                     int input, int classes, int *out);
/* The knobs as description lines ("variant width 0.5 round 8\n..."; the resolution as the input
 * came out, input_h x input_w), malloc'd; NULL when out of memory. */
char *incept_knobs_lines(const incept_knobs *k, int input_h, int input_w);

#endif
