/*===- Driver.c - The CUDA driver API, loaded when first needed ------------===*/

#include "Driver.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

static lowbit_cuda_driver driver;
static lowbit_cu_context context;
static lowbit_cu_device device;
static char device_name[256];
static int multiprocessors;
static char open_error[512];
static int opened; /* 1: usable; -1: failed (open_error says why) */
static pthread_once_t once = PTHREAD_ONCE_INIT;

/* Resolves `name` into `slot`; false (and the reason) when missing. */
static int resolve(void *library, const char *name, void *slot) {
  void *symbol = dlsym(library, name);
  if (!symbol) {
    snprintf(open_error, sizeof open_error, "libcuda.so.1 has no %s (driver too old?)", name);
    return 0;
  }
  memcpy(slot, &symbol, sizeof symbol);
  return 1;
}

static const lowbit_cuda_driver *replacement;

void lowbit_cuda_driver_replace(const lowbit_cuda_driver *table) { replacement = table; }

static int load_library(void) {
  if (replacement) {
    driver = *replacement;
    return 1;
  }
  void *library = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!library) {
    const char *why = dlerror();
    snprintf(open_error, sizeof open_error,
             "libcuda.so.1 not found (no NVIDIA driver on this machine): %s", why ? why : "");
    return 0;
  }
  return resolve(library, "cuInit", &driver.init) &&
         resolve(library, "cuDeviceGetCount", &driver.device_get_count) &&
         resolve(library, "cuDeviceGet", &driver.device_get) &&
         resolve(library, "cuDeviceGetName", &driver.device_get_name) &&
         resolve(library, "cuDevicePrimaryCtxRetain", &driver.primary_ctx_retain) &&
         resolve(library, "cuCtxSetCurrent", &driver.ctx_set_current) &&
         resolve(library, "cuCtxSynchronize", &driver.ctx_synchronize) &&
         resolve(library, "cuModuleLoadData", &driver.module_load_data) &&
         resolve(library, "cuModuleGetFunction", &driver.module_get_function) &&
         resolve(library, "cuMemAlloc_v2", &driver.mem_alloc) &&
         resolve(library, "cuMemFree_v2", &driver.mem_free) &&
         resolve(library, "cuMemcpyHtoD_v2", &driver.memcpy_htod) &&
         resolve(library, "cuMemcpyDtoH_v2", &driver.memcpy_dtoh) &&
         resolve(library, "cuMemsetD8_v2", &driver.memset_d8) &&
         resolve(library, "cuDeviceGetAttribute", &driver.device_get_attribute) &&
         resolve(library, "cuLaunchKernel", &driver.launch_kernel) &&
         resolve(library, "cuGetErrorString", &driver.get_error_string);
}

static void open_driver(void) {
  opened = -1;
  if (!load_library())
    return;
  lowbit_cu_result result = driver.init(0);
  int count = 0;
  if (result == 0)
    result = driver.device_get_count(&count);
  if (result != 0) {
    const char *text = NULL;
    driver.get_error_string(result, &text);
    snprintf(open_error, sizeof open_error, "cuInit: CUDA error %d (%s)", result,
             text ? text : "unknown");
    return;
  }
  if (count == 0) {
    snprintf(open_error, sizeof open_error, "no CUDA device (the driver found none)");
    return;
  }
  if ((result = driver.device_get(&device, 0)) != 0 ||
      (result = driver.primary_ctx_retain(&context, device)) != 0) {
    snprintf(open_error, sizeof open_error, "device 0: CUDA error %d", result);
    return;
  }
  driver.device_get_name(device_name, (int)sizeof device_name, device);
  enum { kMultiprocessorCount = 16 }; /* CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT */
  if (driver.device_get_attribute(&multiprocessors, kMultiprocessorCount, device) != 0)
    multiprocessors = 0;
  opened = 1;
}

const lowbit_cuda_driver *lowbit_cuda_driver_open(char *error, size_t error_size) {
  pthread_once(&once, open_driver);
  if (opened != 1) {
    if (error && error_size)
      snprintf(error, error_size, "%s", open_error);
    return NULL;
  }
  /* The primary context, current on the calling thread. */
  lowbit_cu_result result = driver.ctx_set_current(context);
  if (result != 0) {
    lowbit_cuda_fail(&driver, result, "cuCtxSetCurrent", error, error_size);
    return NULL;
  }
  return &driver;
}

int lowbit_cuda_fail(const lowbit_cuda_driver *d, lowbit_cu_result result, const char *what,
                     char *error, size_t error_size) {
  const char *text = NULL;
  if (d && d->get_error_string)
    d->get_error_string(result, &text);
  if (error && error_size)
    snprintf(error, error_size, "%s: CUDA error %d (%s)", what, result, text ? text : "unknown");
  return -1;
}

const char *lowbit_cuda_device_name(void) { return opened == 1 ? device_name : ""; }

int lowbit_cuda_multiprocessors(void) { return opened == 1 ? multiprocessors : 0; }
