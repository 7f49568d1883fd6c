/* train.h — what the library's training files share with the rest of it: the bounds of a
 * training state and its check (trainer.c), used by the trainer, the loader and checkpoint
 * loading alike. Internal to the library. */
#ifndef INCEPT_TRAIN_TRAIN_H
#define INCEPT_TRAIN_TRAIN_H

#include "incept.h"

#define INCEPT_BATCH_MAX (1 << 20)     /* images per step */
#define INCEPT_CROP_PAD_MAX (1 << 16)  /* pixels a random crop may shift */

/* Every field of a training state within its range (a checkpoint's state is checked as any
 * input is, not trusted because its checksum matches); else st, the message naming `what`. */
incept_status incept_train_state_check(const incept_train_state *t, const char *what, incept_status st);

/* Top-1 and top-5 hits over samples [begin, end) of a dataset, and how many were evaluated
 * (evaluate.c; incept_session_evaluate is this over all of them). */
/* flips: each image's logits averaged with its mirror image's (test-time augmentation). */
incept_status incept_evaluate_range(incept_session *session, const incept_dataset *data, int batch,
                                    int flips, int begin, int end, long *hits1, long *hits5,
                                    long *total);

#endif
