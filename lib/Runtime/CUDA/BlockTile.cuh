//===- BlockTile.cuh - The tiling the tensor-core GEMMs share --------------===//
//
// A block of 8 warps computes 64 rows x 128 output channels, k in tiles of
// 32 levels (each inside one quantization group: group sizes are multiples
// of 32). Warp w owns the 32 x 32 at rows (w / 4) * 32 and channels
// (w % 4) * 32 of the block, as 2 x 4 mma tiles of 16 x 8 whose
// accumulators hold C[g][2t, 2t+1] and C[g+8][2t, 2t+1] (Mma.cuh). With
// gridDim.z > 1 each block takes a slice of the k tiles (split-K) and adds
// its part into y, which the caller zeroes.
//
//===----------------------------------------------------------------------===//

#ifndef LOWBIT_RUNTIME_CUDA_BLOCKTILE_CUH
#define LOWBIT_RUNTIME_CUDA_BLOCKTILE_CUH

#include "Mma.cuh"

namespace lowbit_cuda {

constexpr int kBlockRows = 64;
constexpr int kBlockCols = 128;
constexpr int kTileK = 32;
constexpr int kWarpsN = 4;                    // warps along n; 2 along m
constexpr int kThreads = 2 * kWarpsN * kWarp; // 256
constexpr int kFragsM = 2, kFragsN = 4;       // a warp's 32 x 32: 2 x 4 mma tiles

/// A warp's 32 x 32 of accumulators (or of one group's partial sums).
template <class T> using WarpAccumulators = T[kFragsM][kFragsN][4];

/// This thread's place: the block's first row and channel, the warp's
/// offset in the block, the lane's group g and thread t.
struct Place {
  int row0, col0, warpRow, warpCol, g, t;
};
__device__ __forceinline__ Place place() {
  const int lane = threadIdx.x % kWarp, warp = threadIdx.x / kWarp;
  return {int(blockIdx.y) * kBlockRows,
          int(blockIdx.x) * kBlockCols,
          (warp / kWarpsN) * kFragsM * 16,
          (warp % kWarpsN) * kFragsN * 8,
          lane / 4,
          lane % 4};
}

/// This block's k tiles [first, last) of k / kTileK.
struct KSlice {
  int first, last;
};
__device__ __forceinline__ KSlice kSlice(int k) {
  const int tiles = k / kTileK;
  return {int(int64_t(tiles) * blockIdx.z / gridDim.z),
          int(int64_t(tiles) * (blockIdx.z + 1) / gridDim.z)};
}

/// Whether the k tile at k0 ends its group or the block's slice: then the
/// group's partial sums get their scale.
__device__ __forceinline__ bool endsGroup(int k0, int group_size, int tile, const KSlice &slice) {
  return (k0 + kTileK) % group_size == 0 || tile + 1 == slice.last;
}

/// acc += partial * scale of each accumulator's channel (`scale`: the
/// block's 128 channels), and partial = 0.
template <class T>
__device__ __forceinline__ void addScaledGroup(WarpAccumulators<float> &acc,
                                               WarpAccumulators<T> &partial, const float *scale,
                                               const Place &p) {
#pragma unroll
  for (int ni = 0; ni < kFragsN; ++ni) {
    const int c = p.warpCol + 8 * ni + 2 * p.t;
    const float s0 = scale[c], s1 = scale[c + 1];
#pragma unroll
    for (int mi = 0; mi < kFragsM; ++mi) {
#pragma unroll
      for (int r = 0; r < 4; ++r) {
        acc[mi][ni][r] = fmaf(float(partial[mi][ni][r]), r % 2 ? s1 : s0, acc[mi][ni][r]);
        partial[mi][ni][r] = T(0);
      }
    }
  }
}

/// y[row, col] = acc (or += with split-K) for the rows and channels inside
/// m x n.
__device__ __forceinline__ void storeAccumulators(const WarpAccumulators<float> &acc,
                                                  float *__restrict__ y, int m, int n,
                                                  const Place &p) {
  const bool split = gridDim.z > 1;
#pragma unroll
  for (int mi = 0; mi < kFragsM; ++mi)
#pragma unroll
    for (int ni = 0; ni < kFragsN; ++ni)
#pragma unroll
      for (int r = 0; r < 4; ++r) {
        const int row = p.row0 + p.warpRow + 16 * mi + p.g + 8 * (r / 2);
        const int col = p.col0 + p.warpCol + 8 * ni + 2 * p.t + r % 2;
        if (row < m && col < n) {
          float *out = y + int64_t(row) * n + col;
          if (split)
            atomicAdd(out, acc[mi][ni][r]);
          else
            *out = acc[mi][ni][r];
        }
      }
}

} // namespace lowbit_cuda

#endif // LOWBIT_RUNTIME_CUDA_BLOCKTILE_CUH
