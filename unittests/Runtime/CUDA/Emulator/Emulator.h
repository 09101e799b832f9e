//===- Emulator.h - The CUDA subset the kernels use, on the CPU ------------===//
//
// Force-included (with LOWBIT_CUDA_EMULATION defined) when the unit tests
// compile lib/Runtime/CUDA/*.cu as C++, so that the same kernel source runs
// on a machine without a GPU: the threads of a block are fibers switched at
// barriers on one CPU thread (__syncthreads, and each warp's shuffles and
// mma.sync, which exchange the lanes' registers through memory); shared
// memory is a function's static storage (blocks run one after another).
// mma.sync follows the PTX ISA's fragment layouts (Mma.cuh) and sums each
// product in k order, in fp32 (f16) or int32 (s8) with the same exactness
// the hardware guarantees for the integer one.
//
// What it cannot check: timing, memory coalescing or bank conflicts, races
// between threads that real hardware would interleave differently, and the
// PTX the compiler emits (the lit tests check that with ptxas).
//
//===----------------------------------------------------------------------===//

#ifndef LOWBIT_UNITTESTS_RUNTIME_CUDA_EMULATOR_H
#define LOWBIT_UNITTESTS_RUNTIME_CUDA_EMULATOR_H

#include <cmath>
#include <cstdint>
#include <cstring>
#include <utility>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __shared__ static
#define __restrict__ __restrict

struct dim3 {
  unsigned x = 1, y = 1, z = 1;
};
extern dim3 threadIdx, blockIdx, blockDim, gridDim;

struct alignas(16) float4 {
  float x, y, z, w;
};
struct alignas(16) uint4 {
  unsigned x, y, z, w;
};
struct alignas(8) uint2 {
  unsigned x, y;
};
inline float4 make_float4(float x, float y, float z, float w) { return {x, y, z, w}; }
inline uint4 make_uint4(unsigned x, unsigned y, unsigned z, unsigned w) { return {x, y, z, w}; }
inline uint2 make_uint2(unsigned x, unsigned y) { return {x, y}; }
template <class T> inline T __ldg(const T *p) { return *p; }

/// IEEE binary16 as its bits; arithmetic through double (exact for the
/// operands), rounded once to nearest even.
struct __half {
  uint16_t bits;
};
struct __half2 {
  __half x, y;
};
uint16_t lowbitEmulatorHalfBits(double value);
double lowbitEmulatorHalfValue(uint16_t bits);
inline __half2 __floats2half2_rn(float lo, float hi) {
  return {{lowbitEmulatorHalfBits(lo)}, {lowbitEmulatorHalfBits(hi)}};
}
inline __half2 __hsub2(__half2 a, __half2 b) {
  return {{lowbitEmulatorHalfBits(lowbitEmulatorHalfValue(a.x.bits) -
                                  lowbitEmulatorHalfValue(b.x.bits))},
          {lowbitEmulatorHalfBits(lowbitEmulatorHalfValue(a.y.bits) -
                                  lowbitEmulatorHalfValue(b.y.bits))}};
}

void __syncthreads();
float __shfl_xor_sync(unsigned mask, float value, int lane_mask);
/// Threads switch only at barriers, so a plain add is atomic here.
inline float atomicAdd(float *address, float value) {
  float old = *address;
  *address = old + value;
  return old;
}

void emulatedMmaF16(float (&c)[4], const uint32_t (&a)[4], const uint32_t (&b)[2]);
void emulatedMmaS8(int32_t (&c)[4], const uint32_t (&a)[4], const uint32_t (&b)[2]);

/// A kernel the emulated driver can find by name: its parameters are read
/// from cuLaunchKernel's array of pointers with the kernel's own types.
namespace lowbit_cuda_emulator {
using Invoke = void (*)(void *kernel, void **parameters);
bool registerKernel(const char *name, void *kernel, Invoke invoke);
template <class... Args, size_t... I>
void invokeWith(void (*kernel)(Args...), void **parameters, std::index_sequence<I...>) {
  kernel(*static_cast<Args *>(parameters[I])...);
}
template <class... Args> Invoke invokerFor(void (*)(Args...)) {
  return [](void *kernel, void **parameters) {
    invokeWith(reinterpret_cast<void (*)(Args...)>(kernel), parameters,
               std::index_sequence_for<Args...>{});
  };
}
} // namespace lowbit_cuda_emulator

#define LOWBIT_CUDA_EMULATED_KERNEL(name)                                                          \
  static const bool name##_registered = lowbit_cuda_emulator::registerKernel(                      \
      #name, reinterpret_cast<void *>(&name), lowbit_cuda_emulator::invokerFor(&name));

#endif // LOWBIT_UNITTESTS_RUNTIME_CUDA_EMULATOR_H
