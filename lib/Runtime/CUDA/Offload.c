/*===- Offload.c - A model instance's quantized products on the GPU -------===*
 *
 * The CUDA side of lib/Runtime/Offload.h. Each product the kernels take
 * (Kernels.h: the int4 GEMV for decode, the W4/W8 tensor-core GEMM beyond,
 * W8A8 with its outlier channels) runs on the device; its weights are
 * repacked on the host into the kernels' layout and uploaded the first time
 * the instance meets them (keyed by their address, which a compiled model
 * keeps for its lifetime), and stay until the instance is destroyed. The
 * activations go up and the result comes down on every product: the rest
 * of the graph still runs on the CPU.
 *===----------------------------------------------------------------------===*/

#define LOWBIT_OFFLOAD_IMPLEMENTATION
#include "../Offload.h"

#include "Kernels.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One quantized layer's constants on the device. */
typedef struct {
  const void *q, *scales, *zeros, *outlier_w; /* the host constants: the key */
  lowbit_cu_deviceptr dq, ds, dz, dow;
} device_weight;

struct lowbit_offload {
  const lowbit_cuda_driver *driver;
  device_weight *weights;
  int64_t weight_count, weight_capacity;
  lowbit_cu_deviceptr scratch; /* x, y and the W8A8 temporaries of one product */
  size_t scratch_bytes;
  float *host_y; /* the product, before it is added into C */
  size_t host_y_floats;
  float *host_x; /* x gathered, when its rows are not contiguous */
  size_t host_x_floats;
  float *host_outliers; /* a product's outlier activations, [m][outliers] */
  size_t host_outlier_floats;
  int64_t on_device, on_cpu;
  char error[512];
};

lowbit_offload *lowbit_offload_create(char *error, size_t error_size) {
  const lowbit_cuda_driver *driver = lowbit_cuda_driver_open(error, error_size);
  if (!driver)
    return NULL;
  lowbit_offload *offload = calloc(1, sizeof *offload);
  if (!offload) {
    snprintf(error, error_size, "out of memory");
    return NULL;
  }
  offload->driver = driver;
  return offload;
}

void lowbit_offload_destroy(lowbit_offload *offload) {
  if (!offload)
    return;
  const lowbit_cuda_driver *d = offload->driver;
  if (lowbit_cuda_driver_open(NULL, 0)) /* current on this thread */
    for (int64_t i = 0; i < offload->weight_count; ++i) {
      device_weight *w = &offload->weights[i];
      lowbit_cu_deviceptr all[4] = {w->dq, w->ds, w->dz, w->dow};
      for (int j = 0; j < 4; ++j)
        if (all[j])
          d->mem_free(all[j]);
    }
  if (offload->scratch)
    d->mem_free(offload->scratch);
  free(offload->weights);
  free(offload->host_y);
  free(offload->host_x);
  free(offload->host_outliers);
  free(offload);
}

const char *lowbit_offload_device_name(const lowbit_offload *offload) {
  (void)offload;
  return lowbit_cuda_device_name();
}

const char *lowbit_offload_error(const lowbit_offload *offload) {
  return offload ? offload->error : "";
}

void lowbit_offload_counts(const lowbit_offload *offload, int64_t *on_device, int64_t *on_cpu) {
  *on_device = offload ? offload->on_device : 0;
  *on_cpu = offload ? offload->on_cpu : 0;
}

/* Grows a host buffer to `count` elements of `size` bytes; 0 if out of
 * memory. */
static int reserve(void **buffer, size_t *capacity, size_t count, size_t size) {
  if (count <= *capacity)
    return 1;
  void *grown = realloc(*buffer, count * size);
  if (!grown)
    return 0;
  *buffer = grown;
  *capacity = count;
  return 1;
}

static int64_t groups_of(const lowbit_uk_quantized_matmul_f32_params *p) {
  return (p->k + p->group_size - 1) / p->group_size;
}

/* The kernel that takes `p`, or 0 (the CPU runs it). */
typedef enum { kNone, kGemv, kGemm, kW8A8 } kernel_kind;
static kernel_kind kernel_for(const lowbit_uk_quantized_matmul_f32_params *p) {
  if (lowbit_cuda_gemm_unsupported(p->m, p->n, p->k, p->group_size))
    return kNone;
  if (p->activation_bits == 8)
    return p->level_bits == 8 && !p->zeros ? kW8A8 : kNone;
  if (p->outliers)
    return kNone;
  if (p->level_bits == 4 && !lowbit_cuda_gemv_unsupported(p->m, p->n, p->k, p->group_size))
    return kGemv;
  return kGemm;
}

/* Uploads `p`'s constants in the kernels' layout (levels row-major, two
 * per byte as level + 8 for 4 bits; scales and zero points [n, groups];
 * outlier weights [n, outliers]). */
static int upload_weight(lowbit_offload *o, lowbit_cuda_call *call,
                         const lowbit_uk_quantized_matmul_f32_params *p, device_weight *w) {
  int64_t n = p->n, k = p->k, groups = groups_of(p);
  int64_t row_bytes = p->level_bits == 4 ? k / 2 : k;
  size_t q_bytes = (size_t)(n * row_bytes), s_bytes = (size_t)(n * groups) * sizeof(float);
  size_t z_bytes = p->zeros ? (size_t)(n * groups) : 0;
  size_t ow_bytes = (size_t)(n * p->outliers) * sizeof(float);
  size_t host_bytes = q_bytes + s_bytes + z_bytes + ow_bytes;
  unsigned char *host = malloc(host_bytes);
  if (!host) {
    snprintf(o->error, sizeof o->error, "out of host memory repacking a weight");
    return 0;
  }
  uint8_t *q = host;
  float *s = (float *)(host + q_bytes);
  int8_t *z = (int8_t *)(host + q_bytes + s_bytes);
  float *ow = (float *)(host + q_bytes + s_bytes + z_bytes);
  for (int64_t j = 0; j < n; ++j) {
    const int8_t *row = p->q + j * p->q_row_stride;
    if (p->level_bits == 4)
      memcpy(q + j * row_bytes, row, (size_t)row_bytes);
    else
      for (int64_t i = 0; i < k; ++i)
        q[j * row_bytes + i] = (uint8_t)row[i * p->q_col_stride];
    for (int64_t g = 0; g < groups; ++g) {
      s[j * groups + g] = p->scales[j * p->s_row_stride + g * p->s_col_stride];
      if (p->zeros)
        z[j * groups + g] = p->zeros[j * p->z_row_stride + g * p->z_col_stride];
    }
  }
  if (p->outliers)
    lowbit_cuda_gather(p->outlier_w, n, p->outliers, p->ow_col_stride, p->ow_row_stride, ow);
  /* Kept past this call: allocated outside the call's own buffers. */
  lowbit_cu_deviceptr *slots[4] = {&w->dq, &w->ds, &w->dz, &w->dow};
  size_t sizes[4] = {q_bytes, s_bytes, z_bytes, ow_bytes};
  const void *sources[4] = {q, s, z, ow};
  for (int i = 0; i < 4; ++i) {
    *slots[i] =
        lowbit_cuda_call_alloc_kept(call, sizes[i], "allocating device memory for a weight");
    lowbit_cuda_call_copy(call, *slots[i], sources[i], *slots[i] ? sizes[i] : 0);
  }
  free(host);
  return call->result == 0;
}

static device_weight *find_weight(lowbit_offload *o, lowbit_cuda_call *call,
                                  const lowbit_uk_quantized_matmul_f32_params *p) {
  for (int64_t i = 0; i < o->weight_count; ++i) {
    device_weight *w = &o->weights[i];
    if (w->q == p->q && w->scales == p->scales && w->zeros == p->zeros &&
        w->outlier_w == p->outlier_w)
      return w;
  }
  if (o->weight_count == o->weight_capacity) {
    int64_t capacity = o->weight_capacity ? 2 * o->weight_capacity : 64;
    device_weight *grown = realloc(o->weights, (size_t)capacity * sizeof *grown);
    if (!grown) {
      snprintf(o->error, sizeof o->error, "out of host memory");
      return NULL;
    }
    o->weights = grown;
    o->weight_capacity = capacity;
  }
  device_weight *w = &o->weights[o->weight_count++];
  memset(w, 0, sizeof *w);
  w->q = p->q;
  w->scales = p->scales;
  w->zeros = p->zeros;
  w->outlier_w = p->outlier_w;
  return upload_weight(o, call, p, w) ? w : NULL;
}

/* Runs `p` on the device; 0 with o->error set on a failure. */
static int run(lowbit_offload *o, const lowbit_uk_quantized_matmul_f32_params *p,
               kernel_kind kind) {
  int64_t m = p->m, n = p->n, k = p->k, outliers = p->outliers;
  /* Host staging: x contiguous, the outlier activations [m][outliers], y. */
  const float *x = p->a;
  if (p->a_col_stride != 1 || p->a_row_stride != k) {
    if (!reserve((void **)&o->host_x, &o->host_x_floats, (size_t)(m * k), sizeof(float)))
      return snprintf(o->error, sizeof o->error, "out of host memory"), 0;
    for (int64_t i = 0; i < m; ++i)
      for (int64_t t = 0; t < k; ++t)
        o->host_x[i * k + t] = p->a[i * p->a_row_stride + t * p->a_col_stride];
    x = o->host_x;
  }
  if (!reserve((void **)&o->host_y, &o->host_y_floats, (size_t)(m * n), sizeof(float)) ||
      !reserve((void **)&o->host_outliers, &o->host_outlier_floats, (size_t)(m * outliers),
               sizeof(float)))
    return snprintf(o->error, sizeof o->error, "out of host memory"), 0;
  if (outliers)
    lowbit_cuda_gather(p->outlier_a, m, outliers, p->oa_row_stride, p->oa_col_stride,
                       o->host_outliers);

  char message[512] = "";
  lowbit_cuda_call call;
  if (lowbit_cuda_call_begin(&call, message, sizeof message))
    return snprintf(o->error, sizeof o->error, "%s", message), 0;
  device_weight *w = find_weight(o, &call, p);
  /* One scratch buffer: x, y, the outlier activations, then (W8A8) the
   * levels and scales of x, each at a 256-byte boundary. */
  size_t at[6],
      bytes[5] = {(size_t)(m * k) * sizeof(float), (size_t)(m * n) * sizeof(float),
                  (size_t)(m * outliers) * sizeof(float), kind == kW8A8 ? (size_t)(m * k) : 0,
                  kind == kW8A8 ? (size_t)m * sizeof(float) : 0};
  at[0] = 0;
  for (int i = 0; i < 5; ++i)
    at[i + 1] = at[i] + (bytes[i] + 255) / 256 * 256;
  if (w && at[5] > o->scratch_bytes) {
    if (o->scratch)
      o->driver->mem_free(o->scratch);
    o->scratch = lowbit_cuda_call_alloc_kept(&call, at[5], "allocating device scratch memory");
    o->scratch_bytes = o->scratch ? at[5] : 0;
  }
  if (w) {
    lowbit_cu_deviceptr dx = o->scratch + at[0], dy = o->scratch + at[1];
    lowbit_cu_deviceptr doa = o->scratch + at[2], da = o->scratch + at[3], das = o->scratch + at[4];
    lowbit_cuda_call_copy(&call, dx, x, bytes[0]);
    lowbit_cuda_call_copy(&call, doa, o->host_outliers, bytes[2]);
    if (kind == kGemv)
      lowbit_cuda_launch_w4_gemv(&call, dx, w->dq, w->ds, w->dz, dy, m, n, k, p->group_size);
    else if (kind == kGemm)
      lowbit_cuda_launch_weight_only_gemm(&call, (int)p->level_bits, dx, w->dq, w->ds, w->dz, dy, m,
                                          n, k, p->group_size);
    else
      lowbit_cuda_launch_w8a8_gemm(&call, dx, p->activation_scale, da, das, w->dq, w->ds,
                                   outliers ? doa : 0, w->dow, outliers, dy, m, n, k,
                                   p->group_size);
    lowbit_cuda_call_download(&call, o->host_y, dy, bytes[1]);
  }
  if (lowbit_cuda_call_end(&call) || !w) {
    if (!o->error[0])
      snprintf(o->error, sizeof o->error, "%s", message[0] ? message : "uploading a weight failed");
    return 0;
  }
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j)
      p->c[i * p->c_row_stride + j * p->c_col_stride] += o->host_y[i * n + j];
  return 1;
}

int lowbit_offload_quantized_matmul(lowbit_offload *offload,
                                    const lowbit_uk_quantized_matmul_f32_params *p) {
  kernel_kind kind = offload->error[0] ? kNone : kernel_for(p);
  if (kind != kNone && run(offload, p, kind)) {
    ++offload->on_device;
    return 1;
  }
  ++offload->on_cpu;
  return 0;
}
