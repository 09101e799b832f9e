//===- KVAttention.cu - Decode attention over a quantized KV cache --------===//
//
// out[h, :] = softmax(scale * q[h] K^T) V for one query token per head,
// K and V read from a quantized cache (lowbit-quantize-kv-cache's layout)
// with the dequantize fused: levels int8 [kv_heads, tokens, head_dim] (8
// bits) or two per byte along head_dim as level + 8, low nibble first
// [kv_heads, tokens, head_dim / 2] (4 bits), one scale per token and head
// [kv_heads, tokens]. Query head h reads kv head h / (heads / kv_heads)
// (grouped-query attention). Every token is visible (decode).
//
// One block of 128 threads per query head: each thread scores whole tokens
// (a token's key row is contiguous), the block reduces the maximum and the
// sum of the exponentials, then each warp accumulates a quarter of the
// tokens' values with lanes along head_dim (a token's value row read by
// consecutive lanes) and the warps' partial rows are added at the end. The
// scores stay in shared memory: at most kMaxTokens tokens (longer contexts
// need a split over blocks, flash-decoding style, not built yet).
//
//===----------------------------------------------------------------------===//

#include "Mma.cuh"

using namespace lowbit_cuda;

namespace {
constexpr int kThreads = 128, kWarps = kThreads / kWarp;
constexpr int kMaxTokens = 8192;
constexpr int kMaxHeadDim = 128;

/// Level j of a cache row (`row`: its first byte).
__device__ __forceinline__ float levelAt(const int8_t *row, int j, int bits) {
  if (bits == 8)
    return float(row[j]);
  const uint8_t byte = uint8_t(row[j / 2]);
  return float(int((j % 2 ? byte >> 4 : byte) & 15u) - 8);
}

/// The block's reduction of `value` by `combine` (max or sum); every thread
/// gets the result.
template <class Combine>
__device__ float blockReduce(float value, float *scratch, Combine combine) {
  for (int delta = kWarp / 2; delta > 0; delta /= 2)
    value = combine(value, __shfl_xor_sync(0xffffffffu, value, delta));
  if (threadIdx.x % kWarp == 0)
    scratch[threadIdx.x / kWarp] = value;
  __syncthreads();
  value = scratch[0];
  for (int w = 1; w < kWarps; ++w)
    value = combine(value, scratch[w]);
  __syncthreads(); // scratch is reused by the next reduction
  return value;
}
} // namespace

/// Grid: heads blocks of 128 threads. tokens <= 8192, head_dim <= 128 (even
/// with 4 bits).
extern "C" __global__ void __launch_bounds__(kThreads) lowbit_cuda_attention_decode_f32(
    const float *__restrict__ q, const int8_t *__restrict__ k_levels,
    const float *__restrict__ k_scales, const int8_t *__restrict__ v_levels,
    const float *__restrict__ v_scales, float *__restrict__ out, int heads, int kv_heads,
    int tokens, int head_dim, float softmax_scale, int bits) {
  __shared__ float scores[kMaxTokens];
  __shared__ float query[kMaxHeadDim];
  __shared__ float partial[kWarps][kMaxHeadDim];
  __shared__ float scratch[kWarps];
  const int head = blockIdx.x, kv = head / (heads / kv_heads);
  const int rowBytes = bits == 8 ? head_dim : head_dim / 2;
  const int8_t *keys = k_levels + int64_t(kv) * tokens * rowBytes;
  const int8_t *values = v_levels + int64_t(kv) * tokens * rowBytes;
  for (int j = threadIdx.x; j < head_dim; j += kThreads)
    query[j] = q[int64_t(head) * head_dim + j];
  __syncthreads();

  // Scores, and their maximum.
  float largest = -INFINITY;
  for (int t = threadIdx.x; t < tokens; t += kThreads) {
    const int8_t *row = keys + int64_t(t) * rowBytes;
    float dot = 0.0f;
    for (int j = 0; j < head_dim; ++j)
      dot = fmaf(query[j], levelAt(row, j, bits), dot);
    const float score = dot * k_scales[int64_t(kv) * tokens + t] * softmax_scale;
    scores[t] = score;
    largest = fmaxf(largest, score);
  }
  largest = blockReduce(largest, scratch, [](float a, float b) { return fmaxf(a, b); });

  // Exponentials, and their sum.
  float total = 0.0f;
  for (int t = threadIdx.x; t < tokens; t += kThreads) {
    const float p = expf(scores[t] - largest);
    scores[t] = p;
    total += p;
  }
  total = blockReduce(total, scratch, [](float a, float b) { return a + b; });

  // Each warp: its tokens' values, lanes along head_dim.
  const int warp = threadIdx.x / kWarp, lane = threadIdx.x % kWarp;
  float acc[kMaxHeadDim / kWarp] = {};
  for (int t = warp; t < tokens; t += kWarps) {
    const float weight = scores[t] * v_scales[int64_t(kv) * tokens + t];
    const int8_t *row = values + int64_t(t) * rowBytes;
#pragma unroll
    for (int r = 0; r < kMaxHeadDim / kWarp; ++r) {
      const int j = lane + kWarp * r;
      if (j < head_dim)
        acc[r] = fmaf(weight, levelAt(row, j, bits), acc[r]);
    }
  }
#pragma unroll
  for (int r = 0; r < kMaxHeadDim / kWarp; ++r) {
    const int j = lane + kWarp * r;
    if (j < head_dim)
      partial[warp][j] = acc[r];
  }
  __syncthreads();
  for (int j = threadIdx.x; j < head_dim; j += kThreads) {
    float sum = 0.0f;
    for (int w = 0; w < kWarps; ++w)
      sum += partial[w][j];
    out[int64_t(head) * head_dim + j] = sum / total;
  }
}

#ifdef LOWBIT_CUDA_EMULATION // the unit tests run the kernels on the CPU by name
LOWBIT_CUDA_EMULATED_KERNEL(lowbit_cuda_attention_decode_f32)
#endif
