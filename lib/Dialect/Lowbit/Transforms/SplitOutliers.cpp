//===- SplitOutliers.cpp - LLM.int8's outlier decomposition ---------------===//
//
// Implements `lowbit-split-outliers` (see Passes.td): Dettmers et al.,
// "LLM.int8(): 8-bit Matrix Multiplication for Transformers at Scale" (2022).
//
//===----------------------------------------------------------------------===//

#include "lowbit/Dialect/Lowbit/Transforms/Passes.h"

#include "Quantize.h"

#include "mlir/IR/Builders.h"

namespace lowbit {
#define GEN_PASS_DEF_SPLITOUTLIERSPASS
#include "lowbit/Dialect/Lowbit/Transforms/Passes.h.inc"
} // namespace lowbit

using namespace mlir;
using namespace lowbit;

namespace {
struct SplitOutliersPass : lowbit::impl::SplitOutliersPassBase<SplitOutliersPass> {
  using SplitOutliersPassBase::SplitOutliersPassBase;

  /// x W = (x * normal) W' + x[:, O] W[O, :]: W' is W with the outlier rows
  /// zeroed (so that they do not widen its grid), `normal` is 1 except at
  /// the outlier channels O. Returns false if the layer has none.
  bool split(quant::LinearLayer &layer, ArrayRef<float> absMax) {
    SmallVector<int64_t> outliers;
    for (int64_t j = 0; j < layer.k; ++j)
      if (absMax[j] > threshold)
        outliers.push_back(j);
    if (outliers.empty())
      return false;
    onnx::MatMulOp op = layer.op;
    OpBuilder b(op);
    Location loc = op.getLoc();
    Value x = op.getA();
    auto xType = cast<RankedTensorType>(x.getType());
    auto yType = cast<RankedTensorType>(op.getResult().getType());
    int64_t k = layer.k, n = layer.n, count = outliers.size();
    std::string name = layer.name.empty() ? "linear" : layer.name;

    std::vector<float> normal(k, 1.0f), inlier = layer.weight, outlierRows(count * n);
    for (auto [i, j] : llvm::enumerate(outliers)) {
      normal[j] = 0;
      for (int64_t c = 0; c < n; ++c) {
        outlierRows[i * n + c] = layer.weight[j * n + c];
        inlier[j * n + c] = 0;
      }
    }
    auto f32 = b.getF32Type();
    Value mask = quant::makeConstant<float>(b, loc, RankedTensorType::get({k}, f32),
                                            ArrayRef<float>(normal), name + ".normal_channels");
    Value masked = onnx::MulOp::create(b, loc, xType, x, mask);
    Value inlierWeight =
        quant::makeConstant<float>(b, loc, cast<RankedTensorType>(op.getB().getType()),
                                   ArrayRef<float>(inlier), name + ".inliers");
    auto inlierProduct = onnx::MatMulOp::create(b, loc, yType, masked, inlierWeight);

    // The outlier channels, gathered, times their weight rows: a small
    // product kept in floating point (lowbit.keep_float).
    std::vector<int64_t> indexValues(outliers.begin(), outliers.end());
    auto indexType = RankedTensorType::get({count}, b.getI64Type());
    Value indices = onnx::ConstantOp::create(
        b, loc, cast<ElementsAttr>(DenseElementsAttr::get(indexType, ArrayRef(indexValues))));
    SmallVector<int64_t> gatheredShape(xType.getShape());
    gatheredShape.back() = count;
    auto gatheredType = RankedTensorType::get(gatheredShape, xType.getElementType());
    Value gathered = onnx::GatherOp::create(b, loc, gatheredType, x, indices,
                                            b.getI64IntegerAttr(xType.getRank() - 1));
    Value outlierWeight =
        quant::makeConstant<float>(b, loc, RankedTensorType::get({count, n}, f32),
                                   ArrayRef<float>(outlierRows), name + ".outliers");
    auto outlierProduct = onnx::MatMulOp::create(
        b, NameLoc::get(b.getStringAttr(name + ".outliers"), loc), yType, gathered, outlierWeight);
    outlierProduct->setAttr(quant::kKeepFloat, b.getUnitAttr());
    Value sum = onnx::AddOp::create(b, loc, yType, inlierProduct, outlierProduct);
    op.getResult().replaceAllUsesWith(sum);
    Operation *weight = op.getB().getDefiningOp();
    op.erase();
    if (weight->use_empty())
      weight->erase();
    numOutlierChannels += count;
    return true;
  }

  void runOnOperation() override {
    func::FuncOp func = getOperation();
    if (threshold <= 0) {
      func->emitError() << "lowbit-split-outliers: threshold must be positive, got " << threshold;
      return signalPassFailure();
    }
    quant::LayerSelection selection{{layers.begin(), layers.end()},
                                    {exclude.begin(), exclude.end()}};
    for (quant::LinearLayer &layer : quant::findLinearLayers(func, selection)) {
      CalibrationTapOp tap = quant::calibrationTapOf(layer.op);
      std::vector<float> absMax;
      if (!tap || !tap.getAbsMax() || !quant::readFloats(*tap.getAbsMax(), absMax) ||
          absMax.size() != size_t(layer.k)) {
        layer.op.emitError() << "lowbit-split-outliers: " << quant::describe(layer)
                             << " has no calibration statistics: its input needs a "
                                "lowbit.calibration_tap with `abs_max` (lowbitc --calib=FILE)";
        return signalPassFailure();
      }
      if (split(layer, absMax))
        ++numSplit;
    }
  }
};
} // namespace
