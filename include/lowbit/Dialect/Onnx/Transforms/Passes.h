//===- Passes.h - Passes of the onnx dialect --------------------*- C++ -*-===//

#ifndef LOWBIT_DIALECT_ONNX_TRANSFORMS_PASSES_H
#define LOWBIT_DIALECT_ONNX_TRANSFORMS_PASSES_H

#include "lowbit/Dialect/Onnx/IR/Onnx.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Pass/Pass.h"

namespace lowbit::onnx {
#define GEN_PASS_DECL
#include "lowbit/Dialect/Onnx/Transforms/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "lowbit/Dialect/Onnx/Transforms/Passes.h.inc"
} // namespace lowbit::onnx

#endif // LOWBIT_DIALECT_ONNX_TRANSFORMS_PASSES_H
