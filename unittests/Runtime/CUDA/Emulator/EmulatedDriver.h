//===- EmulatedDriver.h - The CUDA runtime over the CPU emulator -----------===//

#ifndef LOWBIT_UNITTESTS_RUNTIME_CUDA_EMULATEDDRIVER_H
#define LOWBIT_UNITTESTS_RUNTIME_CUDA_EMULATEDDRIVER_H

#include "CUDA/Driver.h"

/// (EmulatedTest.cpp) Makes the CUDA runtime (lib/Runtime/CUDA) run every kernel it launches
/// on the CPU emulator (Emulator.h) instead of a GPU. Call before its
/// first use.
void lowbitCudaUseEmulator();

/// The emulated driver's table (FakeDriver/ exports it as libcuda.so.1).
const lowbit_cuda_driver *lowbitEmulatedDriver();

#endif // LOWBIT_UNITTESTS_RUNTIME_CUDA_EMULATEDDRIVER_H
