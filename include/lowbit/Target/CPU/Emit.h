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
/// Translates a module in the LLVM dialect to LLVM IR for the host CPU and
/// runs LLVM's optimization pipeline at `optLevel` (0-3) on it. Adds
/// `lowbit_<func>_packed(void **args)` for each function with a C interface:
/// the runtime calls it with pointers to the result struct and the input
/// descriptors, so it needs no per-model glue.
/// Errors are emitted on the module.
std::unique_ptr<llvm::Module> translateToLLVMIR(mlir::ModuleOp module,
                                                llvm::LLVMContext &context,
                                                unsigned optLevel);

/// Writes `module` as an object file for the host CPU.
llvm::LogicalResult emitObjectFile(llvm::Module &module, llvm::raw_pwrite_stream &os,
                                   std::string &error);

/// Adds a NUL-terminated constant string global (exported) to `module`.
void addStringGlobal(llvm::Module &module, llvm::StringRef name, llvm::StringRef text);

/// The path of lowbit's CPU runtime archive for a tool started as `argv0`
/// (`<bin>/../lib/liblowbit_cpu_runtime.a`), or $LOWBIT_RUNTIME_LIB.
std::string findRuntimeLibrary(const char *argv0);

/// Links `objectPath` (and lowbit's CPU runtime) into a shared library at
/// `outputPath` with the system C compiler driver (`cc`, or $LOWBIT_CC).
llvm::LogicalResult linkSharedLibrary(llvm::StringRef objectPath, llvm::StringRef outputPath,
                                      llvm::StringRef runtimeLibrary, std::string &error);
} // namespace lowbit::cpu

#endif // LOWBIT_TARGET_CPU_EMIT_H
