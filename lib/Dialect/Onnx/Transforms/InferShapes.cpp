//===- InferShapes.cpp - Refine onnx result types and fold shapes ---------===//
//
// Implements `lowbit-infer-shapes`: alternate type refinement from the onnx
// dialect's own inference with canonicalization until a fixed point.
//
//===----------------------------------------------------------------------===//

#include "lowbit/Dialect/Onnx/Transforms/Passes.h"

#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace lowbit::onnx {
#define GEN_PASS_DEF_INFERSHAPESPASS
#include "lowbit/Dialect/Onnx/Transforms/Passes.h.inc"
} // namespace lowbit::onnx

using namespace mlir;
using namespace lowbit::onnx;

namespace {
struct InferShapesPass : lowbit::onnx::impl::InferShapesPassBase<InferShapesPass> {
  using InferShapesPassBase::InferShapesPassBase;

  void runOnOperation() override {
    func::FuncOp func = getOperation();
    RewritePatternSet patterns(&getContext());
    for (RegisteredOperationName name : getContext().getRegisteredOperations())
      if (name.getDialectNamespace() == OnnxDialect::getDialectNamespace())
        name.getCanonicalizationPatterns(patterns, &getContext());
    FrozenRewritePatternSet frozen(std::move(patterns));

    for (unsigned round = 0; round < maxIterations; ++round) {
      FailureOr<bool> refined = refineTypes(func);
      if (failed(refined))
        return signalPassFailure();
      bool folded = false;
      if (failed(applyPatternsGreedily(func, frozen, GreedyRewriteConfig(), &folded)))
        return signalPassFailure();
      if (!*refined && !folded)
        break;
    }
    updateFunctionType(func);
  }

  /// Replaces each onnx result type by its meet with the inferred type.
  /// Returns whether anything changed.
  FailureOr<bool> refineTypes(func::FuncOp func) {
    bool changed = false;
    WalkResult walk = func.walk([&](InferResultTypesOpInterface op) {
      SmallVector<Type> inferred;
      if (failed(op.inferResultTypes(inferred)))
        return WalkResult::interrupt();
      for (auto [result, type] : llvm::zip(op->getResults(), inferred)) {
        Type meet = meetTypes(result.getType(), type);
        if (!meet) {
          op->emitOpError() << "result type " << result.getType()
                            << " contradicts the inferred type " << type;
          return WalkResult::interrupt();
        }
        if (meet != result.getType()) {
          result.setType(meet);
          ++numRefinedResults;
          changed = true;
        }
      }
      return WalkResult::advance();
    });
    if (walk.wasInterrupted())
      return failure();
    return changed;
  }

  static void updateFunctionType(func::FuncOp func) {
    auto ret = cast<func::ReturnOp>(func.getBody().back().getTerminator());
    func.setType(FunctionType::get(func.getContext(), func.getArgumentTypes(),
                                   ret.getOperandTypes()));
  }
};
} // namespace
