//===- Passes.h - Quantization passes ---------------------------*- C++ -*-===//

#ifndef LOWBIT_DIALECT_LOWBIT_TRANSFORMS_PASSES_H
#define LOWBIT_DIALECT_LOWBIT_TRANSFORMS_PASSES_H

#include "lowbit/Dialect/Lowbit/IR/Lowbit.h"
#include "lowbit/Dialect/Onnx/IR/Onnx.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Pass/Pass.h"

namespace lowbit {
#define GEN_PASS_DECL
#include "lowbit/Dialect/Lowbit/Transforms/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "lowbit/Dialect/Lowbit/Transforms/Passes.h.inc"

/// The linear layers of `func` (as the quantization passes find and name
/// them), in IR order, each with its stage: 0 if no other linear layer
/// precedes it, else one more than the deepest stage it depends on (q, k
/// and v of the first block 0, its o 1, gate and up 2, down 3, ...).
/// Sequential calibration quantizes a stage at a time.
std::vector<std::pair<std::string, int64_t>> linearLayerStages(mlir::func::FuncOp func);
} // namespace lowbit

#endif // LOWBIT_DIALECT_LOWBIT_TRANSFORMS_PASSES_H
