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

/* A family: its variants, the environment variable that may name one ("INCEPT_ISA"), and the
 * choice, made on first use (threads racing to make it make the same one). */
typedef struct {
    const incept_isa_variant *variants;
    int n;
    const char *env;
    const incept_isa_variant *_Atomic chosen, *_Atomic forced;
} incept_isa_family;

/* The kernels in use: the forced variant, else the one environment variable `env` names (if
 * this CPU runs it), else the fastest it runs. */
const void *incept_isa_kernels(incept_isa_family *f);
/* Forces variant `name` (tests compare them): 0 if unknown or this CPU lacks it; NULL goes
 * back to the automatic choice. */
int incept_isa_force(incept_isa_family *f, const char *name);
/* The name of the variant in use. */
const char *incept_isa_name(incept_isa_family *f);

/* CPUID checks the families' tables use (0 on other architectures). */
int incept_cpu_avx2(void);
int incept_cpu_avx2_fma(void);
int incept_cpu_avx512(void);
int incept_cpu_avx512_vnni(void);
int incept_cpu_avx512_bf16(void);
int incept_cpu_any(void); /* 1: the portable variant */

#endif
