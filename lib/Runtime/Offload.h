/*===- Offload.h - The CPU runtime's seam to an accelerator ---------------===*
 *
 * A model library compiled with `lowbitc --target=cpu,cuda` also links the
 * CUDA half of the runtime (lib/Runtime/CUDA/Offload.c), which defines the
 * functions below. The CPU runtime declares them weak: in a CPU-only
 * library they are NULL and everything runs on the CPU.
 *
 * An instance that runs on CUDA holds a lowbit_offload: the device, the
 * weights of its quantized products (uploaded on first use, once per
 * instance) and scratch buffers. While the instance runs,
 * lowbit_current_offload (thread local) points at it, and the quantized
 * matmul micro-kernel's entry hands each product to it first; a product
 * the GPU kernels do not take runs on the CPU as before. If the GPU fails,
 * the offload stops (lowbit_offload_error says why) and every later
 * product runs on the CPU: a run never fails or gives wrong results for it.
 *===----------------------------------------------------------------------===*/

#ifndef LOWBIT_RUNTIME_OFFLOAD_H
#define LOWBIT_RUNTIME_OFFLOAD_H

#include "CPU/ThreadPool.h"
#include "CPU/UKernels/UKernels.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#ifdef LOWBIT_OFFLOAD_IMPLEMENTATION
#define LOWBIT_OFFLOAD_ENTRY
#else
#define LOWBIT_OFFLOAD_ENTRY __attribute__((weak))
#endif

typedef struct lowbit_offload lowbit_offload;

/* The device (CUDA device 0), or NULL with the reason in `error` (no
 * driver, no GPU). */
LOWBIT_OFFLOAD_ENTRY lowbit_offload *lowbit_offload_create(char *error, size_t error_size);
LOWBIT_OFFLOAD_ENTRY void lowbit_offload_destroy(lowbit_offload *offload);
LOWBIT_OFFLOAD_ENTRY const char *lowbit_offload_device_name(const lowbit_offload *offload);

/* C += the product `p` on the device: 1 if it ran there, 0 if the CPU must
 * run it (a shape the kernels do not take, or the offload has stopped). */
LOWBIT_OFFLOAD_ENTRY int
lowbit_offload_quantized_matmul(lowbit_offload *offload,
                                const lowbit_uk_quantized_matmul_f32_params *p);

/* "" or the failure that stopped the offload. */
LOWBIT_OFFLOAD_ENTRY const char *lowbit_offload_error(const lowbit_offload *offload);

/* Quantized products run on the device and left to the CPU so far. */
LOWBIT_OFFLOAD_ENTRY void lowbit_offload_counts(const lowbit_offload *offload, int64_t *on_device,
                                                int64_t *on_cpu);

/* The running instance's offload on this thread (Model.c); NULL: none. */
extern LOWBIT_THREAD_LOCAL lowbit_offload *lowbit_current_offload;

#ifdef __cplusplus
}
#endif

#endif /* LOWBIT_RUNTIME_OFFLOAD_H */
