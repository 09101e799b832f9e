//===- FuseOutlierSplit.cpp - One op for a split layer ---------------------===//
//
// Implements `lowbit-fuse-outlier-split` (see Passes.td).
//
//===----------------------------------------------------------------------===//

#include "lowbit/Dialect/Lowbit/Transforms/Passes.h"

#include "Quantize.h"

#include "mlir/IR/Matchers.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

#include <set>

namespace lowbit {
#define GEN_PASS_DEF_FUSEOUTLIERSPLITPASS
#include "lowbit/Dialect/Lowbit/Transforms/Passes.h.inc"
} // namespace lowbit

using namespace mlir;
using namespace lowbit;

namespace {
/// onnx.Add(quantized_matmul(x * mask, ...), MatMul(Gather(x, channels), W_o)
/// {lowbit.keep_float}) -> quantized_matmul(x, ...) outliers(channels, W_o),
/// when `mask` is 0 on exactly the gathered channels and 1 elsewhere (what
/// lowbit-split-outliers writes), in either order of the Add's operands.
struct FuseSplit : OpRewritePattern<onnx::AddOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(onnx::AddOp add, PatternRewriter &rewriter) const override {
    for (auto [lhs, rhs] : {std::pair(add.getA(), add.getB()), {add.getB(), add.getA()}}) {
      auto quantized = lhs.getDefiningOp<QuantizedMatMulOp>();
      auto outlierProduct = rhs.getDefiningOp<onnx::MatMulOp>();
      if (!quantized || quantized.getOutlierChannels() || !outlierProduct ||
          !outlierProduct->hasAttr(quant::kKeepFloat) || !quantized->hasOneUse() ||
          !outlierProduct->hasOneUse() || lhs.getType() != add.getType() ||
          rhs.getType() != add.getType())
        continue;
      auto gather = outlierProduct.getA().getDefiningOp<onnx::GatherOp>();
      auto masked = quantized.getInput().getDefiningOp<onnx::MulOp>();
      if (!gather || !masked)
        continue;
      Value x = gather.getData();
      auto xType = cast<RankedTensorType>(x.getType());
      if (gather.getAxis() != xType.getRank() - 1 && gather.getAxis() != -1)
        continue;
      Value mask = masked.getA() == x ? masked.getB() : masked.getB() == x ? masked.getA() : Value();
      std::vector<float> maskValues;
      std::optional<SmallVector<int64_t>> channels = onnx::getConstantIntValues(gather.getIndices());
      ElementsAttr maskAttr;
      if (!mask || !matchPattern(mask, m_Constant(&maskAttr)) ||
          !quant::readFloats(maskAttr, maskValues) || !channels ||
          masked.getType() != xType ||
          int64_t(maskValues.size()) != xType.getShape().back())
        continue;
      std::set<int64_t> outliers(channels->begin(), channels->end());
      bool maskMatches = outliers.size() == channels->size();
      for (int64_t j = 0; j < int64_t(maskValues.size()) && maskMatches; ++j)
        maskMatches = maskValues[j] == (outliers.count(j) ? 0.0f : 1.0f);
      Value outlierWeights = outlierProduct.getB();
      if (!maskMatches || !matchPattern(outlierWeights, m_Constant()))
        continue;

      auto fused = QuantizedMatMulOp::create(
          rewriter, quantized.getLoc(), quantized.getType(), x, quantized.getWeights(),
          quantized.getScales(), quantized.getZeroPoints(), gather.getIndices(), outlierWeights,
          quantized.getBitsAttr(), quantized.getGroupSizeAttr(),
          quantized.getActivationBitsAttr(), quantized.getActivationScaleAttr());
      rewriter.replaceOp(add, fused.getResult());
      return success();
    }
    return failure();
  }
};

struct FuseOutlierSplitPass : lowbit::impl::FuseOutlierSplitPassBase<FuseOutlierSplitPass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    patterns.add<FuseSplit>(&getContext());
    // The mask multiply, gather and fp32 product are left without users.
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      return signalPassFailure();
  }
};
} // namespace
