/* cpu.h — compiling a hot loop for wider vectors with a run-time choice: functions marked
 * INCEPT_VECTOR_CLONES get AVX-512, AVX2 and baseline copies, the loader picking the one this
 * CPU runs (GCC/Clang function multi-versioning through ifunc). Mark plain functions only: an
 * OpenMP region is outlined before cloning, so put the loop body in a marked helper. */
#ifndef INCEPT_CORE_CPU_H
#define INCEPT_CORE_CPU_H

#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define INCEPT_NO_CLONES 1 /* clang's ASan and TSan: keep one plain copy */
#endif
#endif

#if defined(__x86_64__) && defined(__GNUC__) && defined(__linux__) && !defined(__SANITIZE_ADDRESS__) && \
    !defined(INCEPT_NO_CLONES)
#define INCEPT_VECTOR_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define INCEPT_VECTOR_CLONES
#endif

#endif
