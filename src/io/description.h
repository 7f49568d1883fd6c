/* description.h — what an op's description keyword (its from_description hook, ops/op.h) reads
 * its attributes with: one line of the description format (description.c), its `key value`
 * pairs and positional tokens. Every read marks its tokens used; a token no reader used is an
 * error naming it. Errors name the file and line. Internal to the library. */
#ifndef INCEPT_IO_DESCRIPTION_H
#define INCEPT_IO_DESCRIPTION_H

#include "incept.h"

typedef struct incept_desc_line incept_desc_line;

/* `key N` (N >= min) or `key X` when the line has it; *out unchanged otherwise. */
incept_status incept_desc_int(incept_desc_line *l, const char *key, int min, int *out);
incept_status incept_desc_float(incept_desc_line *l, const char *key, float *out);
/* Positional token i (0: the first after kind and name) as a number; `what` says what it is. */
incept_status incept_desc_positional_float(incept_desc_line *l, int i, const char *what, float *out);
/* "T,L,B,R" or "P" at positional token i: padding. */
incept_status incept_desc_positional_pads(incept_desc_line *l, int i, int pad[4]);
/* A syntax error on this line ("file:line: " + the message). */
incept_status incept_desc_error(const incept_desc_line *l, const char *message);

#endif
