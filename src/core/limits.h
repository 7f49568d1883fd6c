/* limits.h — the process-wide limits on what a file may make the library allocate (incept.h's
 * incept_set_limit): read by the loaders before they allocate. Internal to the library. */
#ifndef INCEPT_CORE_LIMITS_H
#define INCEPT_CORE_LIMITS_H

#include <stddef.h>

#include "incept.h"

/* The limit now in force (the default where none was set). */
size_t incept_limit(incept_limit_kind which);

#endif
