/* plot.h — the entry point of the plotting module (plot.c, built as libincept_plot.so), which
 * plot_loader.c finds by this name. */
#ifndef INCEPT_CLI_PLOT_H
#define INCEPT_CLI_PLOT_H

#define INCEPT_PLOT_MODULE "libincept_plot.so"
#define INCEPT_PLOT_SYMBOL "incept_plot_training"

/* Draws loss and test accuracy per epoch into a PNG; returns 0 or 1 (after a message). */
int incept_plot_training(const char *path, const double *loss, const double *accuracy, int epochs);
typedef int (*incept_plot_fn)(const char *path, const double *loss, const double *accuracy, int epochs);

#endif
