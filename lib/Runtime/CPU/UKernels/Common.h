/*===- Common.h - What the micro-kernels share ------------------------------===*
 *
 * Internal to UKernels/: target attributes, lane masks, and the threshold
 * and chunking by which the entry points split a product over threads.
 * Everything is static; the callers check the CPU (lowbit_uk_isa) first.
 *===----------------------------------------------------------------------===*/

#ifndef LOWBIT_RUNTIME_CPU_UKERNELS_COMMON_H
#define LOWBIT_RUNTIME_CPU_UKERNELS_COMMON_H

#include <immintrin.h>
#include <stdint.h>

/* Rows of A up to which the kernels take their decode path (B streamed
 * once, not packed or dequantized to a buffer). */
#define SMALL_M 4

#define INLINE static inline __attribute__((always_inline))
#define AVX512 __attribute__((target("avx512f,avx512vl,avx512bw,fma")))
#define AVX2 __attribute__((target("avx2,fma")))

static inline int64_t min64(int64_t x, int64_t y) { return x < y ? x : y; }

/* Lanes [0, width) of a 16-lane mask. */
static __mmask16 mask16(int64_t width) {
  return width >= 16 ? (__mmask16)0xffff : width <= 0 ? 0 : (__mmask16)((1u << width) - 1);
}

/* Lanes [0, width) of an 8-lane mask for maskload/maskstore. */
INLINE AVX2 __m256i mask8(int64_t width) {
  int64_t w = width < 0 ? 0 : width > 8 ? 8 : width;
  return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)w), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

/* Below this many multiply-adds a product runs on one thread: waking the
 * others costs more (tens of microseconds). */
#define PARALLEL_WORK (1 << 23)

/* `count` items in per-thread chunks of a multiple of `multiple` (whole
 * register tiles); a chunk of `count` or more means: do not split. */
static inline int64_t thread_chunk(int64_t count, int64_t threads, int64_t multiple) {
  return ((count + threads - 1) / threads + multiple - 1) / multiple * multiple;
}

#endif /* LOWBIT_RUNTIME_CPU_UKERNELS_COMMON_H */
