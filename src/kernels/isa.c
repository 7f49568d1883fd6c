/* isa.c — run-time choice among a kernel family's instruction-set variants (isa.h). */
#include <stdlib.h>
#include <string.h>

#include "kernels/isa.h"

#if defined(__x86_64__) || defined(__i386__)
#define X86 1
#endif

int incept_cpu_any(void) { return 1; }

#ifdef X86
int incept_cpu_avx2(void) { return __builtin_cpu_init(), __builtin_cpu_supports("avx2"); }
int incept_cpu_avx2_fma(void) { return incept_cpu_avx2() && __builtin_cpu_supports("fma"); }
int incept_cpu_avx512(void) { return __builtin_cpu_init(), __builtin_cpu_supports("avx512f"); }
int incept_cpu_avx512_vnni(void)
{
    return incept_cpu_avx512() && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vnni");
}
int incept_cpu_avx512_bf16(void)
{
    return incept_cpu_avx512() && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
           __builtin_cpu_supports("avx512bf16");
}
#else
int incept_cpu_avx512_bf16(void) { return 0; }
int incept_cpu_avx2(void) { return 0; }
int incept_cpu_avx2_fma(void) { return 0; }
int incept_cpu_avx512(void) { return 0; }
int incept_cpu_avx512_vnni(void) { return 0; }
#endif

/* The variant named `name` when this CPU supports it, else NULL. */
static const incept_isa_variant *find(const incept_isa_family *f, const char *name)
{
    for (int i = 0; name && i < f->n; i++)
        if (strcmp(f->variants[i].name, name) == 0)
            return f->variants[i].supported() ? &f->variants[i] : NULL;
    return NULL;
}

static const incept_isa_variant *current(incept_isa_family *f)
{
    const incept_isa_variant *v = f->forced;
    if (v)
        return v;
    if (!(v = f->chosen)) {
        v = find(f, f->env ? getenv(f->env) : NULL);
        for (int i = f->n - 1; !v && i >= 0; i--)
            if (f->variants[i].supported())
                v = &f->variants[i];
        f->chosen = v;
    }
    return v;
}

const void *incept_isa_kernels(incept_isa_family *f) { return current(f)->kernels; }

const char *incept_isa_name(incept_isa_family *f) { return current(f)->name; }

int incept_isa_force(incept_isa_family *f, const char *name)
{
    const incept_isa_variant *v = find(f, name);
    if (name && !v)
        return 0;
    f->forced = v;
    return 1;
}
