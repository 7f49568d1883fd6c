/* winograd_avx512.c — winograd.c compiled with AVX-512F, so its transforms run 16 lanes wide.
 * Called only when the AVX-512 SGEMM kernel is in use (CPUID said yes). */
#define INCEPT_WINOGRAD_ENTRY incept_winograd_conv_avx512
#include "winograd.c"
