//===- LowbitOps.cpp - The lowbit dialect's ops ---------------------------===//

#include "lowbit/Dialect/Lowbit/IR/Lowbit.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/DialectImplementation.h"
#include "mlir/IR/Matchers.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/IR/TypeUtilities.h"

#include <algorithm>

using namespace mlir;
using namespace lowbit;

#include "lowbit/Dialect/Lowbit/IR/LowbitOpsDialect.cpp.inc"

void LowbitDialect::initialize() {
  addOperations<
#define GET_OP_LIST
#include "lowbit/Dialect/Lowbit/IR/LowbitOps.cpp.inc"
      >();
}

#define GET_OP_CLASSES
#include "lowbit/Dialect/Lowbit/IR/LowbitOps.cpp.inc"

namespace {
bool isSupportedBits(int64_t bits) { return bits == 2 || bits == 3 || bits == 4 || bits == 8; }

/// Two sizes that may be dynamic agree unless both are static and differ.
bool compatible(int64_t a, int64_t b) {
  return ShapedType::isDynamic(a) || ShapedType::isDynamic(b) || a == b;
}

/// Checks that the levels of a constant `value` (inline dense constants only:
/// resources are not read here) lie in the signed range of `bits`.
LogicalResult verifyLevels(Operation *op, Value value, int64_t bits, StringRef what) {
  DenseIntElementsAttr levels;
  if (!value || !matchPattern(value, m_Constant(&levels)))
    return success();
  int64_t lo = -(int64_t(1) << (bits - 1)), hi = (int64_t(1) << (bits - 1)) - 1;
  for (const APInt &level : levels.getValues<APInt>()) {
    int64_t v = level.getSExtValue();
    if (v < lo || v > hi)
      return op->emitOpError() << what << " level " << v << " is outside [" << lo << ", " << hi
                               << "] for " << bits << " bits";
  }
  return success();
}
} // namespace

//===----------------------------------------------------------------------===//
// QuantizedMatMulOp
//===----------------------------------------------------------------------===//

LogicalResult QuantizedMatMulOp::verify() {
  int64_t bits = getBits(), groupSize = getGroupSize();
  if (!isSupportedBits(bits))
    return emitOpError() << "bits must be 2, 3, 4 or 8, got " << bits;
  if (std::optional<uint64_t> activationBits = getActivationBits(); activationBits && *activationBits != 8)
    return emitOpError() << "activation_bits must be 8 (int8 activations), got " << *activationBits;
  if (std::optional<APFloat> scale = getActivationScale()) {
    if (!getActivationBits())
      return emitOpError("activation_scale needs activation_bits = 8");
    if (!(scale->convertToDouble() > 0) || scale->isInfinity())
      return emitOpError() << "activation_scale must be positive and finite, got "
                           << scale->convertToDouble();
  }
  auto inputType = getInput().getType(), resultType = getResult().getType();
  auto weightsType = getWeights().getType(), scalesType = getScales().getType();
  if (inputType.getRank() < 1)
    return emitOpError("input must have at least one dimension (the K inputs)");
  if (weightsType.getRank() != 2)
    return emitOpError() << "weights must be [N, K], got rank " << weightsType.getRank();
  int64_t n = weightsType.getDimSize(0), k = weightsType.getDimSize(1);
  if (!compatible(inputType.getShape().back(), k))
    return emitOpError() << "input has " << inputType.getShape().back()
                         << " inputs per row but the weights have K = " << k;
  if (resultType.getElementType() != inputType.getElementType())
    return emitOpError("result element type must be the input's");
  if (resultType.getRank() != inputType.getRank())
    return emitOpError("result must have the input's rank");
  for (int64_t i = 0; i + 1 < inputType.getRank(); ++i)
    if (!compatible(inputType.getDimSize(i), resultType.getDimSize(i)))
      return emitOpError() << "result dimension " << i << " differs from the input's";
  if (!compatible(resultType.getShape().back(), n))
    return emitOpError() << "result has " << resultType.getShape().back()
                         << " outputs per row but the weights have N = " << n;
  if (scalesType.getRank() != 2)
    return emitOpError("scales must be [N, ceil(K / group_size)]");
  int64_t groups = ShapedType::isDynamic(k) ? ShapedType::kDynamic : (k + groupSize - 1) / groupSize;
  if (!compatible(scalesType.getDimSize(0), n) || !compatible(scalesType.getDimSize(1), groups))
    return emitOpError() << "scales must be [N, ceil(K / group_size)] = [" << n << ", " << groups
                         << "], got [" << scalesType.getDimSize(0) << ", "
                         << scalesType.getDimSize(1) << "]";
  if (Value zeros = getZeroPoints()) {
    auto zerosType = cast<RankedTensorType>(zeros.getType());
    if (zerosType.getShape() != scalesType.getShape())
      return emitOpError("zero_points must have the shape of scales");
  }
  if (bool(getOutlierChannels()) != bool(getOutlierWeights()))
    return emitOpError("outlier_channels and outlier_weights go together");
  if (Value channels = getOutlierChannels()) {
    auto channelsType = cast<RankedTensorType>(channels.getType());
    auto outlierType = cast<RankedTensorType>(getOutlierWeights().getType());
    if (channelsType.getRank() != 1 || outlierType.getRank() != 2 ||
        !compatible(outlierType.getDimSize(0), channelsType.getDimSize(0)) ||
        !compatible(outlierType.getDimSize(1), n))
      return emitOpError() << "outliers must be channels [C] and weights [C, N = " << n << "]";
    if (outlierType.getElementType() != inputType.getElementType())
      return emitOpError("outlier_weights must have the input's element type");
    DenseIntElementsAttr indices;
    if (matchPattern(channels, m_Constant(&indices)))
      for (const APInt &index : indices.getValues<APInt>())
        if (index.isNegative() || (!ShapedType::isDynamic(k) && index.getSExtValue() >= k))
          return emitOpError() << "outlier channel " << index.getSExtValue()
                               << " is not an input channel (K = " << k << ")";
  }
  if (failed(verifyLevels(*this, getWeights(), bits, "weight")) ||
      failed(verifyLevels(*this, getZeroPoints(), bits, "zero point")))
    return failure();
  return success();
}

namespace {
/// Zero points that are all 0 are symmetric quantization: drop them.
struct DropZeroZeroPoints : OpRewritePattern<QuantizedMatMulOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(QuantizedMatMulOp op, PatternRewriter &rewriter) const override {
    DenseIntElementsAttr zeros;
    if (!op.getZeroPoints() || !matchPattern(op.getZeroPoints(), m_Constant(&zeros)) ||
        !llvm::all_of(zeros.getValues<APInt>(), [](const APInt &z) { return z.isZero(); }))
      return failure();
    rewriter.modifyOpInPlace(op, [&] { op.getZeroPointsMutable().clear(); });
    return success();
  }
};
} // namespace

void QuantizedMatMulOp::getCanonicalizationPatterns(RewritePatternSet &patterns,
                                                    MLIRContext *context) {
  patterns.add<DropZeroZeroPoints>(context);
}

//===----------------------------------------------------------------------===//
// DynamicQuantizeOp
//===----------------------------------------------------------------------===//

LogicalResult DynamicQuantizeOp::verify() {
  int64_t bits = getBits();
  if (bits < 2 || bits > 8)
    return emitOpError() << "bits must be between 2 and 8, got " << bits;
  auto inputType = getInput().getType();
  auto quantizedType = getQuantized().getType(), scalesType = getScales().getType();
  if (inputType.getRank() < 1)
    return emitOpError("input must have at least one dimension");
  if (failed(verifyCompatibleShape(inputType, quantizedType)))
    return emitOpError("quantized must have the input's shape");
  if (scalesType.getRank() != inputType.getRank() || scalesType.getShape().back() != 1)
    return emitOpError("scales must have the input's shape with a last dimension of 1");
  for (int64_t i = 0; i + 1 < inputType.getRank(); ++i)
    if (!compatible(inputType.getDimSize(i), scalesType.getDimSize(i)))
      return emitOpError() << "scales dimension " << i << " differs from the input's";
  return success();
}

//===----------------------------------------------------------------------===//
// DequantizeOp
//===----------------------------------------------------------------------===//

LogicalResult DequantizeOp::verify() {
  auto quantizedType = getQuantized().getType();
  if (failed(verifyCompatibleShape(quantizedType, getResult().getType())))
    return emitOpError("result must have the shape of quantized");
  // numpy broadcasting of scales (and zero points) to the levels' shape.
  auto broadcasts = [&](RankedTensorType type) {
    if (type.getRank() > quantizedType.getRank())
      return false;
    int64_t offset = quantizedType.getRank() - type.getRank();
    for (int64_t i = 0; i < type.getRank(); ++i) {
      int64_t d = type.getDimSize(i);
      if (d != 1 && !compatible(d, quantizedType.getDimSize(offset + i)))
        return false;
    }
    return true;
  };
  if (!broadcasts(getScales().getType()))
    return emitOpError("scales do not broadcast to the shape of quantized");
  if (Value zeros = getZeroPoints())
    if (!broadcasts(cast<RankedTensorType>(zeros.getType())))
      return emitOpError("zero_points do not broadcast to the shape of quantized");
  return success();
}

//===----------------------------------------------------------------------===//
// PackNibblesOp, UnpackNibblesOp
//===----------------------------------------------------------------------===//

/// `wide` and `narrow` agree but for dimension `axis`, `narrow`'s half of
/// `wide`'s static even one.
static LogicalResult verifyNibbleShapes(Operation *op, RankedTensorType wide,
                                        RankedTensorType narrow, int64_t axis) {
  if (wide.getRank() < 1 || wide.getRank() != narrow.getRank())
    return op->emitOpError("needs operand and result of the same rank, at least 1");
  if (axis < 0 || axis >= wide.getRank())
    return op->emitOpError("axis out of range for rank ") << wide.getRank();
  int64_t size = wide.getDimSize(axis);
  if (ShapedType::isDynamic(size) || size % 2 != 0 || narrow.getDimSize(axis) != size / 2)
    return op->emitOpError() << "the levels' dimension " << axis
                             << " must be static and even, the packed one half of it";
  for (int64_t i = 0; i < wide.getRank(); ++i)
    if (i != axis && !compatible(wide.getDimSize(i), narrow.getDimSize(i)))
      return op->emitOpError() << "dimension " << i << " differs";
  return success();
}

LogicalResult PackNibblesOp::verify() {
  return verifyNibbleShapes(*this, getLevels().getType(), getPacked().getType(),
                            getLevels().getType().getRank() - 1);
}

LogicalResult UnpackNibblesOp::verify() {
  return verifyNibbleShapes(*this, getLevels().getType(), getPacked().getType(), getPackedAxis());
}

//===----------------------------------------------------------------------===//
// MixedMatMulOp
//===----------------------------------------------------------------------===//

LogicalResult MixedMatMulOp::verify() {
  auto lhsType = getLhs().getType(), levelsType = getLevels().getType();
  auto resultType = getResult().getType();
  if (lhsType.getRank() < 2 || levelsType.getRank() < 2)
    return emitOpError("needs lhs and levels of rank 2 or more");
  if (resultType.getElementType() != lhsType.getElementType())
    return emitOpError("result element type must be lhs's");
  int64_t rank = std::max(lhsType.getRank(), levelsType.getRank());
  if (resultType.getRank() != rank)
    return emitOpError("result must have rank ") << rank;
  if (!compatible(lhsType.getDimSize(lhsType.getRank() - 1),
                  levelsType.getDimSize(levelsType.getRank() - 2)))
    return emitOpError("lhs columns and levels rows differ");
  if (!compatible(resultType.getDimSize(rank - 2), lhsType.getDimSize(lhsType.getRank() - 2)) ||
      !compatible(resultType.getDimSize(rank - 1), levelsType.getDimSize(levelsType.getRank() - 1)))
    return emitOpError("result must be [..., lhs rows, levels columns]");
  // Batch dimensions broadcast as numpy's (right-aligned, 1 stretches).
  for (int64_t i = 0; i < rank - 2; ++i) {
    auto batchSize = [&](RankedTensorType type) -> int64_t {
      int64_t j = i - (rank - type.getRank());
      return j < 0 ? 1 : type.getDimSize(j);
    };
    int64_t l = batchSize(lhsType), r = batchSize(levelsType), d = resultType.getDimSize(i);
    if (l != 1 && r != 1 && !compatible(l, r))
      return emitOpError("batch dimension ") << i << " does not broadcast";
    if (!compatible(d, l == 1 ? r : l))
      return emitOpError("result batch dimension ") << i << " is not the broadcast size";
  }
  return success();
}

//===----------------------------------------------------------------------===//
// CalibrationTapOp
//===----------------------------------------------------------------------===//

LogicalResult CalibrationTapOp::verify() {
  if (getName().empty())
    return emitOpError("needs a non-empty name");
  auto inputType = getInput().getType();
  if (inputType.getRank() < 1)
    return emitOpError("input must have at least one dimension (the channels)");
  int64_t channels = inputType.getShape().back();
  auto checkShape = [&](std::optional<ElementsAttr> stat, StringRef name,
                        ArrayRef<int64_t> expected) -> LogicalResult {
    if (!stat)
      return success();
    auto type = cast<ShapedType>(stat->getType());
    bool matches = type.getRank() == int64_t(expected.size()) &&
                   llvm::all_of(llvm::zip(type.getShape(), expected), [](auto pair) {
                     return compatible(std::get<0>(pair), std::get<1>(pair));
                   });
    if (!matches || !type.getElementType().isF32())
      return emitOpError() << name << " must be f32 of shape [" << expected.front()
                           << (expected.size() == 2 ? ", " + std::to_string(expected.back()) : "")
                           << "] (the input's " << channels << " channels)";
    return success();
  };
  if (failed(checkShape(getAbsMax(), "abs_max", {channels})) ||
      failed(checkShape(getMeanAbs(), "mean_abs", {channels})) ||
      failed(checkShape(getHessian(), "hessian", {channels, channels})))
    return failure();
  return success();
}
