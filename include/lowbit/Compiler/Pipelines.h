//===- Pipelines.h - lowbit's pass pipelines --------------------*- C++ -*-===//

#ifndef LOWBIT_COMPILER_PIPELINES_H
#define LOWBIT_COMPILER_PIPELINES_H

#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassOptions.h"

namespace lowbit {
/// `lowbit-onnx-cleanup-pipeline`: graph cleanup right after import. Refines
/// types and folds exporter shape arithmetic (lowbit-infer-shapes), fuses
/// decomposed norms (lowbit-fuse-normalization), then canonicalize and cse.
void populateOnnxCleanupPipeline(mlir::OpPassManager &pm);

struct CpuCodegenOptions : mlir::PassPipelineOptions<CpuCodegenOptions> {
  Option<bool> ukernels{*this, "ukernels",
                        llvm::cl::desc("Run fp32 contractions as calls to the runtime's "
                                       "micro-kernels (lowbit-lower-to-ukernels) instead "
                                       "of tiled loops (lowbit-tile-contractions)"),
                        llvm::cl::init(true)};
  Option<bool> foldDequantize{
      *this, "fold-dequantize",
      llvm::cl::desc("MatMuls read a per-row dequantize's levels "
                     "(lowbit-fold-dequantize-into-matmul: attention over a quantized KV cache)"),
      llvm::cl::init(true)};
  Option<std::string> matmulNBitsActivations{
      *this, "matmul-nbits-activations",
      llvm::cl::desc("Activations of ONNX Runtime's MatMulNBits products "
                     "(lowbit-convert-matmul-nbits: as-model, f32 or int8)"),
      llvm::cl::init("as-model")};
};

/// `lowbit-cpu-codegen-pipeline`: onnx dialect (after cleanup) to the LLVM
/// dialect for the host CPU. The target-independent front half
/// (convert-onnx-to-linalg, elementwise fusion, bufferization) is where a
/// CUDA pipeline will branch off.
void populateCpuCodegenPipeline(mlir::OpPassManager &pm, const CpuCodegenOptions &options = {});

/// Registers lowbit's pipelines with the global pass registry.
void registerPipelines();
} // namespace lowbit

#endif // LOWBIT_COMPILER_PIPELINES_H
