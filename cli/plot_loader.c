/* plot_loader.c — cli_plot: loads the plotting module (plot.c, libincept_plot.so) from the
 * folder of the running incept program the first time a plot is asked for, so that only
 * `train --plot` maps cairo and its X11 and font libraries. */
#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "plot.h"

int cli_plot(const char *path, const double *loss, const double *accuracy, int epochs)
{
    static incept_plot_fn plot;
    if (!plot) {
        char module[PATH_MAX + 64];
        ssize_t n = readlink("/proc/self/exe", module, PATH_MAX);
        module[n > 0 ? n : 0] = '\0';
        char *slash = strrchr(module, '/');
        if (slash)
            snprintf(slash + 1, sizeof module - (size_t)(slash + 1 - module), "%s", INCEPT_PLOT_MODULE);
        else
            snprintf(module, sizeof module, "%s", INCEPT_PLOT_MODULE);
        void *handle = dlopen(module, RTLD_NOW | RTLD_LOCAL);
        void *symbol = handle ? dlsym(handle, INCEPT_PLOT_SYMBOL) : NULL;
        if (!symbol) {
            fprintf(stderr, "incept: %s: plotting needs %s beside the incept program: %s\n", path,
                    INCEPT_PLOT_MODULE, dlerror());
            if (handle)
                dlclose(handle);
            return 1;
        }
        memcpy(&plot, &symbol, sizeof plot); /* (ISO C has no function-pointer cast from void *) */
    }
    return plot(path, loss, accuracy, epochs);
}
