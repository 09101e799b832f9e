//===- Pipelines.cpp - lowbit's pass pipelines ----------------------------===//

#include "lowbit/Compiler/Pipelines.h"

#include "lowbit/Dialect/Onnx/Transforms/Passes.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Transforms/Passes.h"

void lowbit::populateOnnxCleanupPipeline(mlir::OpPassManager &pm) {
  mlir::OpPassManager &func = pm.nest<mlir::func::FuncOp>();
  func.addPass(onnx::createInferShapesPass());
  func.addPass(onnx::createFuseNormalizationPass());
  pm.addPass(mlir::createCanonicalizerPass());
  pm.addPass(mlir::createCSEPass());
}

void lowbit::registerPipelines() {
  mlir::PassPipelineRegistration<>(
      "lowbit-onnx-cleanup-pipeline",
      "Graph cleanup after import: refine types, fold shape arithmetic, fuse "
      "decomposed norms, canonicalize, cse",
      populateOnnxCleanupPipeline);
}
