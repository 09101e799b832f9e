//===- Emulator.cpp - Running the CUDA kernels on the CPU ------------------===//
//
// The fibers, barriers and warp exchanges behind Emulator.h, and a CUDA
// driver table (lowbit_cuda_driver) over host memory whose cuLaunchKernel
// runs the registered kernels block by block. See Emulator.h for what this
// checks and what it cannot.
//
//===----------------------------------------------------------------------===//

#include "Emulator.h"
#include "EmulatedDriver.h"

#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <ucontext.h>
#include <vector>

dim3 threadIdx, blockIdx, blockDim, gridDim;

namespace {
constexpr int kWarp = 32;
constexpr size_t kStackBytes = 256 << 10;

struct Barrier {
  int size = 0, arrived = 0;
  unsigned generation = 0;
};

/// A warp's registers in transit: what each lane put in for the exchange.
struct WarpExchange {
  uint32_t a[kWarp][4], b[kWarp][4]; // b: the first two of each lane's row
  float value[kWarp];
};

struct Fiber {
  ucontext_t context;
  std::vector<char> stack;
  unsigned index = 0;
  bool done = false;
};

struct BlockRun {
  std::vector<Fiber> fibers;
  std::vector<Barrier> warpBarriers;
  std::vector<WarpExchange> exchanges;
  Barrier blockBarrier;
  ucontext_t scheduler;
  int current = 0;
  void *kernel = nullptr;
  lowbit_cuda_emulator::Invoke invoke = nullptr;
  void **parameters = nullptr;
  long idleSwitches = 0; // switches since a barrier last opened
} run;

void yieldToScheduler() { swapcontext(&run.fibers[run.current].context, &run.scheduler); }

void wait(Barrier &barrier) {
  unsigned generation = barrier.generation;
  if (++barrier.arrived == barrier.size) {
    barrier.arrived = 0;
    ++barrier.generation;
    run.idleSwitches = 0;
    return;
  }
  while (barrier.generation == generation)
    yieldToScheduler();
}

void fiberMain() {
  run.invoke(run.kernel, run.parameters);
  run.fibers[run.current].done = true;
  run.idleSwitches = 0;
  // Returns to the scheduler through uc_link.
}

void runBlock(unsigned threads) {
  run.fibers.resize(threads);
  run.warpBarriers.assign(threads / kWarp, Barrier{kWarp, 0, 0});
  run.exchanges.resize(threads / kWarp);
  run.blockBarrier = Barrier{int(threads), 0, 0};
  for (unsigned i = 0; i < threads; ++i) {
    Fiber &f = run.fibers[i];
    f.stack.resize(kStackBytes);
    f.index = i;
    f.done = false;
    getcontext(&f.context);
    f.context.uc_stack.ss_sp = f.stack.data();
    f.context.uc_stack.ss_size = f.stack.size();
    f.context.uc_link = &run.scheduler;
    makecontext(&f.context, fiberMain, 0);
  }
  for (unsigned left = threads; left > 0;) {
    left = 0;
    for (unsigned i = 0; i < threads; ++i) {
      if (run.fibers[i].done)
        continue;
      run.current = int(i);
      threadIdx = dim3{i, 0, 0};
      swapcontext(&run.scheduler, &run.fibers[i].context);
      left += !run.fibers[i].done;
      if (++run.idleSwitches > 4L * threads) {
        std::fprintf(stderr,
                     "CUDA emulator: the threads of block (%u, %u, %u) wait at barriers "
                     "that can never open (a __syncthreads or warp operation not reached "
                     "by every thread)\n",
                     blockIdx.x, blockIdx.y, blockIdx.z);
        std::abort();
      }
    }
  }
}

struct RegisteredKernel {
  std::string name;
  void *kernel;
  lowbit_cuda_emulator::Invoke invoke;
};
std::vector<RegisteredKernel> &registry() {
  static std::vector<RegisteredKernel> kernels;
  return kernels;
}

WarpExchange &warpExchange() { return run.exchanges[threadIdx.x / kWarp]; }
void warpWait() { wait(run.warpBarriers[threadIdx.x / kWarp]); }
} // namespace

bool lowbit_cuda_emulator::registerKernel(const char *name, void *kernel, Invoke invoke) {
  registry().push_back({name, kernel, invoke});
  return true;
}

void __syncthreads() { wait(run.blockBarrier); }

float __shfl_xor_sync(unsigned, float value, int laneMask) {
  const unsigned lane = threadIdx.x % kWarp;
  WarpExchange &w = warpExchange();
  w.value[lane] = value;
  warpWait();
  float other = w.value[lane ^ unsigned(laneMask)];
  warpWait();
  return other;
}

uint16_t lowbitEmulatorHalfBits(double value) {
  // Round to binary16 through its spacing at this magnitude.
  uint16_t sign = std::signbit(value) ? 0x8000 : 0;
  double magnitude = std::fabs(value);
  if (std::isnan(value))
    return 0x7E00;
  if (magnitude >= 65520.0)
    return sign | 0x7C00;
  int exponent = magnitude < 0x1p-14 ? -14 : std::ilogb(magnitude);
  double spacing = std::ldexp(1.0, exponent - 10);
  double units = std::nearbyint(magnitude / spacing); // ties to even
  if (units >= 2048) {                                // rounded up to the next binade
    units /= 2;
    ++exponent;
  }
  if (magnitude < 0x1p-14 && units < 1024)
    return sign | uint16_t(units); // subnormal
  return sign | uint16_t(((exponent + 15) << 10) | (uint16_t(units) - 1024));
}

double lowbitEmulatorHalfValue(uint16_t bits) {
  double sign = bits & 0x8000 ? -1.0 : 1.0;
  int exponent = (bits >> 10) & 31, fraction = bits & 1023;
  if (exponent == 31)
    return fraction ? NAN : sign * INFINITY;
  if (exponent == 0)
    return sign * std::ldexp(fraction, -24);
  return sign * std::ldexp(1024 + fraction, exponent - 25);
}

// The fragment layouts of Mma.cuh: which lane holds A[row][col] (B[k][n])
// in which register, at which element of it.
namespace {
struct Element {
  int lane, reg, part;
};
Element f16A(int row, int col) {
  return {(row % 8) * 4 + (col % 8) / 2, row / 8 + 2 * (col / 8), col % 2};
}
Element f16B(int k, int n) { return {n * 4 + (k % 8) / 2, k / 8, k % 2}; }
Element s8A(int row, int col) {
  return {(row % 8) * 4 + (col % 16) / 4, row / 8 + 2 * (col / 16), col % 4};
}
Element s8B(int k, int n) { return {n * 4 + (k % 16) / 4, k / 16, k % 4}; }

double halfAt(const uint32_t (*regs)[4], Element e) {
  return lowbitEmulatorHalfValue(uint16_t(regs[e.lane][e.reg] >> (16 * e.part)));
}
int s8At(const uint32_t (*regs)[4], Element e) {
  return int8_t(uint8_t(regs[e.lane][e.reg] >> (8 * e.part)));
}
} // namespace

namespace {
/// One warp-wide c += A B over a 16 x 8 x `depth` tile: the lanes put in
/// their registers, each computes its own four accumulators from everyone's
/// (`product(a, b, row, col, k)`: the term A[row][k] B[k][col] read through
/// the fragment layout), and the warp meets again before the registers are
/// reused.
template <int depth, class T, class Product>
void emulatedMma(T (&c)[4], const uint32_t (&a)[4], const uint32_t (&b)[2], Product product) {
  const int lane = int(threadIdx.x % kWarp), g = lane / 4, t = lane % 4;
  WarpExchange &w = warpExchange();
  std::memcpy(w.a[lane], a, sizeof a);
  std::memcpy(w.b[lane], b, sizeof b);
  warpWait();
  for (int i = 0; i < 4; ++i) {
    const int row = g + 8 * (i / 2), col = 2 * t + i % 2;
    T sum = c[i];
    for (int k = 0; k < depth; ++k)
      sum += product(w.a, w.b, row, col, k);
    c[i] = sum;
  }
  warpWait();
}
} // namespace

void emulatedMmaF16(float (&c)[4], const uint32_t (&a)[4], const uint32_t (&b)[2]) {
  emulatedMma<16>(c, a, b, [](auto aRegs, auto bRegs, int row, int col, int k) {
    return float(halfAt(aRegs, f16A(row, k)) * halfAt(bRegs, f16B(k, col)));
  });
}

void emulatedMmaS8(int32_t (&c)[4], const uint32_t (&a)[4], const uint32_t (&b)[2]) {
  emulatedMma<32>(c, a, b, [](auto aRegs, auto bRegs, int row, int col, int k) {
    return int32_t(s8At(aRegs, s8A(row, k)) * s8At(bRegs, s8B(k, col)));
  });
}

// The driver table: host memory as device memory, kernels by name.
namespace {
lowbit_cu_result ok() { return 0; }
lowbit_cu_result emuInit(unsigned) { return ok(); }
lowbit_cu_result emuDeviceGetCount(int *count) { return *count = 1, ok(); }
lowbit_cu_result emuDeviceGet(lowbit_cu_device *device, int) { return *device = 0, ok(); }
lowbit_cu_result emuDeviceGetName(char *name, int length, lowbit_cu_device) {
  std::snprintf(name, size_t(length), "lowbit CUDA emulator (CPU)");
  return ok();
}
lowbit_cu_result emuPrimaryCtxRetain(lowbit_cu_context *context, lowbit_cu_device) {
  return *context = nullptr, ok();
}
lowbit_cu_result emuCtxSetCurrent(lowbit_cu_context) { return ok(); }
lowbit_cu_result emuCtxSynchronize() { return ok(); }
lowbit_cu_result emuModuleLoadData(lowbit_cu_module *module, const void *) {
  return *module = reinterpret_cast<lowbit_cu_module>(&registry()), ok();
}
lowbit_cu_result emuModuleGetFunction(lowbit_cu_function *function, lowbit_cu_module,
                                      const char *name) {
  for (RegisteredKernel &k : registry())
    if (k.name == name)
      return *function = reinterpret_cast<lowbit_cu_function>(&k), ok();
  return 500; // CUDA_ERROR_NOT_FOUND
}
lowbit_cu_result emuMemAlloc(lowbit_cu_deviceptr *pointer, size_t bytes) {
  void *memory = std::aligned_alloc(256, (bytes + 255) / 256 * 256);
  *pointer = reinterpret_cast<uintptr_t>(memory);
  return memory ? 0 : 2; // CUDA_ERROR_OUT_OF_MEMORY
}
lowbit_cu_result emuMemFree(lowbit_cu_deviceptr pointer) {
  std::free(reinterpret_cast<void *>(uintptr_t(pointer)));
  return ok();
}
lowbit_cu_result emuMemcpyHtoD(lowbit_cu_deviceptr to, const void *from, size_t bytes) {
  std::memcpy(reinterpret_cast<void *>(uintptr_t(to)), from, bytes);
  return ok();
}
lowbit_cu_result emuMemcpyDtoH(void *to, lowbit_cu_deviceptr from, size_t bytes) {
  std::memcpy(to, reinterpret_cast<const void *>(uintptr_t(from)), bytes);
  return ok();
}
lowbit_cu_result emuMemsetD8(lowbit_cu_deviceptr to, unsigned char value, size_t count) {
  std::memset(reinterpret_cast<void *>(uintptr_t(to)), value, count);
  return ok();
}
lowbit_cu_result emuDeviceGetAttribute(int *value, int attribute, lowbit_cu_device) {
  // 4 multiprocessors: small grids already split k across blocks.
  *value = attribute == 16 ? 4 : 0;
  return ok();
}
lowbit_cu_result emuLaunchKernel(lowbit_cu_function function, unsigned gx, unsigned gy, unsigned gz,
                                 unsigned bx, unsigned by, unsigned bz, unsigned, void *,
                                 void **parameters, void **) {
  if (bx == 0 || bx % kWarp || by != 1 || bz != 1 || gx == 0 || gy == 0 || gz == 0)
    return 1; // CUDA_ERROR_INVALID_VALUE: the kernels use 1-D blocks of whole warps
  // LOWBIT_EMULATOR_FAIL_AFTER=N: launches after the first N fail, as a GPU
  // that faults mid-run would (CUDA_ERROR_LAUNCH_FAILED).
  static const char *failAfter = std::getenv("LOWBIT_EMULATOR_FAIL_AFTER");
  static long launches = 0;
  // One launch at a time: the fibers' scheduler is process-wide state, and
  // a real GPU accepts launches from several threads.
  static std::mutex launching;
  std::lock_guard<std::mutex> lock(launching);
  if (failAfter && launches++ >= std::atol(failAfter))
    return 719;
  auto *k = reinterpret_cast<RegisteredKernel *>(function);
  run.kernel = k->kernel;
  run.invoke = k->invoke;
  run.parameters = parameters;
  gridDim = dim3{gx, gy, gz};
  blockDim = dim3{bx, 1, 1};
  for (unsigned z = 0; z < gz; ++z)
    for (unsigned y = 0; y < gy; ++y)
      for (unsigned x = 0; x < gx; ++x) {
        blockIdx = dim3{x, y, z};
        runBlock(bx);
      }
  return ok();
}
lowbit_cu_result emuGetErrorString(lowbit_cu_result result, const char **text) {
  return *text = result == 719 ? "CUDA_ERROR_LAUNCH_FAILED (emulated)" : "emulated CUDA error",
         ok();
}

lowbit_cuda_driver makeEmulatedDriver() {
  lowbit_cuda_driver d{};
  d.init = emuInit;
  d.device_get_count = emuDeviceGetCount;
  d.device_get = emuDeviceGet;
  d.device_get_name = emuDeviceGetName;
  d.primary_ctx_retain = emuPrimaryCtxRetain;
  d.ctx_set_current = emuCtxSetCurrent;
  d.ctx_synchronize = emuCtxSynchronize;
  d.module_load_data = emuModuleLoadData;
  d.module_get_function = emuModuleGetFunction;
  d.mem_alloc = emuMemAlloc;
  d.mem_free = emuMemFree;
  d.memcpy_htod = emuMemcpyHtoD;
  d.memcpy_dtoh = emuMemcpyDtoH;
  d.memset_d8 = emuMemsetD8;
  d.device_get_attribute = emuDeviceGetAttribute;
  d.launch_kernel = emuLaunchKernel;
  d.get_error_string = emuGetErrorString;
  return d;
}
const lowbit_cuda_driver emulatedDriver = makeEmulatedDriver();
} // namespace

const lowbit_cuda_driver *lowbitEmulatedDriver() { return &emulatedDriver; }
