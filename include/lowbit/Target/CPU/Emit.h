//===- Emit.h - LLVM dialect module to LLVM IR and object code --*- C++ -*-===//
//
// The back end of the CPU target: translate the LLVM dialect to LLVM IR,
// optimize it for the host CPU, and emit object code in process through
// LLVM's TargetMachine.
//
//===----------------------------------------------------------------------===//

#ifndef LOWBIT_TARGET_CPU_EMIT_H
#define LOWBIT_TARGET_CPU_EMIT_H

#include "mlir/IR/BuiltinOps.h"
#include "llvm/IR/LLVMContext.h"
#include "llvm/IR/Module.h"
#include "llvm/Support/raw_ostream.h"

#include <memory>

namespace lowbit::cpu {
/// The CPU code is generated for: `cpu` an LLVM CPU name ("host" or empty:
/// the CPU this compiler runs on, with its features), `features` extra
/// features (+name or -name, comma-separated). The runtime's micro-kernels
/// choose their instruction set when they run, whatever this is.
struct Target {
  std::string cpu = "host";
  std::string features;
};

/// Whether code can be generated for `cpu` (else a message in `error`).
bool checkTarget(const Target &cpu, std::string &error);

/// Translates a module in the LLVM dialect to LLVM IR for `cpu` and
/// runs LLVM's optimization pipeline at `optLevel` (0-3) on it. Adds
/// `lowbit_<func>_packed(void **args)` for each function with a C interface:
/// the runtime calls it with pointers to the result struct and the input
/// descriptors, so it needs no per-model glue.
/// Errors are emitted on the module.
std::unique_ptr<llvm::Module> translateToLLVMIR(mlir::ModuleOp module,
                                                llvm::LLVMContext &context,
                                                unsigned optLevel, const Target &cpu = {});

/// Writes `module` as an object file for `cpu`.
llvm::LogicalResult emitObjectFile(llvm::Module &module, llvm::raw_pwrite_stream &os,
                                   const Target &cpu, std::string &error);

/// Adds a NUL-terminated constant string global (exported) to `module`.
void addStringGlobal(llvm::Module &module, llvm::StringRef name, llvm::StringRef text);

/// The weights file format (version 1): a 64-byte header, "LOWBITW1", then
/// the little-endian u64 id, count and total size, then each weight at a
/// 64-byte aligned offset. The library records the same id, the file's name
/// and, per weight, the pointer it reads the weight through, its offset and
/// its size (lowbit_weights_{file,id,count,table}); the runtime maps the file
/// beside the library when an instance is created (lib/Runtime/CPU/Model.c).
constexpr uint64_t kWeightsHeaderBytes = 64;

/// The constant globals of `module` of at least `minBytes` each: what
/// externalizeWeights would move, and their total size.
uint64_t weightBytes(llvm::Module &module, uint64_t minBytes);

/// Moves the weights (constant globals of at least `minBytes`) of an
/// optimized `module` into `os` in the weights file format: each becomes a
/// pointer that the runtime sets to the mapped file, loaded once at the
/// entry of each function that uses it. `fileName` is the name the runtime
/// looks for beside the library.
llvm::LogicalResult externalizeWeights(llvm::Module &module, uint64_t minBytes,
                                       llvm::StringRef fileName, llvm::raw_pwrite_stream &os,
                                       std::string &error);

/// The path of lowbit's CPU runtime archive for a tool started as `argv0`
/// (`<bin>/../lib/liblowbit_cpu_runtime.a`), or $LOWBIT_RUNTIME_LIB.
std::string findRuntimeLibrary(const char *argv0);

/// The archive of lowbit-run's driver for a model linked in
/// (`<bin>/../lib/liblowbit_run_main.a`), which --emit=exe links.
std::string findRunMainLibrary(const char *argv0);

/// lowbit-run, beside the tool started as `argv0`: lowbitc runs calibration
/// data through it.
std::string findRunTool(const char *argv0);

/// The CUDA half of the runtime (`<bin>/../lib/liblowbit_cuda_runtime.a`),
/// which --target=cpu,cuda links beside the CPU one; "" if this build of
/// lowbit has none (nvcc was not found when it was built).
std::string findCudaRuntimeLibrary(const char *argv0);

/// The folder of the CUDA kernels' PTX (`<bin>/../lib/cuda`, one
/// `<kernel>.sm_<arch>.ptx` per kernel file and architecture), which
/// --emit=ptx writes out.
std::string findCudaPtxFolder(const char *argv0);

/// Links `objectPath`, lowbit-run's driver and the runtime archives (the CPU
/// one first, then the CUDA one with --target=cpu,cuda) into a standalone
/// executable at `outputPath`.
llvm::LogicalResult linkExecutable(llvm::StringRef objectPath, llvm::StringRef outputPath,
                                   llvm::ArrayRef<std::string> runtimeLibraries,
                                   llvm::StringRef runMainLibrary, std::string &error);

/// Links `objectPath` and the runtime archives into a shared library at
/// `outputPath` with the system C compiler driver (`cc`, or $LOWBIT_CC).
llvm::LogicalResult linkSharedLibrary(llvm::StringRef objectPath, llvm::StringRef outputPath,
                                      llvm::ArrayRef<std::string> runtimeLibraries,
                                      std::string &error);
} // namespace lowbit::cpu

#endif // LOWBIT_TARGET_CPU_EMIT_H
