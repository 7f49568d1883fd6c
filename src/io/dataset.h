/* dataset.h — what a dataset is inside the library (dataset.c: the object and its samples;
 * dataset_files.c: reading idx, raw and image folders). Internal. */
#ifndef INCEPT_IO_DATASET_H
#define INCEPT_IO_DATASET_H

#include "incept.h"

struct incept_dataset {
    int n, c, h, w, classes;
    float *images; /* n x c x h x w; NULL for an image folder */
    int *labels;   /* n */
    /* an image folder: the files, the class (subfolder) names, how to prepare an image */
    char **paths;
    char **class_names;
    incept_preprocess preprocess;
};

#endif
