//===- bench_cuda_gemm.cu - lowbit's CUDA GEMMs beside cuBLAS, one process ---===//
//
//   build/bin/lowbit-bench-cuda [--quick] [--repeats N]
//
// On the GPU (device 0), operands resident on the device, each timed over
// repeated launches with CUDA events (median of --repeats batches):
//
// - W4 g128 weight-only (lowbit: the GEMV for M <= 8, the f16 tensor-core
//   GEMM above) against cuBLAS fp16 GEMM (cublasGemmEx, f16 in, fp32
//   compute) at N x K = 4096 x 4096 and 11008 x 4096, M = 1, 16, 64, 256:
//   time, ratio to cuBLAS fp16 (its time / ours: > 1 is faster), and for
//   M <= 16 the bytes read (packed weight, scales, x, y) per second as a
//   fraction of the device-to-device copy bandwidth measured here.
// - W8A8 (lowbit: row quantization + the int8 tensor-core GEMM) against
//   cuBLAS int8 (cublasGemmEx, s8 in, s32 out) and fp16 at M = 256, 1024,
//   4096 on 4096 x 4096: time, ratios, and the fraction of cuBLAS fp16's
//   throughput on an 8192^3 GEMM (the practical tensor-core peak measured
//   here).
//
// Without a GPU it says why and exits 0. The end-to-end decode benchmark
// (tokens/s through --target=cpu,cuda) is bench/bench_cuda.py.
//
// This program has been compiled but never run: no session has had a GPU.
//
//===----------------------------------------------------------------------===//

#include "CUDA/Driver.h"
#include "CUDA/Kernels.h"

#include <cublas_v2.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

namespace {
#define CHECK_CUDA(call)                                                                           \
  do {                                                                                             \
    cudaError_t status_ = (call);                                                                  \
    if (status_ != cudaSuccess) {                                                                  \
      std::fprintf(stderr, "lowbit-bench-cuda: %s: %s\n", #call, cudaGetErrorString(status_));     \
      std::exit(1);                                                                                \
    }                                                                                              \
  } while (0)
#define CHECK_CUBLAS(call)                                                                         \
  do {                                                                                             \
    cublasStatus_t status_ = (call);                                                               \
    if (status_ != CUBLAS_STATUS_SUCCESS) {                                                        \
      std::fprintf(stderr, "lowbit-bench-cuda: %s: cuBLAS status %d\n", #call, int(status_));      \
      std::exit(1);                                                                                \
    }                                                                                              \
  } while (0)

int repeats = 20;

/// Milliseconds per call of `launch`: `repeats` batches of `inner` calls
/// between events, the median batch.
double timeMs(const std::function<void()> &launch, int inner = 10) {
  cudaEvent_t start, stop;
  CHECK_CUDA(cudaEventCreate(&start));
  CHECK_CUDA(cudaEventCreate(&stop));
  for (int i = 0; i < 3; ++i) // warm-up
    launch();
  std::vector<double> batches;
  for (int r = 0; r < repeats; ++r) {
    CHECK_CUDA(cudaEventRecord(start));
    for (int i = 0; i < inner; ++i)
      launch();
    CHECK_CUDA(cudaEventRecord(stop));
    CHECK_CUDA(cudaEventSynchronize(stop));
    float ms = 0;
    CHECK_CUDA(cudaEventElapsedTime(&ms, start, stop));
    batches.push_back(double(ms) / inner);
  }
  CHECK_CUDA(cudaEventDestroy(start));
  CHECK_CUDA(cudaEventDestroy(stop));
  std::sort(batches.begin(), batches.end());
  return batches[batches.size() / 2];
}

/// A device buffer of `bytes` filled with `pattern` bytes from a fixed
/// generator (values matter only as far as they are finite).
void *deviceBuffer(size_t bytes, unsigned seed, bool floats = false, bool halves = false) {
  std::vector<unsigned char> host(bytes);
  unsigned state = seed * 2654435761u + 1;
  auto next = [&]() { return state = state * 1664525u + 1013904223u; };
  if (floats)
    for (size_t i = 0; i + 4 <= bytes; i += 4) {
      float v = float(int(next() >> 9) % 2001 - 1000) / 1000.0f;
      std::memcpy(&host[i], &v, 4);
    }
  else if (halves)
    for (size_t i = 0; i + 2 <= bytes; i += 2) {
      __half v = __float2half(float(int(next() >> 9) % 2001 - 1000) / 1000.0f);
      std::memcpy(&host[i], &v, 2);
    }
  else
    for (size_t i = 0; i < bytes; ++i)
      host[i] = (unsigned char)(next() >> 24);
  void *device = nullptr;
  CHECK_CUDA(cudaMalloc(&device, bytes));
  CHECK_CUDA(cudaMemcpy(device, host.data(), bytes, cudaMemcpyHostToDevice));
  return device;
}

lowbit_cu_deviceptr ptr(void *p) { return lowbit_cu_deviceptr(reinterpret_cast<uintptr_t>(p)); }

/// Runs one lowbit launch sequence and fails loudly on an error.
void runLowbit(const std::function<void(lowbit_cuda_call *)> &launch) {
  char error[512] = "";
  lowbit_cuda_call call;
  if (lowbit_cuda_call_begin(&call, error, sizeof error)) {
    std::fprintf(stderr, "lowbit-bench-cuda: %s\n", error);
    std::exit(1);
  }
  launch(&call);
  if (lowbit_cuda_call_end(&call)) {
    std::fprintf(stderr, "lowbit-bench-cuda: %s\n", error);
    std::exit(1);
  }
}

/// Device-to-device copy bandwidth (bytes read + written per second).
double copyBandwidthGBs() {
  size_t bytes = size_t(1) << 30;
  void *a = nullptr, *b = nullptr;
  CHECK_CUDA(cudaMalloc(&a, bytes));
  CHECK_CUDA(cudaMalloc(&b, bytes));
  double ms =
      timeMs([&] { CHECK_CUDA(cudaMemcpyAsync(b, a, bytes, cudaMemcpyDeviceToDevice)); }, 2);
  CHECK_CUDA(cudaFree(a));
  CHECK_CUDA(cudaFree(b));
  return 2.0 * double(bytes) / (ms * 1e-3) / 1e9;
}

/// y[m, n] = x[m, k] w[n, k]^T in f16 with fp32 compute.
void cublasF16(cublasHandle_t handle, const void *x, const void *w, void *y, int m, int n, int k) {
  const float alpha = 1.0f, beta = 0.0f;
  CHECK_CUBLAS(cublasGemmEx(handle, CUBLAS_OP_T, CUBLAS_OP_N, n, m, k, &alpha, w, CUDA_R_16F, k, x,
                            CUDA_R_16F, k, &beta, y, CUDA_R_16F, n, CUBLAS_COMPUTE_32F,
                            CUBLAS_GEMM_DEFAULT));
}

/// The same in int8 with int32 results.
void cublasI8(cublasHandle_t handle, const void *x, const void *w, void *y, int m, int n, int k) {
  const int32_t alpha = 1, beta = 0;
  CHECK_CUBLAS(cublasGemmEx(handle, CUBLAS_OP_T, CUBLAS_OP_N, n, m, k, &alpha, w, CUDA_R_8I, k, x,
                            CUDA_R_8I, k, &beta, y, CUDA_R_32I, n, CUBLAS_COMPUTE_32I,
                            CUBLAS_GEMM_DEFAULT));
}

void weightOnly(cublasHandle_t handle, bool quick, double copyGBs) {
  std::printf("\n| W4 g128 | lowbit ms | cuBLAS fp16 ms | cuBLAS / lowbit | bandwidth |\n"
              "| --- | --- | --- | --- | --- |\n");
  const int group = 128;
  std::vector<std::pair<int, int>> shapes = {{4096, 4096}, {11008, 4096}};
  std::vector<int> rows = quick ? std::vector<int>{1, 64} : std::vector<int>{1, 16, 64, 256};
  for (const auto &shape : shapes) {
    const int n = shape.first, k = shape.second;
    void *q = deviceBuffer(size_t(n) * k / 2, 1);
    void *s = deviceBuffer(size_t(n) * (k / group) * 4, 2, /*floats=*/true);
    void *w16 = deviceBuffer(size_t(n) * k * 2, 3, false, /*halves=*/true);
    for (int m : rows) {
      if (quick && n != 4096)
        continue;
      void *x = deviceBuffer(size_t(m) * k * 4, 4, true);
      void *x16 = deviceBuffer(size_t(m) * k * 2, 5, false, true);
      void *y = deviceBuffer(size_t(m) * n * 4, 6, true);
      double ours = timeMs([&] {
        runLowbit([&](lowbit_cuda_call *call) {
          if (m <= 8)
            lowbit_cuda_launch_w4_gemv(call, ptr(x), ptr(q), ptr(s), 0, ptr(y), m, n, k, group);
          else
            lowbit_cuda_launch_weight_only_gemm(call, 4, ptr(x), ptr(q), ptr(s), 0, ptr(y), m, n, k,
                                                group);
        });
      });
      double theirs = timeMs([&] { cublasF16(handle, x16, w16, y, m, n, k); });
      double bytes = double(n) * k / 2 + double(n) * (k / group) * 4 + double(m) * (k + n) * 4;
      char bandwidth[64] = "";
      if (m <= 16)
        std::snprintf(bandwidth, sizeof bandwidth, "%.0f GB/s = %.0f%% of copy",
                      bytes / (ours * 1e-3) / 1e9, 100 * bytes / (ours * 1e-3) / 1e9 / copyGBs);
      std::printf("| %dx%d M=%d | %.4f | %.4f | %.2f | %s |\n", n, k, m, ours, theirs,
                  theirs / ours, bandwidth);
      CHECK_CUDA(cudaFree(x));
      CHECK_CUDA(cudaFree(x16));
      CHECK_CUDA(cudaFree(y));
    }
    CHECK_CUDA(cudaFree(q));
    CHECK_CUDA(cudaFree(s));
    CHECK_CUDA(cudaFree(w16));
  }
}

void w8a8(cublasHandle_t handle, bool quick) {
  // The practical tensor-core peak: cuBLAS fp16 on 8192^3.
  const int big = 8192;
  void *a = deviceBuffer(size_t(big) * big * 2, 7, false, true);
  void *b = deviceBuffer(size_t(big) * big * 2, 8, false, true);
  void *c = deviceBuffer(size_t(big) * big * 2, 9, false, true);
  double peakMs = timeMs([&] { cublasF16(handle, a, b, c, big, big, big); }, 2);
  double peakTflops = 2.0 * big * big * double(big) / (peakMs * 1e-3) / 1e12;
  CHECK_CUDA(cudaFree(a));
  CHECK_CUDA(cudaFree(b));
  CHECK_CUDA(cudaFree(c));
  std::printf("\ncuBLAS fp16 on 8192^3: %.0f TFLOP/s (the peak the fractions below are of)\n",
              peakTflops);
  std::printf("\n| W8A8 4096x4096 | lowbit ms | cuBLAS int8 ms | cuBLAS fp16 ms | fp16 / lowbit | "
              "int8 / lowbit | lowbit of peak |\n| --- | --- | --- | --- | --- | --- | --- |\n");
  const int n = 4096, k = 4096;
  void *q = deviceBuffer(size_t(n) * k, 10);
  void *s = deviceBuffer(size_t(n) * 4, 11, true);
  void *w16 = deviceBuffer(size_t(n) * k * 2, 12, false, true);
  std::vector<int> rows = quick ? std::vector<int>{1024} : std::vector<int>{256, 1024, 4096};
  for (int m : rows) {
    void *x = deviceBuffer(size_t(m) * k * 4, 13, true);
    void *x8 = deviceBuffer(size_t(m) * k, 14);
    void *x16 = deviceBuffer(size_t(m) * k * 2, 15, false, true);
    void *levels = deviceBuffer(size_t(m) * k, 16);
    void *rowScales = deviceBuffer(size_t(m) * 4, 17, true);
    void *y = deviceBuffer(size_t(m) * n * 4, 18, true);
    double ours = timeMs([&] {
      runLowbit([&](lowbit_cuda_call *call) {
        lowbit_cuda_launch_w8a8_gemm(call, ptr(x), 0.0f, ptr(levels), ptr(rowScales), ptr(q),
                                     ptr(s), 0, 0, 0, ptr(y), m, n, k, k);
      });
    });
    double int8 = timeMs([&] { cublasI8(handle, x8, q, y, m, n, k); });
    double fp16 = timeMs([&] { cublasF16(handle, x16, w16, y, m, n, k); });
    double tflops = 2.0 * m * n * double(k) / (ours * 1e-3) / 1e12;
    std::printf("| M=%d | %.4f | %.4f | %.4f | %.2f | %.2f | %.0f%% |\n", m, ours, int8, fp16,
                fp16 / ours, int8 / ours, 100 * tflops / peakTflops);
    for (void *p : {x, x8, x16, levels, rowScales, y})
      CHECK_CUDA(cudaFree(p));
  }
  CHECK_CUDA(cudaFree(q));
  CHECK_CUDA(cudaFree(s));
  CHECK_CUDA(cudaFree(w16));
}
} // namespace

int main(int argc, char **argv) {
  bool quick = false;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--quick")
      quick = true;
    else if (arg == "--repeats" && i + 1 < argc)
      repeats = std::max(1, std::atoi(argv[++i]));
    else {
      std::fprintf(stderr, "usage: %s [--quick] [--repeats N]\n", argv[0]);
      return arg == "--help" ? 0 : 1;
    }
  }
  char error[512] = "";
  if (!lowbit_cuda_driver_open(error, sizeof error)) {
    std::printf("lowbit-bench-cuda: no GPU here (%s): nothing to measure\n", error);
    return 0;
  }
  cudaDeviceProp props;
  CHECK_CUDA(cudaGetDeviceProperties(&props, 0));
  cublasHandle_t handle;
  CHECK_CUBLAS(cublasCreate(&handle));
  double copyGBs = copyBandwidthGBs();
  std::printf("device: %s (sm_%d%d, %d SMs); device-to-device copy %.0f GB/s\n", props.name,
              props.major, props.minor, props.multiProcessorCount, copyGBs);
  weightOnly(handle, quick, copyGBs);
  w8a8(handle, quick);
  CHECK_CUBLAS(cublasDestroy(handle));
  return 0;
}
