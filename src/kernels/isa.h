/* isa.h — choosing one of a kernel family's per-instruction-set variants at run time (gemm.c's
 * SGEMM micro-kernels, qgemm.c's int8 ones): the fastest the CPU supports unless an environment
 * variable names another it supports, or a test forces one. Each family lists its variants from
 * the portable one (always supported) to the fastest. */
#ifndef INCEPT_KERNELS_ISA_H
#define INCEPT_KERNELS_ISA_H

typedef struct {
    const char *name;      /* "generic", "avx2", "avx512", "avx512vnni" */
    int (*supported)(void); /* whether this CPU runs it (CPUID) */
    const void *kernels;   /* the family's table for it */
} incept_isa_variant;

/* The variant named `name` when this CPU supports it, else NULL. */
const incept_isa_variant *incept_isa_find(const incept_isa_variant *variants, int n, const char *name);
/* The fastest supported, or the one environment variable `env` names (if supported). */
const incept_isa_variant *incept_isa_best(const incept_isa_variant *variants, int n, const char *env);

/* CPUID checks the families' tables use (0 on other architectures). */
int incept_cpu_avx2(void);
int incept_cpu_avx2_fma(void);
int incept_cpu_avx512(void);
int incept_cpu_avx512_vnni(void);
int incept_cpu_any(void); /* 1: the portable variant */

#endif
