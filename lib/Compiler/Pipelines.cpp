//===- Pipelines.cpp - lowbit's pass pipelines ----------------------------===//

#include "lowbit/Compiler/Pipelines.h"

#include "lowbit/Conversion/Passes.h"
#include "lowbit/Dialect/Lowbit/Transforms/Passes.h"
#include "lowbit/Dialect/Onnx/Transforms/Passes.h"
#include "lowbit/Transforms/Passes.h"
#include "mlir/Conversion/AffineToStandard/AffineToStandard.h"
#include "mlir/Conversion/ArithToLLVM/ArithToLLVM.h"
#include "mlir/Conversion/BufferizationToMemRef/BufferizationToMemRef.h"
#include "mlir/Conversion/MathToFuncs/MathToFuncs.h"
#include "mlir/Conversion/ControlFlowToLLVM/ControlFlowToLLVM.h"
#include "mlir/Conversion/FuncToLLVM/ConvertFuncToLLVMPass.h"
#include "mlir/Conversion/IndexToLLVM/IndexToLLVM.h"
#include "mlir/Conversion/MathToLLVM/MathToLLVM.h"
#include "mlir/Conversion/MathToLibm/MathToLibm.h"
#include "mlir/Conversion/MemRefToLLVM/MemRefToLLVM.h"
#include "mlir/Conversion/ReconcileUnrealizedCasts/ReconcileUnrealizedCasts.h"
#include "mlir/Conversion/SCFToControlFlow/SCFToControlFlow.h"
#include "mlir/Dialect/Bufferization/Pipelines/Passes.h"
#include "mlir/Dialect/Bufferization/Transforms/Passes.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/Passes.h"
#include "mlir/Dialect/MemRef/Transforms/Passes.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Transforms/Passes.h"

void lowbit::populateOnnxCleanupPipeline(mlir::OpPassManager &pm) {
  mlir::OpPassManager &func = pm.nest<mlir::func::FuncOp>();
  func.addPass(onnx::createInferShapesPass());
  func.addPass(onnx::createFuseNormalizationPass());
  pm.addPass(mlir::createCanonicalizerPass());
  pm.addPass(mlir::createCSEPass());
}

void lowbit::populateCpuCodegenPipeline(mlir::OpPassManager &pm,
                                        const CpuCodegenOptions &options) {
  using namespace mlir;
  // Weights quantized by ONNX Runtime's tools run on lowbit's kernels.
  pm.addNestedPass<func::FuncOp>(
      createConvertMatMulNBitsPass({options.matmulNBitsActivations.getValue()}));
  pm.addNestedPass<func::FuncOp>(createFoldQDQWeightsPass());
  // A layer split by lowbit-split-outliers becomes one quantized op again.
  pm.addNestedPass<func::FuncOp>(createFuseOutlierSplitPass());
  // GQA's attention reads each KV head once; a quantized cache's levels,
  // not an f32 copy.
  pm.addNestedPass<func::FuncOp>(onnx::createFoldRepeatKVPass());
  if (options.foldDequantize)
    pm.addNestedPass<func::FuncOp>(createFoldDequantizeIntoMatmulPass());
  // onnx -> linalg/tensor on tensors, with elementwise chains fused.
  pm.addNestedPass<func::FuncOp>(createConvertOnnxToLinalgPass());
  pm.addPass(createConvertLowbitToLinalgPass());
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createCSEPass());
  pm.addNestedPass<func::FuncOp>(createFuseElementwisePass());
  // Contractions either stay whole for the micro-kernels (which block for
  // the cache themselves) or get their m loop tiled.
  if (!options.ukernels)
    pm.addNestedPass<func::FuncOp>(createTileContractionsPass());
  pm.addPass(createCanonicalizerPass());
  // Tensors -> buffers; function arguments and results become plain
  // (identity-layout) memrefs, the calling convention of the runtime.
  bufferization::OneShotBufferizePassOptions bufferize;
  bufferize.bufferizeFunctionBoundaries = true;
  bufferize.functionBoundaryTypeConversion = bufferization::LayoutMapOption::IdentityLayoutMap;
  pm.addPass(bufferization::createOneShotBufferizePass(bufferize));
  bufferization::buildBufferDeallocationPipeline(pm);
  // Clones that deallocation inserted (a result that aliases an argument)
  // become allocations and copies.
  pm.addPass(createConvertBufferizationToMemRefPass());
  if (options.ukernels)
    pm.addPass(createLowerToUKernelsPass());
  // Loops, then LLVM.
  pm.addNestedPass<func::FuncOp>(createConvertLinalgToLoopsPass());
  pm.addPass(memref::createExpandStridedMetadataPass());
  pm.addPass(createLowerAffinePass());
  pm.addPass(createSCFToControlFlowPass());
  pm.addNestedPass<func::FuncOp>(createApproximateMathPass());
  pm.addNestedPass<func::FuncOp>(createEmulateBF16Pass());
  pm.addPass(createConvertMathToFuncs()); // integer powers
  pm.addPass(createConvertMathToLLVMPass());
  pm.addPass(createConvertMathToLibmPass());
  // Buffers come from the runtime's caching allocator (Allocator.c).
  FinalizeMemRefToLLVMConversionPassOptions memrefToLLVM;
  memrefToLLVM.useGenericFunctions = true;
  pm.addPass(createFinalizeMemRefToLLVMConversionPass(memrefToLLVM));
  pm.addPass(createArithToLLVMConversionPass());
  pm.addPass(createConvertIndexToLLVMPass());
  pm.addPass(createConvertControlFlowToLLVMPass());
  pm.addPass(createConvertFuncToLLVMPass());
  pm.addPass(createReconcileUnrealizedCastsPass());
}

void lowbit::registerPipelines() {
  mlir::PassPipelineRegistration<CpuCodegenOptions>(
      "lowbit-cpu-codegen-pipeline",
      "onnx dialect to the LLVM dialect for the host CPU: convert-onnx-to-linalg, "
      "elementwise fusion, one-shot bufferization, contractions as micro-kernel calls "
      "(or tiled loops), loops, LLVM",
      [](mlir::OpPassManager &pm, const CpuCodegenOptions &options) {
        populateCpuCodegenPipeline(pm, options);
      });
  mlir::PassPipelineRegistration<>(
      "lowbit-onnx-cleanup-pipeline",
      "Graph cleanup after import: refine types, fold shape arithmetic, fuse "
      "decomposed norms, canonicalize, cse",
      populateOnnxCleanupPipeline);
}
