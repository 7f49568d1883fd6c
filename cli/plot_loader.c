/* plot_loader.c — cli_plot: loads the plotting module (plot.c, libincept_plot.so) the first time
 * a plot is asked for, so that only `train --plot` maps cairo and its X11 and font libraries:
 * from the folder of the running incept program (a build tree), else from where it is installed
 * relative to that folder (INCEPT_PLOT_DIR, ../lib/incept). A build without plotting
 * (INCEPT_WITH_PLOT=OFF) says so. */
#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "plot.h"

#ifndef INCEPT_WITH_PLOT
#define INCEPT_WITH_PLOT 1
#endif
#ifndef INCEPT_PLOT_DIR
#define INCEPT_PLOT_DIR "../lib/incept" /* from the program's folder */
#endif

static incept_plot_fn plot;
static incept_pareto_fn pareto;

/* dlopen of the module in folder `dir` of the program's own folder ("": that folder). */
static void *open_module(const char *dir)
{
    char module[PATH_MAX + 128];
    ssize_t n = readlink("/proc/self/exe", module, PATH_MAX);
    module[n > 0 ? n : 0] = '\0';
    char *slash = strrchr(module, '/');
    if (!slash)
        return NULL;
    snprintf(slash + 1, sizeof module - (size_t)(slash + 1 - module), "%s%s%s", dir, *dir ? "/" : "",
             INCEPT_PLOT_MODULE);
    return dlopen(module, RTLD_NOW | RTLD_LOCAL);
}

int cli_plot_check(const char *path)
{
    if (!INCEPT_WITH_PLOT) {
        fprintf(stderr, "incept: %s: this build has no plotting (it was configured with "
                "INCEPT_WITH_PLOT=OFF)\n", path);
        return 1;
    }
    if (plot)
        return 0;
    void *handle = open_module("");
    if (!handle)
        handle = open_module(INCEPT_PLOT_DIR);
    void *symbol = handle ? dlsym(handle, INCEPT_PLOT_SYMBOL) : NULL;
    void *second = handle ? dlsym(handle, INCEPT_PARETO_SYMBOL) : NULL;
    if (!symbol || !second) {
        fprintf(stderr, "incept: %s: plotting needs %s beside the incept program or in %s from it: "
                "%s\n", path, INCEPT_PLOT_MODULE, INCEPT_PLOT_DIR, dlerror());
        if (handle)
            dlclose(handle);
        return 1;
    }
    memcpy(&plot, &symbol, sizeof plot); /* (ISO C has no function-pointer cast from void *) */
    memcpy(&pareto, &second, sizeof pareto);
    return 0;
}

int cli_plot(const char *path, const double *loss, const double *accuracy, int epochs)
{
    if (cli_plot_check(path))
        return 1;
    return plot(path, loss, accuracy, epochs);
}

int cli_pareto(const char *path, const char *title, const double *x, const double *y,
               const int *family, int n, const char *const *names, int families)
{
    if (cli_plot_check(path))
        return 1;
    return pareto(path, title, x, y, family, n, names, families);
}
