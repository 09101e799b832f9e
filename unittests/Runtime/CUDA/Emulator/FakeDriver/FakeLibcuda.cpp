//===- FakeLibcuda.cpp - The CPU emulator as libcuda.so.1 -------------------===//
//
// The driver API entry points lowbit's CUDA runtime resolves with dlopen
// (lib/Runtime/CUDA/Driver.c), answered by the CPU emulator. Put this
// library's folder on LD_LIBRARY_PATH and a model compiled with
// --target=cpu,cuda runs its quantized products "on the GPU": the end-to-end
// tests check the offload that way on machines without one. A test tool
// only: it knows lowbit's kernels by name and nothing else of CUDA.
//
//===----------------------------------------------------------------------===//

#include "EmulatedDriver.h"

namespace {
const lowbit_cuda_driver &d() { return *lowbitEmulatedDriver(); }
} // namespace

extern "C" {
int cuInit(unsigned flags) { return d().init(flags); }
int cuDeviceGetCount(int *count) { return d().device_get_count(count); }
int cuDeviceGet(lowbit_cu_device *device, int ordinal) { return d().device_get(device, ordinal); }
int cuDeviceGetName(char *name, int length, lowbit_cu_device device) {
  return d().device_get_name(name, length, device);
}
int cuDevicePrimaryCtxRetain(lowbit_cu_context *context, lowbit_cu_device device) {
  return d().primary_ctx_retain(context, device);
}
int cuCtxSetCurrent(lowbit_cu_context context) { return d().ctx_set_current(context); }
int cuCtxSynchronize() { return d().ctx_synchronize(); }
int cuModuleLoadData(lowbit_cu_module *module, const void *image) {
  return d().module_load_data(module, image);
}
int cuModuleGetFunction(lowbit_cu_function *function, lowbit_cu_module module, const char *name) {
  return d().module_get_function(function, module, name);
}
int cuMemAlloc_v2(lowbit_cu_deviceptr *pointer, size_t bytes) {
  return d().mem_alloc(pointer, bytes);
}
int cuMemFree_v2(lowbit_cu_deviceptr pointer) { return d().mem_free(pointer); }
int cuMemcpyHtoD_v2(lowbit_cu_deviceptr to, const void *from, size_t bytes) {
  return d().memcpy_htod(to, from, bytes);
}
int cuMemcpyDtoH_v2(void *to, lowbit_cu_deviceptr from, size_t bytes) {
  return d().memcpy_dtoh(to, from, bytes);
}
int cuMemsetD8_v2(lowbit_cu_deviceptr to, unsigned char value, size_t count) {
  return d().memset_d8(to, value, count);
}
int cuDeviceGetAttribute(int *value, int attribute, lowbit_cu_device device) {
  return d().device_get_attribute(value, attribute, device);
}
int cuLaunchKernel(lowbit_cu_function function, unsigned gx, unsigned gy, unsigned gz, unsigned bx,
                   unsigned by, unsigned bz, unsigned shared, void *stream, void **parameters,
                   void **extra) {
  return d().launch_kernel(function, gx, gy, gz, bx, by, bz, shared, stream, parameters, extra);
}
int cuGetErrorString(int result, const char **text) { return d().get_error_string(result, text); }
}
