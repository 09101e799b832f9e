//===- Registration.cpp - Everything lowbit's tools register --------------===//

#include "lowbit/Compiler/Registration.h"

#include "lowbit/Compiler/Pipelines.h"
#include "lowbit/Dialect/Onnx/IR/Onnx.h"
#include "lowbit/Dialect/Onnx/Transforms/Passes.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Transforms/Passes.h"

void lowbit::registerAllDialects(mlir::DialectRegistry &registry) {
  registry.insert<onnx::OnnxDialect, mlir::func::FuncDialect,
                  mlir::arith::ArithDialect, mlir::tensor::TensorDialect>();
}

void lowbit::registerAllPasses() {
  onnx::registerOnnxPasses();
  registerPipelines();
  mlir::registerTransformsPasses();
}
