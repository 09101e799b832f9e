//===- Onnx.h - The onnx dialect --------------------------------*- C++ -*-===//
//
// The import target of lowbit: one op per ONNX operator (see OnnxOps.td).
//
//===----------------------------------------------------------------------===//

#ifndef LOWBIT_DIALECT_ONNX_IR_ONNX_H
#define LOWBIT_DIALECT_ONNX_IR_ONNX_H

#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Dialect.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/IR/OpImplementation.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

#include "lowbit/Dialect/Onnx/IR/OnnxOpsDialect.h.inc"

namespace lowbit::onnx {
/// Checks the result types of an op against the types it infers (see
/// InferResultTypesOpInterface).
llvm::LogicalResult verifyInferredResultTypes(mlir::Operation *op);

/// While an instance lives (on this thread), verifyInferredResultTypes
/// accepts any result types. The importer creates each op with placeholder
/// result types, verifies its operands and attributes under this guard, and
/// only then runs inference (which assumes a structurally valid op).
class DeferResultTypeVerification {
public:
  DeferResultTypeVerification();
  ~DeferResultTypeVerification();
  DeferResultTypeVerification(const DeferResultTypeVerification &) = delete;
  DeferResultTypeVerification &operator=(const DeferResultTypeVerification &) = delete;
  static bool isActive();
};

/// Broadcast inference shared by the elementwise ops: all operands broadcast
/// together; the result takes the first operand's element type, or i1.
llvm::LogicalResult
inferBroadcastResult(mlir::Operation *op, bool sameElementType, bool boolResult,
                     llvm::SmallVectorImpl<mlir::Type> &inferred);

/// Reduction inference shared by ReduceMean, ReduceSum and ReduceMax.
llvm::LogicalResult inferReduceResult(mlir::Operation *op, mlir::Value axes,
                                      int64_t keepdims,
                                      int64_t noopWithEmptyAxes,
                                      llvm::SmallVectorImpl<mlir::Type> &inferred);

/// An axis that the verifier has checked to lie in [-rank, rank), as a
/// non-negative index.
inline int64_t nonNegativeAxis(int64_t axis, int64_t rank) {
  return axis < 0 ? axis + rank : axis;
}

/// The values of a constant integer tensor (an onnx.Constant, or anything
/// that folds to one), or nullopt.
std::optional<llvm::SmallVector<int64_t>> getConstantIntValues(mlir::Value v);

/// An onnx.Constant holding `values` as a 1-D i64 tensor (a shape, axes).
mlir::Value createI64Vector(mlir::OpBuilder &b, mlir::Location loc, llvm::ArrayRef<int64_t> values);

/// Whether `actual` is a valid result type where `inferred` was inferred:
/// same element type, and where both are ranked, same rank and equal sizes
/// wherever both are static.
bool isCompatibleResultType(mlir::Type actual, mlir::Type inferred);

/// The most precise type that is compatible with both, or null when they
/// contradict each other.
mlir::Type meetTypes(mlir::Type a, mlir::Type b);
} // namespace lowbit::onnx

#include "lowbit/Dialect/Onnx/IR/OnnxInterfaces.h.inc"

#define GET_OP_CLASSES
#include "lowbit/Dialect/Onnx/IR/OnnxOps.h.inc"

namespace lowbit::onnx {
/// What the Shape read `read` returns, taken from `fullShape` (all `rank`
/// sizes of the tensor it reads, computed otherwise): `fullShape` itself,
/// or its slice [start, end).
mlir::Value shapeReadOf(mlir::OpBuilder &b, ShapeOp read, mlir::Value fullShape, int64_t rank);
} // namespace lowbit::onnx

#endif // LOWBIT_DIALECT_ONNX_IR_ONNX_H
