/* winograd_avx2.c — winograd.c compiled with AVX2 + FMA, so its transforms run 8 lanes wide.
 * Called only when the AVX2 SGEMM kernel is in use (CPUID said yes). */
#define INCEPT_WINOGRAD_ENTRY incept_winograd_conv_avx2
#include "winograd.c"
