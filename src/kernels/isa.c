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
#else
int incept_cpu_avx2(void) { return 0; }
int incept_cpu_avx2_fma(void) { return 0; }
int incept_cpu_avx512(void) { return 0; }
int incept_cpu_avx512_vnni(void) { return 0; }
#endif

const incept_isa_variant *incept_isa_find(const incept_isa_variant *variants, int n, const char *name)
{
    for (int i = 0; name && i < n; i++)
        if (strcmp(variants[i].name, name) == 0)
            return variants[i].supported() ? &variants[i] : NULL;
    return NULL;
}

const incept_isa_variant *incept_isa_best(const incept_isa_variant *variants, int n, const char *env)
{
    const incept_isa_variant *chosen = incept_isa_find(variants, n, env ? getenv(env) : NULL);
    for (int i = n - 1; !chosen && i >= 0; i--)
        if (variants[i].supported())
            chosen = &variants[i];
    return chosen;
}
