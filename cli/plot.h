/* plot.h — the entry point of the plotting module (plot.c, built as libincept_plot.so), which
 * plot_loader.c finds by this name. */
#ifndef INCEPT_CLI_PLOT_H
#define INCEPT_CLI_PLOT_H

#define INCEPT_PLOT_MODULE "libincept_plot.so"
#define INCEPT_PLOT_SYMBOL "incept_plot_training"

/* Draws loss and test accuracy per epoch into a PNG; returns 0 or 1 (after a message). */
int incept_plot_training(const char *path, const double *loss, const double *accuracy, int epochs);
typedef int (*incept_plot_fn)(const char *path, const double *loss, const double *accuracy, int epochs);

#define INCEPT_PARETO_SYMBOL "incept_plot_pareto"
/* Accuracy (y) against multiply-adds (x, log scale) for n models, each of family[i] (an index
 * into names, at most 8 families): points, and each family's Pareto front (the models no
 * cheaper one of the family beats) joined; returns 0 or 1 (after a message). */
int incept_plot_pareto(const char *path, const char *title, const double *x, const double *y,
                       const int *family, int n, const char *const *names, int families);
typedef int (*incept_pareto_fn)(const char *path, const char *title, const double *x,
                                const double *y, const int *family, int n,
                                const char *const *names, int families);

#endif
