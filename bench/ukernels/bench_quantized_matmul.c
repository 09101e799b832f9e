/*===- bench_quantized_matmul.c - Time one quantized micro-kernel ---------===*
 *
 *   build/bin/lowbit-bench-ukernels M N K GROUP [VARIANT] [a8|a32] [zeros] [REPS]
 *
 * Calls one variant of lowbit_uk_quantized_matmul_f32 (vnni, avx2-int8,
 * avx512, avx2 or reference; default vnni where the CPU has it, else
 * avx2-int8) on one layer of random 4-bit levels stored two per byte (as
 * lowbit-lower-to-ukernels packs them for int8 activations), M rows of
 * activations (int8 activations by default, a32: fp32), symmetric unless
 * `zeros`, one thread, the same weight every call (so from cache when it
 * fits). Prints the best and the median of REPS calls (default 20) and the
 * multiply-adds per second. The kernel-level figures of docs/Quantization.md
 * come from this; model-level ones from the Python scripts in bench/.
 *===----------------------------------------------------------------------===*/

#include "UKernels.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef void (*variant_fn)(const lowbit_uk_quantized_matmul_f32_params *, float *);

static void reference(const lowbit_uk_quantized_matmul_f32_params *p, float *workspace) {
  (void)workspace;
  lowbit_uk_quantized_matmul_f32_reference(p);
}

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int by_value(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

int main(int argc, char **argv) {
  if (argc < 5 || strcmp(argv[1], "--help") == 0) {
    fprintf(stderr,
            "usage: %s M N K GROUP [vnni|avx2-int8|avx512|avx2|reference] [a8|a32] "
            "[zeros] [REPS]\n",
            argv[0]);
    return argc < 5 ? 2 : 0;
  }
  int64_t m = atoll(argv[1]), n = atoll(argv[2]), k = atoll(argv[3]), g = atoll(argv[4]);
  int vnni = __builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512bw");
  const char *name = vnni ? "vnni" : "avx2-int8";
  int int8 = 1, zeros = 0, reps = 20;
  for (int i = 5; i < argc; ++i) {
    if (strcmp(argv[i], "a32") == 0)
      int8 = 0;
    else if (strcmp(argv[i], "a8") == 0)
      int8 = 1;
    else if (strcmp(argv[i], "zeros") == 0)
      zeros = 1;
    else if (atoi(argv[i]) > 0)
      reps = atoi(argv[i]);
    else
      name = argv[i];
  }
  variant_fn fn = NULL;
  int supported = 1;
  if (strcmp(name, "vnni") == 0) {
    fn = lowbit_uk_quantized_matmul_f32_vnni;
    supported = vnni;
  } else if (strcmp(name, "avx2-int8") == 0) {
    fn = lowbit_uk_quantized_matmul_f32_avx2_int8;
    supported = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  } else if (strcmp(name, "avx512") == 0) {
    fn = lowbit_uk_quantized_matmul_f32_avx512;
    supported = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                __builtin_cpu_supports("avx512vl");
  } else if (strcmp(name, "avx2") == 0) {
    fn = lowbit_uk_quantized_matmul_f32_avx2;
    supported = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  } else if (strcmp(name, "reference") == 0) {
    fn = reference;
  }
  if (!fn || m < 1 || n < 1 || k < 2 || g < 2 || g % 2 || k % 2) {
    fprintf(stderr, "%s: bad arguments (M, N >= 1; K and GROUP even; a known variant)\n", argv[0]);
    return 2;
  }
  if (!supported) {
    fprintf(stderr, "%s: this CPU cannot run the %s variant\n", argv[0], name);
    return 1;
  }
  int64_t groups = (k + g - 1) / g;
  float *a = malloc(sizeof(float) * (size_t)(m * k)),
        *s = malloc(sizeof(float) * (size_t)(n * groups));
  float *c = calloc((size_t)(m * n), sizeof(float));
  int8_t *q = malloc((size_t)(n * k / 2)), *z = malloc((size_t)(n * groups));
  float *workspace = aligned_alloc(64, sizeof(float) * (size_t)LOWBIT_UK_MATMUL_F32_WORKSPACE);
  double *times = malloc(sizeof(double) * (size_t)reps);
  if (!a || !s || !c || !q || !z || !workspace || !times) {
    fprintf(stderr, "%s: out of memory\n", argv[0]);
    return 1;
  }
  srand(1);
  for (int64_t i = 0; i < m * k; ++i)
    a[i] = (float)(rand() % 255 - 127) * 0.01f; /* already on an int8 grid */
  for (int64_t i = 0; i < n * groups; ++i) {
    s[i] = 0.01f + 0.001f * (float)(rand() % 16);
    z[i] = (int8_t)(rand() % 16 - 8);
  }
  for (int64_t i = 0; i < n * k / 2; ++i)
    q[i] = (int8_t)rand();
  lowbit_uk_quantized_matmul_f32_params p;
  memset(&p, 0, sizeof p);
  p.a = a, p.a_row_stride = k, p.a_col_stride = 1;
  p.q = q, p.q_row_stride = k / 2, p.q_col_stride = 1;
  p.scales = s, p.s_row_stride = groups, p.s_col_stride = 1;
  p.zeros = zeros ? z : NULL, p.z_row_stride = groups, p.z_col_stride = 1;
  p.c = c, p.c_row_stride = n, p.c_col_stride = 1;
  p.m = m, p.n = n, p.k = k, p.group_size = g, p.level_bits = 4;
  p.activation_bits = int8 ? 8 : 0;
  fn(&p, workspace); /* warm-up */
  for (int r = 0; r < reps; ++r) {
    double t = now();
    fn(&p, workspace);
    times[r] = now() - t;
  }
  qsort(times, (size_t)reps, sizeof(double), by_value);
  double best = times[0], median = times[reps / 2];
  printf("%s %s m=%lld n=%lld k=%lld g=%lld%s: best %.3f ms, median %.3f ms, %.1f GMAC/s (best)\n",
         name, int8 ? "a8" : "a32", (long long)m, (long long)n, (long long)k, (long long)g,
         zeros ? " zeros" : "", best * 1e3, median * 1e3, (double)(m * n * k) / best / 1e9);
  return 0;
}
