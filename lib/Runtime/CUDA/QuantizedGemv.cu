//===- QuantizedGemv.cu - Weight-only int4 decode GEMV on CUDA -------------===//
//
// y[m, n] = sum_k x[m, k] * (q[n, k] - z[n, g]) * s[n, g], g = k / group_size:
// lowbit.quantized_matmul's semantics with fp32 activations and scales, for
// few rows of x (decode, M <= 8), where the product is bound by reading the
// weight. The weight is the CPU kernel's layout: levels two per byte, level
// k of row n in byte k / 2 (low nibble first) as level + 8, so that the same
// packed constant serves both targets.
//
// One warp per output channel: each lane loads 16 bytes (32 levels) of the
// row with one 128-bit load (read-only path), so a warp reads 512
// contiguous bytes per step; the 32 levels of a lane share one group
// (group_size a multiple of 32), so one scale (and zero point) per load.
// The lanes' partial sums meet through shuffles.
//
// Hand-written rather than generated through MLIR's gpu path: the decode
// GEMV is the one kernel whose memory access pattern (wide loads of packed
// nibbles, one warp per row) decides the speed, as in IREE's ukernels.
//
//===----------------------------------------------------------------------===//

#include <stdint.h>

namespace {
constexpr int kMaxRows = 8;
constexpr int kLevelsPerLoad = 32; // 16 bytes

/// The 32 levels of `bytes` (as level + 8) times x[k .. k + 31], summed,
/// less `offset` (8 + z) times the sum of x.
__device__ __forceinline__ float dot32(uint4 bytes, const float *__restrict__ x, float offset) {
  const uint32_t words[4] = {bytes.x, bytes.y, bytes.z, bytes.w};
  float sum = 0.0f, xsum = 0.0f;
#pragma unroll
  for (int w = 0; w < 4; ++w) {
    const float4 x0 = __ldg(reinterpret_cast<const float4 *>(x + 8 * w));
    const float4 x1 = __ldg(reinterpret_cast<const float4 *>(x + 8 * w + 4));
    const float xs[8] = {x0.x, x0.y, x0.z, x0.w, x1.x, x1.y, x1.z, x1.w};
#pragma unroll
    for (int i = 0; i < 8; ++i) {
      sum = fmaf(float((words[w] >> (4 * i)) & 15u), xs[i], sum);
      xsum += xs[i];
    }
  }
  return fmaf(-offset, xsum, sum);
}
} // namespace

/// Grid: ceil(n / warps per block) blocks of 32 x (warps per block)
/// threads. Requires k % 32 == 0 and group_size % 32 == 0, x rows 16-byte
/// aligned (k % 4 == 0), m <= 8.
extern "C" __global__ void
lowbit_cuda_w4_gemv_f32(const float *__restrict__ x, const uint8_t *__restrict__ q,
                        const float *__restrict__ scales, const int8_t *__restrict__ zeros,
                        float *__restrict__ y, int m, int n, int k, int group_size) {
  const int lane = threadIdx.x % 32;
  const int channel = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
  if (channel >= n)
    return;
  const int groups = k / group_size;
  const uint8_t *row = q + static_cast<int64_t>(channel) * (k / 2);
  float acc[kMaxRows];
#pragma unroll
  for (int r = 0; r < kMaxRows; ++r)
    acc[r] = 0.0f;
  for (int k0 = lane * kLevelsPerLoad; k0 < k; k0 += 32 * kLevelsPerLoad) {
    const uint4 bytes = __ldg(reinterpret_cast<const uint4 *>(row + k0 / 2));
    const int g = k0 / group_size;
    const float scale = __ldg(scales + static_cast<int64_t>(channel) * groups + g);
    const float offset =
        8.0f + (zeros ? float(zeros[static_cast<int64_t>(channel) * groups + g]) : 0.0f);
#pragma unroll
    for (int r = 0; r < kMaxRows; ++r)
      if (r < m)
        acc[r] = fmaf(scale, dot32(bytes, x + static_cast<int64_t>(r) * k + k0, offset), acc[r]);
  }
#pragma unroll
  for (int r = 0; r < kMaxRows; ++r) {
    float v = acc[r];
#pragma unroll
    for (int delta = 16; delta > 0; delta /= 2)
      v += __shfl_xor_sync(0xffffffffu, v, delta);
    if (lane == 0 && r < m)
      y[static_cast<int64_t>(r) * n + channel] = v;
  }
}

#ifdef LOWBIT_CUDA_EMULATION // the unit tests run the kernels on the CPU by name
LOWBIT_CUDA_EMULATED_KERNEL(lowbit_cuda_w4_gemv_f32)
#endif
