//===- LowbitToLinalg.cpp - lowbit dialect to linalg ----------------------===//
//
// Implements `convert-lowbit-to-linalg` (see Passes.td).
//
//===----------------------------------------------------------------------===//

#include "lowbit/Conversion/Passes.h"

#include "../OnnxToLinalg/Common.h"
#include "lowbit/Dialect/Lowbit/IR/Lowbit.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Matchers.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace lowbit {
#define GEN_PASS_DEF_CONVERTLOWBITTOLINALGPASS
#include "lowbit/Conversion/Passes.h.inc"
} // namespace lowbit

using namespace mlir;
using namespace lowbit::detail;

namespace {
/// Converts a float scalar to `to` (extension or truncation).
Value castFloat(OpBuilder &b, Location loc, Value value, Type to) {
  unsigned from = value.getType().getIntOrFloatBitWidth(), width = to.getIntOrFloatBitWidth();
  if (value.getType() == to)
    return value;
  if (from < width)
    return arith::ExtFOp::create(b, loc, to, value);
  return arith::TruncFOp::create(b, loc, to, value);
}

/// `x` with each row (last dimension) quantized to int8 and back, as
/// lowbit.quantized_matmul's activation_bits defines it: s = max|x| / 127
/// (1 for a row of zeros), or the one `staticScale` for every row, then
/// x' = clamp(roundeven(x / s), -127, 127) * s.
Value quantizeRowsInt8(OpBuilder &b, Location loc, Value x, std::optional<APFloat> staticScale) {
  auto type = cast<RankedTensorType>(x.getType());
  Type element = type.getElementType();
  int64_t last = type.getRank() - 1;
  SmallVector<Value> operands{x};
  if (!staticScale)
    operands.push_back(reduceKeepDims(
        b, loc, x, {last}, scalarConstant(b, loc, element, 0),
        [](OpBuilder &nb, Location l, Value acc, Value value) -> Value {
          return arith::MaximumFOp::create(nb, l, acc, math::AbsFOp::create(nb, l, value));
        }));
  return elementwise(
      b, loc, type, operands, [&](OpBuilder &nb, Location l, ValueRange args) -> Value {
        Value limit = scalarConstant(nb, l, element, 127);
        Value scale;
        if (staticScale) {
          scale = scalarConstant(nb, l, element, staticScale->convertToDouble());
        } else {
          Value zero = scalarConstant(nb, l, element, 0);
          scale = arith::DivFOp::create(nb, l, args[1], limit);
          Value isZero = arith::CmpFOp::create(nb, l, arith::CmpFPredicate::OEQ, args[1], zero);
          scale = arith::SelectOp::create(nb, l, isZero, scalarConstant(nb, l, element, 1), scale);
        }
        Value level =
            math::RoundEvenOp::create(nb, l, arith::DivFOp::create(nb, l, args[0], scale));
        level = arith::MinimumFOp::create(
            nb, l, arith::MaximumFOp::create(nb, l, level, scalarConstant(nb, l, element, -127)),
            limit);
        return arith::MulFOp::create(nb, l, level, scale);
      });
}

/// lowbit.dynamic_quantize: each row's max |x| (a reduction), its scale,
/// then the levels (see the op's definition).
struct DynamicQuantizeLowering : OpRewritePattern<lowbit::DynamicQuantizeOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(lowbit::DynamicQuantizeOp op,
                                PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Value x = op.getInput();
    auto type = cast<RankedTensorType>(x.getType());
    Type element = type.getElementType();
    double limit = double((int64_t(1) << (op.getBits() - 1)) - 1);
    Value absMax = reduceKeepDims(
        rewriter, loc, x, {type.getRank() - 1}, scalarConstant(rewriter, loc, element, 0),
        [](OpBuilder &b, Location l, Value acc, Value value) -> Value {
          return arith::MaximumFOp::create(b, l, acc, math::AbsFOp::create(b, l, value));
        });
    auto scalesType = cast<RankedTensorType>(op.getScales().getType());
    Value scales =
        elementwise(rewriter, loc, scalesType, ValueRange{absMax},
                    [&](OpBuilder &b, Location l, ValueRange args) -> Value {
                      Value m = castFloat(b, l, args[0], scalesType.getElementType());
                      Value zero = scalarConstant(b, l, m.getType(), 0);
                      Value isZero =
                          arith::CmpFOp::create(b, l, arith::CmpFPredicate::OEQ, m, zero);
                      return arith::SelectOp::create(
                          b, l, isZero, scalarConstant(b, l, m.getType(), 1),
                          arith::DivFOp::create(b, l, m, scalarConstant(b, l, m.getType(), limit)));
                    });
    auto levelsType = cast<RankedTensorType>(op.getQuantized().getType());
    Value levels = elementwise(
        rewriter, loc, levelsType, ValueRange{x, scales},
        [&](OpBuilder &b, Location l, ValueRange args) -> Value {
          Value value = castFloat(b, l, args[0], args[1].getType());
          Value level =
              math::RoundEvenOp::create(b, l, arith::DivFOp::create(b, l, value, args[1]));
          level = arith::MinimumFOp::create(
              b, l,
              arith::MaximumFOp::create(b, l, level, scalarConstant(b, l, level.getType(), -limit)),
              scalarConstant(b, l, level.getType(), limit));
          return arith::FPToSIOp::create(b, l, levelsType.getElementType(), level);
        });
    rewriter.replaceOp(op, {levels, scales});
    return success();
  }
};

/// lowbit.dequantize: (levels - zero points) * scales, broadcast.
struct DequantizeLowering : OpRewritePattern<lowbit::DequantizeOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(lowbit::DequantizeOp op, PatternRewriter &rewriter) const override {
    auto type = cast<RankedTensorType>(op.getResult().getType());
    SmallVector<Value> operands = {op.getQuantized(), op.getScales()};
    if (op.getZeroPoints())
      operands.push_back(op.getZeroPoints());
    Value result =
        elementwise(rewriter, op.getLoc(), type, operands,
                    [&](OpBuilder &b, Location l, ValueRange args) -> Value {
                      Type element = type.getElementType();
                      Value level = arith::SIToFPOp::create(b, l, element, args[0]);
                      if (args.size() > 2)
                        level = arith::SubFOp::create(
                            b, l, level, arith::SIToFPOp::create(b, l, element, args[2]));
                      return arith::MulFOp::create(b, l, level, castFloat(b, l, args[1], element));
                    });
    rewriter.replaceOp(op, result);
    return success();
  }
};

/// lowbit.pack_nibbles: byte j = (level 2j + 8) | (level 2j+1 + 8) << 4,
/// reading the two levels through maps 2j and 2j + 1 of the last loop.
struct PackNibblesLowering : OpRewritePattern<lowbit::PackNibblesOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(lowbit::PackNibblesOp op,
                                PatternRewriter &rewriter) const override {
    auto type = cast<RankedTensorType>(op.getPacked().getType());
    int64_t rank = type.getRank();
    MLIRContext *context = op.getContext();
    Location loc = op.getLoc();
    SmallVector<AffineExpr> low, high;
    for (int64_t d = 0; d < rank; ++d) {
      AffineExpr dim = getAffineDimExpr(d, context);
      low.push_back(d + 1 == rank ? dim * 2 : dim);
      high.push_back(d + 1 == rank ? dim * 2 + 1 : dim);
    }
    SmallVector<OpFoldResult> sizes = sizesOf(rewriter, loc, op.getLevels());
    sizes.back() = rewriter.getIndexAttr(type.getShape().back());
    Value init = emptyTensor(rewriter, loc, type, sizes);
    SmallVector<AffineMap> maps{AffineMap::get(rank, 0, low, context),
                                AffineMap::get(rank, 0, high, context),
                                rewriter.getMultiDimIdentityMap(rank)};
    auto generic = linalg::GenericOp::create(
        rewriter, loc, TypeRange{type}, ValueRange{op.getLevels(), op.getLevels()},
        ValueRange{init}, maps,
        SmallVector<utils::IteratorType>(rank, utils::IteratorType::parallel),
        [&](OpBuilder &b, Location l, ValueRange args) {
          Type i8 = b.getI8Type();
          Value eight = arith::ConstantOp::create(b, l, b.getIntegerAttr(i8, 8));
          Value four = arith::ConstantOp::create(b, l, b.getIntegerAttr(i8, 4));
          Value lo = arith::AddIOp::create(b, l, args[0], eight);
          Value hi = arith::ShLIOp::create(b, l, arith::AddIOp::create(b, l, args[1], eight), four);
          linalg::YieldOp::create(b, l, arith::OrIOp::create(b, l, lo, hi).getResult());
        });
    rewriter.replaceOp(op, generic.getResult(0));
    return success();
  }
};

/// The unpacking a lowbit.mixed_matmul reads its levels through, when the
/// contraction can take the bytes instead: packed along one of the levels'
/// last two dimensions (the reduction, or the columns).
lowbit::UnpackNibblesOp fusableUnpack(lowbit::MixedMatMulOp op) {
  auto unpack = op.getLevels().getDefiningOp<lowbit::UnpackNibblesOp>();
  if (!unpack || unpack.getPackedAxis() < unpack.getLevels().getType().getRank() - 2)
    return {};
  return unpack;
}

/// lowbit.unpack_nibbles: level k (along `axis`) = nibble k % 2 of byte
/// k / 2, less 8. Left to the mixed_matmuls that read it when they all
/// take the bytes themselves.
struct UnpackNibblesLowering : OpRewritePattern<lowbit::UnpackNibblesOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(lowbit::UnpackNibblesOp op,
                                PatternRewriter &rewriter) const override {
    if (!op->use_empty() && llvm::all_of(op->getUsers(), [&](Operation *user) {
          auto matmul = dyn_cast<lowbit::MixedMatMulOp>(user);
          return matmul && fusableUnpack(matmul) == op;
        }))
      return rewriter.notifyMatchFailure(op, "read in place by its products");
    auto type = cast<RankedTensorType>(op.getLevels().getType());
    int64_t rank = type.getRank(), axis = op.getPackedAxis();
    MLIRContext *context = op.getContext();
    Location loc = op.getLoc();
    SmallVector<AffineExpr> byte;
    for (int64_t d = 0; d < rank; ++d) {
      AffineExpr dim = getAffineDimExpr(d, context);
      byte.push_back(d == axis ? dim.floorDiv(2) : dim);
    }
    SmallVector<OpFoldResult> sizes = sizesOf(rewriter, loc, op.getPacked());
    sizes[axis] = rewriter.getIndexAttr(type.getDimSize(axis));
    Value init = emptyTensor(rewriter, loc, type, sizes);
    SmallVector<AffineMap> maps{AffineMap::get(rank, 0, byte, context),
                                rewriter.getMultiDimIdentityMap(rank)};
    auto generic = linalg::GenericOp::create(
        rewriter, loc, TypeRange{type}, ValueRange{op.getPacked()}, ValueRange{init}, maps,
        SmallVector<utils::IteratorType>(rank, utils::IteratorType::parallel),
        [&](OpBuilder &b, Location l, ValueRange args) {
          linalg::YieldOp::create(b, l,
                                  nibbleLevel(b, l, args[0], linalg::IndexOp::create(b, l, axis)));
        });
    rewriter.replaceOp(op, generic.getResult(0));
    return success();
  }
};

/// lowbit.mixed_matmul: the MatMul contraction, converting each level in
/// its body (lowbit-lower-to-ukernels gives it the int8-B kernel). Levels
/// unpacked from nibbles along the reduction or the columns are read as
/// the bytes they are, each level taken out of its byte in the body (the
/// int4-B kernel).
struct MixedMatMulLowering : OpRewritePattern<lowbit::MixedMatMulOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(lowbit::MixedMatMulOp op,
                                PatternRewriter &rewriter) const override {
    auto type = cast<RankedTensorType>(op.getResult().getType());
    Value levels = op.getLevels();
    std::optional<int64_t> nibbleDim;
    if (lowbit::UnpackNibblesOp unpack = fusableUnpack(op)) {
      levels = unpack.getPacked();
      nibbleDim = unpack.getPackedAxis();
    }
    rewriter.replaceOp(op, contraction(rewriter, op.getLoc(), op.getLhs(), levels, type,
                                       /*transposeLhs=*/false, /*transposeRhs=*/false, nibbleDim));
    return success();
  }
};

struct QuantizedMatMulLowering : OpRewritePattern<lowbit::QuantizedMatMulOp> {
  using OpRewritePattern::OpRewritePattern;

  /// `x` with the channels `outliers` (of its last dimension) zeroed.
  static Value withoutChannels(PatternRewriter &rewriter, Location loc, Value x,
                               DenseIntElementsAttr outliers) {
    auto xType = cast<RankedTensorType>(x.getType());
    Type element = xType.getElementType();
    int64_t k = xType.getShape().back();
    SmallVector<Attribute> mask(k, FloatAttr::get(element, 1.0));
    for (const APInt &channel : outliers.getValues<APInt>())
      mask[channel.getSExtValue()] = FloatAttr::get(element, 0.0);
    auto maskType = RankedTensorType::get({k}, element);
    Value maskValue =
        arith::ConstantOp::create(rewriter, loc, DenseElementsAttr::get(maskType, mask));
    return elementwise(rewriter, loc, xType, ValueRange{x, maskValue},
                       [](OpBuilder &b, Location l, ValueRange args) -> Value {
                         return arith::MulFOp::create(b, l, args[0], args[1]);
                       });
  }

  /// `init` plus the product of the input's outlier channels by the
  /// outlier weights: a contraction over the gathered channels (loops
  /// batch..., c, m, n, as the quantized one), marked lowbit.outlier_product
  /// so that the micro-kernel lowering can fold it into the quantized
  /// product's call.
  static Value addOutlierProduct(PatternRewriter &rewriter, lowbit::QuantizedMatMulOp op,
                                 DenseIntElementsAttr outliers, Value init) {
    MLIRContext *context = rewriter.getContext();
    Location loc = op.getLoc();
    Value x = op.getInput();
    auto xType = cast<RankedTensorType>(x.getType());
    auto resultType = op.getResult().getType();
    Type element = xType.getElementType();
    int64_t rank = xType.getRank(), count = outliers.getNumElements();

    // The outlier columns of x: gathered[..., m, c] = x[..., m, channels[c]].
    SmallVector<int64_t> gatheredShape(xType.getShape());
    gatheredShape.back() = count;
    auto gatheredType = RankedTensorType::get(gatheredShape, element);
    SmallVector<OpFoldResult> gatheredSizes = sizesOf(rewriter, loc, x);
    gatheredSizes.back() = rewriter.getIndexAttr(count);
    Value gatheredInit = emptyTensor(rewriter, loc, gatheredType, gatheredSizes);
    auto identity = AffineMap::getMultiDimIdentityMap(rank, context);
    auto channelMap = AffineMap::get(rank, 0, {getAffineDimExpr(rank - 1, context)}, context);
    Value gathered =
        linalg::GenericOp::create(
            rewriter, loc, TypeRange{gatheredType}, ValueRange{op.getOutlierChannels()},
            ValueRange{gatheredInit}, ArrayRef<AffineMap>{channelMap, identity},
            SmallVector<utils::IteratorType>(rank, utils::IteratorType::parallel),
            [&](OpBuilder &b, Location l, ValueRange args) {
              SmallVector<Value> indices;
              for (int64_t i = 0; i + 1 < rank; ++i)
                indices.push_back(linalg::IndexOp::create(b, l, i));
              indices.push_back(arith::IndexCastOp::create(b, l, b.getIndexType(), args[0]));
              linalg::YieldOp::create(b, l,
                                      tensor::ExtractOp::create(b, l, x, indices).getResult());
            })
            .getResult(0);

    // init[..., m, n] + sum_c gathered[..., m, c] * outlier_weights[c, n].
    int64_t loops = resultType.getRank() + 1, cLoop = loops - 3, mLoop = loops - 2,
            nLoop = loops - 1;
    auto dim = [&](int64_t i) { return getAffineDimExpr(i, context); };
    SmallVector<AffineExpr> gatheredExprs, resultExprs;
    for (int64_t i = 0; i < cLoop; ++i) {
      gatheredExprs.push_back(dim(i));
      resultExprs.push_back(dim(i));
    }
    gatheredExprs.append({dim(mLoop), dim(cLoop)});
    resultExprs.append({dim(mLoop), dim(nLoop)});
    SmallVector<AffineMap> maps{AffineMap::get(loops, 0, gatheredExprs, context),
                                AffineMap::get(loops, 0, {dim(cLoop), dim(nLoop)}, context),
                                AffineMap::get(loops, 0, resultExprs, context)};
    SmallVector<utils::IteratorType> iterators(loops, utils::IteratorType::parallel);
    iterators[cLoop] = utils::IteratorType::reduction;
    auto product = linalg::GenericOp::create(
        rewriter, loc, TypeRange{resultType}, ValueRange{gathered, op.getOutlierWeights()},
        ValueRange{init}, maps, iterators, [&](OpBuilder &b, Location l, ValueRange args) {
          Value term = arith::MulFOp::create(b, l, args[0], args[1]);
          linalg::YieldOp::create(b, l, arith::AddFOp::create(b, l, args[2], term).getResult());
        });
    product->setAttr("lowbit.outlier_product", rewriter.getUnitAttr());
    return product.getResult(0);
  }

  LogicalResult matchAndRewrite(lowbit::QuantizedMatMulOp op,
                                PatternRewriter &rewriter) const override {
    auto inputType = op.getInput().getType();
    auto resultType = op.getResult().getType();
    if (inputType.getRank() < 2)
      return rewriter.notifyMatchFailure(op, "a 1-D input is not lowered yet");
    MLIRContext *context = rewriter.getContext();
    Location loc = op.getLoc();
    int64_t rank = resultType.getRank(); // loops: batch..., k, m, n
    int64_t kLoop = rank - 2, mLoop = rank - 1, nLoop = rank;
    auto dim = [&](int64_t i) { return getAffineDimExpr(i, context); };
    SmallVector<AffineExpr> inputExprs, resultExprs;
    for (int64_t i = 0; i < rank - 2; ++i) {
      inputExprs.push_back(dim(i));
      resultExprs.push_back(dim(i));
    }
    inputExprs.append({dim(mLoop), dim(kLoop)});
    resultExprs.append({dim(mLoop), dim(nLoop)});
    AffineExpr group = dim(kLoop).floorDiv(op.getGroupSize());
    AffineMap groupMap = AffineMap::get(rank + 1, 0, {dim(nLoop), group}, context);
    SmallVector<AffineMap> maps{AffineMap::get(rank + 1, 0, inputExprs, context),
                                AffineMap::get(rank + 1, 0, {dim(nLoop), dim(kLoop)}, context),
                                groupMap};
    Type element = resultType.getElementType();
    SmallVector<OpFoldResult> inputSizes = sizesOf(rewriter, loc, op.getInput());
    SmallVector<OpFoldResult> sizes(inputSizes.begin(), inputSizes.end() - 1);
    sizes.push_back(rewriter.getIndexAttr(op.getWeights().getType().getDimSize(0)));
    if (ShapedType::isDynamic(op.getWeights().getType().getDimSize(0)))
      sizes.back() = sizesOf(rewriter, loc, op.getWeights())[0];
    Value init =
        filledTensor(rewriter, loc, resultType, sizes, scalarConstant(rewriter, loc, element, 0));

    // Outlier channels: the quantized product sees them as zeros, and their
    // product in floating point is the accumulator it adds to (built last,
    // so that it directly precedes the quantized contraction).
    Value x = op.getInput();
    DenseIntElementsAttr outliers;
    if (op.getOutlierChannels()) {
      if (!matchPattern(op.getOutlierChannels(), m_Constant(&outliers)) ||
          ShapedType::isDynamic(inputType.getShape().back()))
        return rewriter.notifyMatchFailure(op, "outlier channels must be a constant and K static");
      x = withoutChannels(rewriter, loc, x, outliers);
    }
    // int8 activations: the contraction takes the quantized-and-restored
    // input; a kernel quantizing it again gets the same levels.
    Value input = op.getActivationBits()
                      ? quantizeRowsInt8(rewriter, loc, x, op.getActivationScale())
                      : x;
    if (outliers)
      init = addOutlierProduct(rewriter, op, outliers, init);
    SmallVector<Value> inputs{input, op.getWeights(), op.getScales()};
    if (Value zeros = op.getZeroPoints()) {
      inputs.push_back(zeros);
      maps.push_back(groupMap);
    }
    maps.push_back(AffineMap::get(rank + 1, 0, resultExprs, context));

    SmallVector<utils::IteratorType> iterators(rank + 1, utils::IteratorType::parallel);
    iterators[kLoop] = utils::IteratorType::reduction;
    bool hasZeros = op.getZeroPoints() != nullptr;
    auto generic = linalg::GenericOp::create(
        rewriter, loc, TypeRange{resultType}, inputs, ValueRange{init}, maps, iterators,
        [&](OpBuilder &b, Location l, ValueRange args) {
          Value level = arith::SIToFPOp::create(b, l, element, args[1]);
          if (hasZeros)
            level =
                arith::SubFOp::create(b, l, level, arith::SIToFPOp::create(b, l, element, args[3]));
          Value weight = arith::MulFOp::create(b, l, level, castFloat(b, l, args[2], element));
          Value product = arith::MulFOp::create(b, l, args[0], weight);
          linalg::YieldOp::create(b, l,
                                  arith::AddFOp::create(b, l, args.back(), product).getResult());
        });
    // The marker carries the bit width: the kernel lowering may pack levels
    // of 4 bits or fewer two to a byte.
    generic->setAttr("lowbit.quantized_contraction", rewriter.getI64IntegerAttr(op.getBits()));
    if (op.getActivationBits())
      generic->setAttr("lowbit.activation_bits", rewriter.getI64IntegerAttr(8));
    if (FloatAttr scale = op.getActivationScaleAttr())
      generic->setAttr("lowbit.activation_scale", scale);
    rewriter.replaceOp(op, generic.getResult(0));
    return success();
  }
};

/// Lowers each calibration tap of `module`: a call recording its input's
/// rows (tap id = position in the module), or just its input when the tap
/// already holds statistics. False (with an error) on an unsupported tap.
bool lowerCalibrationTaps(ModuleOp module) {
  SmallVector<lowbit::CalibrationTapOp> taps;
  module.walk([&](lowbit::CalibrationTapOp tap) { taps.push_back(tap); });
  if (taps.empty())
    return true;
  OpBuilder b(module.getContext());
  auto i64 = b.getI64Type();
  func::FuncOp record = module.lookupSymbol<func::FuncOp>("lowbit_calibration_record");
  if (!record) {
    b.setInsertionPointToStart(module.getBody());
    record = func::FuncOp::create(b, module.getLoc(), "lowbit_calibration_record",
                                  b.getFunctionType(SmallVector<Type>(6, i64), {}));
    record.setPrivate();
  }
  int64_t id = 0;
  for (lowbit::CalibrationTapOp tap : taps) {
    Value input = tap.getInput();
    if (!tap.hasStatistics()) {
      auto type = cast<RankedTensorType>(input.getType());
      if (!type.getElementType().isF32()) {
        tap.emitError("calibration taps on non-f32 activations are not supported yet");
        return false;
      }
      Location loc = tap.getLoc();
      b.setInsertionPoint(tap);
      int64_t rank = type.getRank();
      auto layout = StridedLayoutAttr::get(b.getContext(), ShapedType::kDynamic,
                                           SmallVector<int64_t>(rank, ShapedType::kDynamic));
      auto bufferType = MemRefType::get(type.getShape(), type.getElementType(), layout);
      Value buffer =
          bufferization::ToBufferOp::create(b, loc, bufferType, input, /*readOnly=*/true);
      auto metadata = memref::ExtractStridedMetadataOp::create(b, loc, buffer);
      Value address = memref::ExtractAlignedPointerAsIndexOp::create(b, loc, buffer);
      // Leading dimensions are rows (exporters' activations are contiguous
      // row-major, so one row stride serves them all).
      Value rows = arith::ConstantIndexOp::create(b, loc, 1);
      for (int64_t i = 0; i + 1 < rank; ++i)
        rows = arith::MulIOp::create(b, loc, rows, metadata.getSizes()[i]);
      Value channels = metadata.getSizes()[rank - 1];
      Value rowStride = rank >= 2 ? metadata.getStrides()[rank - 2] : channels;
      auto toI64 = [&](Value v) { return arith::IndexCastOp::create(b, loc, i64, v).getResult(); };
      func::CallOp::create(b, loc, record,
                           ValueRange{arith::ConstantIntOp::create(b, loc, i64, id), toI64(address),
                                      toI64(metadata.getOffset()), toI64(rows), toI64(channels),
                                      toI64(rowStride)});
      ++id;
    }
    tap.getResult().replaceAllUsesWith(input);
    tap.erase();
  }
  return true;
}

struct ConvertLowbitToLinalgPass
    : lowbit::impl::ConvertLowbitToLinalgPassBase<ConvertLowbitToLinalgPass> {
  void runOnOperation() override {
    if (!lowerCalibrationTaps(getOperation()))
      return signalPassFailure();
    RewritePatternSet patterns(&getContext());
    patterns.add<QuantizedMatMulLowering, DynamicQuantizeLowering, DequantizeLowering,
                 MixedMatMulLowering, PackNibblesLowering, UnpackNibblesLowering>(&getContext());
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      return signalPassFailure();
    if (reportOpsLeft(getOperation(), getContext().getLoadedDialect<lowbit::LowbitDialect>()))
      signalPassFailure();
  }
};
} // namespace
