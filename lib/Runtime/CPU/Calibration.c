/*===- Calibration.c - Statistics of calibration taps ----------------------===*
 *
 * A model compiled with `lowbitc --instrument-calibration` calls
 * lowbit_calibration_record for each lowbit.calibration_tap as it runs
 * (tap id = the tap's position in the graph): the rows of the tapped
 * activation are folded into per-channel statistics, in double precision,
 * for all instances and threads of the process. The C API below reads them
 * (include/lowbit-c/Runtime.h).
 *===----------------------------------------------------------------------===*/

#include "lowbit-c/Runtime.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
  int64_t channels, tokens;
  double *abs_max, *sum_abs, *xtx; /* [channels], [channels], [channels^2] */
} tap_stats;

static pthread_mutex_t mutex = PTHREAD_MUTEX_INITIALIZER;
static tap_stats *taps;
static int64_t tap_count;

extern const char lowbit_calibration_tap_list[] __attribute__((weak));

/* Grows the table to hold `id` and sets up its channels; 0 if that fails or
 * the tap was seen with another channel count. */
static int prepare(int64_t id, int64_t channels) {
  if (id >= tap_count) {
    tap_stats *grown = realloc(taps, (size_t)(id + 1) * sizeof *grown);
    if (!grown)
      return 0;
    memset(grown + tap_count, 0, (size_t)(id + 1 - tap_count) * sizeof *grown);
    taps = grown;
    tap_count = id + 1;
  }
  tap_stats *t = &taps[id];
  if (t->channels == 0) {
    t->abs_max = calloc((size_t)channels, sizeof(double));
    t->sum_abs = calloc((size_t)channels, sizeof(double));
    t->xtx = calloc((size_t)(channels * channels), sizeof(double));
    if (!t->abs_max || !t->sum_abs || !t->xtx) {
      free(t->abs_max), free(t->sum_abs), free(t->xtx);
      memset(t, 0, sizeof *t);
      return 0;
    }
    t->channels = channels;
  }
  return t->channels == channels;
}

void lowbit_calibration_record(int64_t id, int64_t address, int64_t offset, int64_t rows,
                               int64_t channels, int64_t row_stride) {
  if (id < 0 || rows <= 0 || channels <= 0)
    return;
  const float *x = (const float *)(intptr_t)address + offset;
  pthread_mutex_lock(&mutex);
  if (prepare(id, channels)) {
    tap_stats *t = &taps[id];
    for (int64_t r = 0; r < rows; ++r) {
      const float *row = x + r * row_stride;
      for (int64_t i = 0; i < channels; ++i) {
        double v = row[i];
        t->abs_max[i] = fmax(t->abs_max[i], fabs(v));
        t->sum_abs[i] += fabs(v);
        double *h = t->xtx + i * channels;
        for (int64_t j = 0; j < channels; ++j)
          h[j] += v * row[j];
      }
    }
    t->tokens += rows;
  }
  pthread_mutex_unlock(&mutex);
}

const char *lowbit_calibration_taps(void) {
  return &lowbit_calibration_tap_list ? lowbit_calibration_tap_list : NULL;
}

lowbit_status lowbit_calibration_stats(int64_t id, int64_t *channels, int64_t *tokens,
                                       double *abs_max, double *mean_abs, double *xtx) {
  if (!channels || !tokens)
    return LOWBIT_INVALID_ARGUMENT;
  pthread_mutex_lock(&mutex);
  lowbit_status status = LOWBIT_OK;
  if (id < 0 || id >= tap_count || taps[id].channels == 0) {
    *channels = 0;
    *tokens = 0;
  } else {
    const tap_stats *t = &taps[id];
    *channels = t->channels;
    *tokens = t->tokens;
    size_t n = (size_t)t->channels;
    if (abs_max)
      memcpy(abs_max, t->abs_max, n * sizeof(double));
    if (mean_abs)
      for (size_t i = 0; i < n; ++i)
        mean_abs[i] = t->tokens ? t->sum_abs[i] / (double)t->tokens : 0.0;
    if (xtx)
      memcpy(xtx, t->xtx, n * n * sizeof(double));
  }
  pthread_mutex_unlock(&mutex);
  return status;
}

void lowbit_calibration_reset(void) {
  pthread_mutex_lock(&mutex);
  for (int64_t i = 0; i < tap_count; ++i) {
    free(taps[i].abs_max), free(taps[i].sum_abs), free(taps[i].xtx);
  }
  free(taps);
  taps = NULL;
  tap_count = 0;
  pthread_mutex_unlock(&mutex);
}
