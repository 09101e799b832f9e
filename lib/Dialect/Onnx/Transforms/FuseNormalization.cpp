//===- FuseNormalization.cpp - Fuse decomposed RMSNorm / LayerNorm --------===//
//
// Implements `lowbit-fuse-normalization`: matches the elementwise spellings
// of RMSNorm and LayerNorm that exporters write and replaces each with one
// onnx op (see Passes.td for the exact patterns and requirements).
//
//===----------------------------------------------------------------------===//

#include "lowbit/Dialect/Onnx/Transforms/Passes.h"

#include "mlir/IR/Matchers.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace lowbit::onnx {
#define GEN_PASS_DEF_FUSENORMALIZATIONPASS
#include "lowbit/Dialect/Onnx/Transforms/Passes.h.inc"
} // namespace lowbit::onnx

using namespace mlir;
using namespace lowbit::onnx;

namespace {
/// The value of a constant single-element float tensor.
std::optional<double> getScalarFloat(Value v) {
  DenseFPElementsAttr attr;
  if (!matchPattern(v, m_Constant(&attr)) || attr.getNumElements() != 1)
    return std::nullopt;
  return (*attr.getValues<APFloat>().begin()).convertToDouble();
}

/// Whether `v` is a float tensor of known rank whose element type is one the
/// fused ops accept.
bool isNormalizable(Value v) {
  auto type = dyn_cast<RankedTensorType>(v.getType());
  return type && type.getRank() >= 1 &&
         isa<Float32Type, Float16Type, BFloat16Type>(type.getElementType());
}

/// Whether `op` is a ReduceMean over exactly the last dimension, keeping it.
bool isMeanOverLastDim(ReduceMeanOp op) {
  auto type = dyn_cast<RankedTensorType>(op.getData().getType());
  if (!type || !op.getKeepdims() || !op.getAxes())
    return false;
  auto axes = getConstantIntValues(op.getAxes());
  int64_t rank = type.getRank();
  return axes && axes->size() == 1 && ((*axes)[0] == -1 || (*axes)[0] == rank - 1);
}

/// Matches `x^2` as Pow(x, 2) or Mul(x, x), returning x.
Value matchSquare(Value v) {
  if (auto pow = v.getDefiningOp<PowOp>()) {
    auto exponent = getScalarFloat(pow.getB());
    return exponent && *exponent == 2.0 ? pow.getA() : Value();
  }
  if (auto mul = v.getDefiningOp<MulOp>())
    return mul.getA() == mul.getB() ? mul.getA() : Value();
  return {};
}

/// Matches `sqrt(mean(square(x)) + eps)` and returns (x, eps).
std::optional<std::pair<Value, double>> matchRootMeanSquare(Value v) {
  auto sqrt = v.getDefiningOp<SqrtOp>();
  auto add = sqrt ? sqrt.getX().getDefiningOp<AddOp>() : AddOp();
  if (!add)
    return std::nullopt;
  for (auto [meanValue, epsValue] : {std::pair(add.getA(), add.getB()),
                                     std::pair(add.getB(), add.getA())}) {
    auto mean = meanValue.getDefiningOp<ReduceMeanOp>();
    auto eps = getScalarFloat(epsValue);
    if (!mean || !eps || !isMeanOverLastDim(mean))
      continue;
    if (Value x = matchSquare(mean.getData()))
      return std::pair(x, *eps);
  }
  return std::nullopt;
}

/// Matches `x / sqrt(mean(x^2) + eps)` in its spellings; returns (x, eps).
std::optional<std::pair<Value, double>> matchNormalized(Value v) {
  if (auto div = v.getDefiningOp<DivOp>()) {
    auto rms = matchRootMeanSquare(div.getB());
    if (rms && rms->first == div.getA())
      return rms;
    return std::nullopt;
  }
  auto mul = v.getDefiningOp<MulOp>();
  if (!mul)
    return std::nullopt;
  for (auto [x, inverse] : {std::pair(mul.getA(), mul.getB()), std::pair(mul.getB(), mul.getA())}) {
    Value root;
    if (auto div = inverse.getDefiningOp<DivOp>()) {
      auto one = getScalarFloat(div.getA());
      if (one && *one == 1.0)
        root = div.getB();
    } else if (auto reciprocal = inverse.getDefiningOp<ReciprocalOp>()) {
      root = reciprocal.getX();
    }
    if (!root)
      continue;
    auto rms = matchRootMeanSquare(root);
    if (rms && rms->first == x)
      return rms;
  }
  return std::nullopt;
}

/// Whether `weight` is a 1-D tensor sized like the last dimension of `x`.
bool isLastDimVector(Value weight, Value x) {
  auto w = dyn_cast<RankedTensorType>(weight.getType());
  auto t = cast<RankedTensorType>(x.getType());
  if (!w || w.getRank() != 1 || w.getElementType() != t.getElementType())
    return false;
  int64_t last = t.getDimSize(t.getRank() - 1);
  return ShapedType::isDynamic(last) || ShapedType::isDynamic(w.getDimSize(0)) ||
         w.getDimSize(0) == last;
}

struct FuseRMSNorm : OpRewritePattern<MulOp> {
  FuseRMSNorm(MLIRContext *context, llvm::Statistic &count)
      : OpRewritePattern(context), count(count) {}

  LogicalResult matchAndRewrite(MulOp op, PatternRewriter &rewriter) const override {
    for (auto [normalized, weight] :
         {std::pair(op.getA(), op.getB()), std::pair(op.getB(), op.getA())}) {
      auto match = matchNormalized(normalized);
      if (!match)
        continue;
      auto [x, eps] = *match;
      if (!isNormalizable(x) || !isLastDimVector(weight, x) || op.getType() != x.getType())
        continue;
      rewriter.replaceOpWithNewOp<RMSNormalizationOp>(
          op, op.getType(), x, weight, rewriter.getI64IntegerAttr(-1),
          rewriter.getF32FloatAttr(eps), rewriter.getI64IntegerAttr(1));
      ++count;
      return success();
    }
    return rewriter.notifyMatchFailure(op, "not a weighted RMSNorm over the last dimension");
  }
  llvm::Statistic &count;
};

struct FuseLayerNorm : OpRewritePattern<AddOp> {
  FuseLayerNorm(MLIRContext *context, llvm::Statistic &count)
      : OpRewritePattern(context), count(count) {}

  /// Matches `Sub(x, ReduceMean(x))` and returns x.
  static Value matchCentered(Value v) {
    auto sub = v.getDefiningOp<SubOp>();
    auto mean = sub ? sub.getB().getDefiningOp<ReduceMeanOp>() : ReduceMeanOp();
    if (!mean || mean.getData() != sub.getA() || !isMeanOverLastDim(mean))
      return {};
    return sub.getA();
  }

  LogicalResult matchAndRewrite(AddOp op, PatternRewriter &rewriter) const override {
    for (auto [scaledValue, bias] :
         {std::pair(op.getA(), op.getB()), std::pair(op.getB(), op.getA())}) {
      auto scaled = scaledValue.getDefiningOp<MulOp>();
      if (!scaled)
        continue;
      for (auto [normalized, gamma] : {std::pair(scaled.getA(), scaled.getB()),
                                       std::pair(scaled.getB(), scaled.getA())}) {
        auto match = matchNormalized(normalized);
        if (!match)
          continue;
        Value centered = match->first;
        Value x = matchCentered(centered);
        if (!x || !isNormalizable(x) || !isLastDimVector(gamma, x) ||
            !isLastDimVector(bias, x) || op.getType() != x.getType())
          continue;
        rewriter.replaceOpWithNewOp<LayerNormalizationOp>(
            op, TypeRange{op.getType()}, x, gamma, bias, rewriter.getI64IntegerAttr(-1),
            rewriter.getF32FloatAttr(match->second), rewriter.getI64IntegerAttr(1));
        ++count;
        return success();
      }
    }
    return rewriter.notifyMatchFailure(op, "not a LayerNorm over the last dimension");
  }
  llvm::Statistic &count;
};

struct FuseNormalizationPass
    : lowbit::onnx::impl::FuseNormalizationPassBase<FuseNormalizationPass> {
  using FuseNormalizationPassBase::FuseNormalizationPassBase;

  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    if (fuseRMSNorm)
      patterns.add<FuseRMSNorm>(&getContext(), numRMSNorms);
    if (fuseLayerNorm)
      patterns.add<FuseLayerNorm>(&getContext(), numLayerNorms);
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      return signalPassFailure();
  }
};
} // namespace
