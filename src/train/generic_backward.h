/* generic_backward.h — the training step's calls for generic (N-d) nodes (generic_backward.c).
 * Internal to the library. */
#ifndef INCEPT_TRAIN_GENERIC_BACKWARD_H
#define INCEPT_TRAIN_GENERIC_BACKWARD_H

#include "graph/graph.h"

/* Once per training set-up: which values carry gradients to parameters, which nodes run backward. */
incept_status incept_train_generic_prepare(incept_session *s);
/* Every generic node of the plan that must run backward can (else an error naming it). */
incept_status incept_train_generic_check(const incept_session *s);
/* After the forward of a step: zeroed gradients for the generic values that carry one. */
incept_status incept_train_generic_begin(incept_session *s);
/* A generic node's backward, when it has one to run. */
incept_status incept_train_generic_backward(incept_session *s, const incept_node *n);
/* After the step: the generic values and their gradients freed. */
void incept_train_generic_end(incept_session *s);

#endif
