/* passes.h — rewrites of a complete graph, run once it is built (incept_model_wrap), whatever it
 * was lowered from (a description, a C builder, ONNX). Each pass is one file. Internal. */
#ifndef INCEPT_PASSES_H
#define INCEPT_PASSES_H

#include "graph/graph.h"

/* ReLU and ReLU6 into the node before: a relu node, or a clip whose lower bound is 0, whose
 * input comes from an op that applies activations itself (conv, fc: fuses_activation) and is
 * read by nothing else becomes that node's fused activation; the activation's output name
 * stays an alias of the node's (fuse_activations.c). */
incept_status incept_pass_fuse_activations(incept_graph *g);

/* Inference batch norms (the affine nodes the ONNX importer lists in g->bn_sources) into the
 * convolution before them, where nothing else reads its output or shares its parameters; each
 * fold recorded in g->folds for export (fold_batchnorm.c). Runs before the activation fusion. */
incept_status incept_pass_fold_batchnorm(incept_graph *g);

#endif
