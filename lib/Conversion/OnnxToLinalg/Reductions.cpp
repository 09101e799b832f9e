//===- Reductions.cpp - onnx reductions, norms, softmax, MatMul, Gemm -----===//
//
// Reductions are linalg.generic ops with reduction iterators that keep the
// reduced dimensions (size 1), followed where needed by an elementwise
// generic; MatMul and Gemm are linalg.generic contractions with ONNX
// broadcasting in their indexing maps.
//
//===----------------------------------------------------------------------===//

#include "Common.h"

#include "mlir/Dialect/Arith/Utils/Utils.h"

#include <limits>

using namespace mlir;
using namespace lowbit::detail;
namespace onnx = lowbit::onnx;

namespace {
Value add(OpBuilder &b, Location loc, Value x, Value y) {
  if (isFloat(x.getType()))
    return arith::AddFOp::create(b, loc, x, y);
  return arith::AddIOp::create(b, loc, x, y);
}
Value mul(OpBuilder &b, Location loc, Value x, Value y) {
  if (isFloat(x.getType()))
    return arith::MulFOp::create(b, loc, x, y);
  return arith::MulIOp::create(b, loc, x, y);
}
Value maxOf(OpBuilder &b, Location loc, Value x, Value y) {
  if (isFloat(x.getType()))
    return arith::MaximumFOp::create(b, loc, x, y);
  if (x.getType().isInteger(1)) // bool: true is the larger (an or)
    return arith::OrIOp::create(b, loc, x, y);
  return arith::MaxSIOp::create(b, loc, x, y);
}

/// The lowest value of a float or signed integer type (false for bool).
Value lowest(OpBuilder &b, Location loc, Type t) {
  if (auto floatType = dyn_cast<FloatType>(t))
    return arith::ConstantOp::create(
        b, loc, b.getFloatAttr(floatType, -std::numeric_limits<double>::infinity()));
  if (t.isInteger(1))
    return arith::ConstantOp::create(b, loc, b.getBoolAttr(false));
  return arith::ConstantOp::create(
      b, loc, b.getIntegerAttr(t, APInt::getSignedMinValue(t.getIntOrFloatBitWidth())));
}

/// Sorted, non-negative axes [first, rank).
SmallVector<int64_t> trailingAxes(int64_t first, int64_t rank) {
  if (first < 0)
    first += rank;
  return llvm::to_vector(llvm::seq<int64_t>(first, rank));
}

/// Drops the reduced size-1 dimensions of a keepdims result when the onnx
/// result does not keep them.
Value matchResultRank(OpBuilder &b, Location loc, Value reduced, RankedTensorType resultType,
                      ArrayRef<int64_t> axes) {
  auto type = cast<RankedTensorType>(reduced.getType());
  if (type.getRank() == resultType.getRank())
    return reduced;
  SmallVector<OpFoldResult> sizes = sizesOf(b, loc, reduced), kept;
  for (int64_t i = 0; i < type.getRank(); ++i)
    if (!llvm::is_contained(axes, i))
      kept.push_back(sizes[i]);
  return reshapeTo(b, loc, reduced, resultType, kept);
}

template <typename OpTy>
struct ReduceLowering : OpRewritePattern<OpTy> {
  using OpRewritePattern<OpTy>::OpRewritePattern;
  LogicalResult matchAndRewrite(OpTy op, PatternRewriter &rewriter) const override {
    auto resultType = rankedResult(op, 0, rewriter);
    auto inputType = dyn_cast<RankedTensorType>(op.getData().getType());
    if (failed(resultType) || !inputType)
      return rewriter.notifyMatchFailure(op, "unknown rank");
    int64_t rank = inputType.getRank();
    SmallVector<int64_t> axes;
    if (op.getAxes()) {
      auto values = onnx::getConstantIntValues(op.getAxes());
      if (!values && op.getKeepdims() && inputType.hasStaticShape() &&
          resultType->hasStaticShape()) {
        // Axes given at run time (the backend tests' form), dimensions
        // kept: the static result type says which are reduced, those it
        // makes 1. (Reducing a dimension of size 1 or not is the same; with
        // none left the result is the input.)
        for (int64_t i = 0; i < rank; ++i)
          if (resultType->getDimSize(i) == 1 && inputType.getDimSize(i) != 1)
            axes.push_back(i);
        if (axes.empty()) {
          rewriter.replaceOp(op, op.getData());
          return success();
        }
      } else if (!values) {
        return lowerRuntimeAxes(op, rewriter, *resultType);
      } else {
        for (int64_t a : *values)
          axes.push_back(a < 0 ? a + rank : a);
      }
    }
    if (axes.empty()) {
      if (op.getNoopWithEmptyAxes()) {
        rewriter.replaceOp(op, op.getData());
        return success();
      }
      axes = llvm::to_vector(llvm::seq<int64_t>(0, rank));
    }
    rewriter.replaceOp(op, reduceAlong(op, rewriter, axes, *resultType));
    return success();
  }

private:
  /// The reduction along the constant `axes`, shaped as `resultType`.
  static Value reduceAlong(OpTy op, PatternRewriter &rewriter, SmallVector<int64_t> axes,
                           RankedTensorType resultType) {
    llvm::sort(axes);
    Location loc = op.getLoc();
    auto inputType = cast<RankedTensorType>(op.getData().getType());
    Type element = inputType.getElementType();
    Value reduced;
    if constexpr (std::is_same_v<OpTy, onnx::ReduceMaxOp>) {
      reduced = reduceKeepDims(rewriter, loc, op.getData(), axes, lowest(rewriter, loc, element), maxOf);
    } else {
      reduced = reduceKeepDims(rewriter, loc, op.getData(), axes,
                               scalarConstant(rewriter, loc, element, 0), add);
      if constexpr (std::is_same_v<OpTy, onnx::ReduceMeanOp>) {
        Value count = countAlong(rewriter, loc, op.getData(), axes, element);
        auto keptType = cast<RankedTensorType>(reduced.getType());
        reduced = elementwise(rewriter, loc, keptType, ValueRange{reduced},
                              [&](OpBuilder &b, Location l, ValueRange a) -> Value {
                                if (isFloat(element))
                                  return arith::DivFOp::create(b, l, a[0], count);
                                return arith::DivSIOp::create(b, l, a[0], count);
                              });
      }
    }
    Value result = matchResultRank(rewriter, loc, reduced, resultType, axes);
    if (result.getType() != resultType)
      result = tensor::CastOp::create(rewriter, loc, resultType, result);
    return result;
  }

  /// Axes given at run time, a static input: every set of as many axes as
  /// given that leaves the result's shape (where it is known; 1s in their
  /// place with keepdims, removed without) is a candidate; each is reduced
  /// to the result type, and the one whose axes are those given is selected
  /// when the model runs (often there is one: [3, 4, 5] -> [5]). No axes
  /// (an empty list) reduce all, or nothing with noop_with_empty_axes.
  static LogicalResult lowerRuntimeAxes(OpTy op, PatternRewriter &rewriter,
                                        RankedTensorType resultType) {
    auto inputType = cast<RankedTensorType>(op.getData().getType());
    auto axesType = dyn_cast<RankedTensorType>(op.getAxes().getType());
    if (!inputType.hasStaticShape() || !axesType || !axesType.hasStaticShape() ||
        axesType.getRank() != 1)
      return rewriter.notifyMatchFailure(op, "axes at run time need static shapes");
    int64_t rank = inputType.getRank(), count = axesType.getDimSize(0);
    bool keepdims = op.getKeepdims();
    if (count == 0) {
      if (op.getNoopWithEmptyAxes())
        rewriter.replaceOp(op, op.getData());
      else
        rewriter.replaceOp(
            op,
            reduceAlong(op, rewriter, llvm::to_vector(llvm::seq<int64_t>(0, rank)), resultType));
      return success();
    }
    if (count > rank || resultType.getRank() != (keepdims ? rank : rank - count))
      return rewriter.notifyMatchFailure(op, "the result's rank does not match the axes'");
    SmallVector<SmallVector<int64_t>> candidates;
    for (uint64_t mask = 0; mask < (uint64_t(1) << rank); ++mask) {
      if (llvm::popcount(mask) != count)
        continue;
      SmallVector<int64_t> axes, shape;
      for (int64_t d = 0; d < rank; ++d) {
        bool reduced = mask >> d & 1;
        if (reduced)
          axes.push_back(d);
        if (!reduced || keepdims)
          shape.push_back(reduced ? 1 : inputType.getDimSize(d));
      }
      // The sizes match the result's (a dynamic one matches any).
      bool fits = true;
      for (auto [size, expected] : llvm::zip_equal(shape, resultType.getShape()))
        fits &= ShapedType::isDynamic(expected) || size == expected;
      if (fits)
        candidates.push_back(axes);
    }
    if (candidates.empty())
      return rewriter.notifyMatchFailure(op, "no set of axes gives the result's shape");
    Location loc = op.getLoc();
    Value result = reduceAlong(op, rewriter, candidates.back(), resultType);
    if (candidates.size() > 1) {
      // Each given axis, made non-negative.
      Value rankValue = arith::ConstantIndexOp::create(rewriter, loc, rank);
      SmallVector<Value> given;
      for (int64_t i = 0; i < count; ++i)
        given.push_back(
            wrapNegative(rewriter, loc, extractIndex(rewriter, loc, op.getAxes(), i), rankValue));
      for (const SmallVector<int64_t> &axes : llvm::reverse(ArrayRef(candidates).drop_back())) {
        // The given axes (distinct, as ONNX requires) all in `axes`.
        Value matches = arith::ConstantIntOp::create(rewriter, loc, 1, 1);
        for (Value axis : given) {
          Value inSet = arith::ConstantIntOp::create(rewriter, loc, 0, 1);
          for (int64_t a : axes)
            inSet = arith::OrIOp::create(
                rewriter, loc, inSet,
                arith::CmpIOp::create(rewriter, loc, arith::CmpIPredicate::eq, axis,
                                      arith::ConstantIndexOp::create(rewriter, loc, a)));
          matches = arith::AndIOp::create(rewriter, loc, matches, inSet);
        }
        Value candidate = reduceAlong(op, rewriter, axes, resultType);
        result = arith::SelectOp::create(rewriter, loc, matches, candidate, result);
      }
    }
    rewriter.replaceOp(op, result);
    return success();
  }
};

/// Softmax and LogSoftmax along one axis, stabilized by the maximum.
template <typename OpTy, bool isLog>
struct SoftmaxLowering : OpRewritePattern<OpTy> {
  using OpRewritePattern<OpTy>::OpRewritePattern;
  LogicalResult matchAndRewrite(OpTy op, PatternRewriter &rewriter) const override {
    auto resultType = rankedResult(op, 0, rewriter);
    if (failed(resultType) || !isFloat(resultType->getElementType()))
      return rewriter.notifyMatchFailure(op, "unknown rank or not float");
    Location loc = op.getLoc();
    Type element = resultType->getElementType();
    int64_t rank = resultType->getRank();
    int64_t axis = onnx::nonNegativeAxis(op.getAxis(), rank);
    Value x = op.getInput();
    Value max = reduceKeepDims(rewriter, loc, x, {axis}, lowest(rewriter, loc, element), maxOf);
    Value shifted = elementwise(rewriter, loc, *resultType, ValueRange{x, max},
                                [](OpBuilder &b, Location l, ValueRange a) -> Value {
                                  return arith::SubFOp::create(b, l, a[0], a[1]);
                                });
    Value exp = elementwise(rewriter, loc, *resultType, ValueRange{shifted},
                            [](OpBuilder &b, Location l, ValueRange a) -> Value {
                              return math::ExpOp::create(b, l, a[0]);
                            });
    Value sum = reduceKeepDims(rewriter, loc, exp, {axis}, scalarConstant(rewriter, loc, element, 0), add);
    Value result;
    if (isLog)
      result = elementwise(rewriter, loc, *resultType, ValueRange{shifted, sum},
                           [](OpBuilder &b, Location l, ValueRange a) -> Value {
                             return arith::SubFOp::create(b, l, a[0], math::LogOp::create(b, l, a[1]));
                           });
    else
      result = elementwise(rewriter, loc, *resultType, ValueRange{exp, sum},
                           [](OpBuilder &b, Location l, ValueRange a) -> Value {
                             return arith::DivFOp::create(b, l, a[0], a[1]);
                           });
    rewriter.replaceOp(op, result);
    return success();
  }
};

/// RMSNormalization: x * rsqrt(mean(x^2) + eps) * scale over [axis, r).
struct RMSNormLowering : OpRewritePattern<onnx::RMSNormalizationOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(onnx::RMSNormalizationOp op, PatternRewriter &rewriter) const override {
    auto resultType = rankedResult(op, 0, rewriter);
    if (failed(resultType) || !isFloat(resultType->getElementType()) ||
        !isa<RankedTensorType>(op.getScale().getType()))
      return rewriter.notifyMatchFailure(op, "unknown rank or not float");
    Location loc = op.getLoc();
    Type element = resultType->getElementType();
    SmallVector<int64_t> axes = trailingAxes(op.getAxis(), resultType->getRank());
    Value x = op.getX();
    Value squares = elementwise(rewriter, loc, *resultType, ValueRange{x},
                                [](OpBuilder &b, Location l, ValueRange a) -> Value {
                                  return arith::MulFOp::create(b, l, a[0], a[0]);
                                });
    Value sum = reduceKeepDims(rewriter, loc, squares, axes, scalarConstant(rewriter, loc, element, 0), add);
    Value count = countAlong(rewriter, loc, x, axes, element);
    Value eps = scalarConstant(rewriter, loc, element, op.getEpsilon().convertToDouble());
    Value result = elementwise(rewriter, loc, *resultType, ValueRange{x, sum, op.getScale()},
                               [&](OpBuilder &b, Location l, ValueRange a) -> Value {
                                 Value mean = arith::DivFOp::create(b, l, a[1], count);
                                 Value inv = math::RsqrtOp::create(b, l, arith::AddFOp::create(b, l, mean, eps));
                                 return arith::MulFOp::create(b, l, arith::MulFOp::create(b, l, a[0], inv), a[2]);
                               });
    rewriter.replaceOp(op, result);
    return success();
  }
};

/// LayerNormalization: Y = (x - mean) * rsqrt(var + eps) * scale + bias, and
/// the optional Mean and InvStdDev results (x's leading sizes, 1 on each
/// normalized axis) when they have x's element type.
struct LayerNormLowering : OpRewritePattern<onnx::LayerNormalizationOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(onnx::LayerNormalizationOp op, PatternRewriter &rewriter) const override {
    auto resultType = rankedResult(op, 0, rewriter);
    if (failed(resultType) || !isFloat(resultType->getElementType()))
      return rewriter.notifyMatchFailure(op, "unknown rank or not float");
    Type element = resultType->getElementType();
    for (unsigned i = 1; i < op.getNumResults(); ++i) {
      auto statsType = dyn_cast<RankedTensorType>(op.getResult(i).getType());
      if (!op.getResult(i).use_empty() && (!statsType || statsType.getElementType() != element))
        return rewriter.notifyMatchFailure(op, "statistics in another element type");
    }
    Location loc = op.getLoc();
    SmallVector<int64_t> axes = trailingAxes(op.getAxis(), resultType->getRank());
    Value x = op.getX();
    Value zero = scalarConstant(rewriter, loc, element, 0);
    Value count = countAlong(rewriter, loc, x, axes, element);
    Value sum = reduceKeepDims(rewriter, loc, x, axes, zero, add);
    auto keptType = cast<RankedTensorType>(sum.getType());
    Value mean = elementwise(rewriter, loc, keptType, ValueRange{sum},
                             [&](OpBuilder &b, Location l, ValueRange a) -> Value {
                               return arith::DivFOp::create(b, l, a[0], count);
                             });
    Value centered = elementwise(rewriter, loc, *resultType, ValueRange{x, mean},
                                 [&](OpBuilder &b, Location l, ValueRange a) -> Value {
                                   return arith::SubFOp::create(b, l, a[0], a[1]);
                                 });
    Value squares = elementwise(rewriter, loc, *resultType, ValueRange{centered},
                                [](OpBuilder &b, Location l, ValueRange a) -> Value {
                                  return arith::MulFOp::create(b, l, a[0], a[0]);
                                });
    Value squareSum = reduceKeepDims(rewriter, loc, squares, axes, zero, add);
    Value eps = scalarConstant(rewriter, loc, element, op.getEpsilon().convertToDouble());
    Value invStdDev = elementwise(rewriter, loc, keptType, ValueRange{squareSum},
                                  [&](OpBuilder &b, Location l, ValueRange a) -> Value {
                                    Value var = arith::DivFOp::create(b, l, a[0], count);
                                    return math::RsqrtOp::create(b, l, arith::AddFOp::create(b, l, var, eps));
                                  });
    SmallVector<Value> operands{centered, invStdDev, op.getScale()};
    if (op.getB())
      operands.push_back(op.getB());
    Value y = elementwise(rewriter, loc, *resultType, operands,
                          [&](OpBuilder &b, Location l, ValueRange a) -> Value {
                            Value scaled = arith::MulFOp::create(b, l, arith::MulFOp::create(b, l, a[0], a[1]), a[2]);
                            return a.size() > 3 ? arith::AddFOp::create(b, l, scaled, a[3]).getResult() : scaled;
                          });
    SmallVector<Value> replacements{y, mean, invStdDev};
    replacements.resize(op.getNumResults());
    for (unsigned i = 1; i < op.getNumResults(); ++i)
      if (replacements[i].getType() != op.getResult(i).getType())
        replacements[i] = tensor::CastOp::create(rewriter, loc, op.getResult(i).getType(), replacements[i]);
    rewriter.replaceOp(op, replacements);
    return success();
  }
};

struct MatMulLowering : OpRewritePattern<onnx::MatMulOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(onnx::MatMulOp op, PatternRewriter &rewriter) const override {
    auto resultType = rankedResult(op, 0, rewriter);
    auto lhsType = dyn_cast<RankedTensorType>(op.getA().getType());
    auto rhsType = dyn_cast<RankedTensorType>(op.getB().getType());
    if (failed(resultType) || !lhsType || !rhsType)
      return rewriter.notifyMatchFailure(op, "unknown rank");
    // numpy semantics for 1-D operands: a vector A is one row, a vector B
    // one column, and that dimension is dropped from the result.
    Location loc = op.getLoc();
    Value lhs = op.getA(), rhs = op.getB();
    SmallVector<int64_t> shape(resultType->getShape());
    SmallVector<OpFoldResult> resultSizes;
    if (lhsType.getRank() == 1) {
      OpFoldResult k = sizesOf(rewriter, loc, lhs)[0];
      lhs = reshapeTo(rewriter, loc, lhs,
                      RankedTensorType::get({1, lhsType.getDimSize(0)}, lhsType.getElementType()),
                      {rewriter.getIndexAttr(1), k});
      shape.insert(shape.end() - (rhsType.getRank() == 1 ? 0 : 1), 1);
    }
    if (rhsType.getRank() == 1) {
      OpFoldResult k = sizesOf(rewriter, loc, rhs)[0];
      rhs = reshapeTo(rewriter, loc, rhs,
                      RankedTensorType::get({rhsType.getDimSize(0), 1}, rhsType.getElementType()),
                      {k, rewriter.getIndexAttr(1)});
      shape.push_back(1);
    }
    auto productType = RankedTensorType::get(shape, resultType->getElementType());
    Value product = contraction(rewriter, loc, lhs, rhs, productType, false, false);
    if (productType != *resultType) {
      // Drop the unit n (B was a vector), then the unit m (A was).
      SmallVector<OpFoldResult> sizes = sizesOf(rewriter, loc, product);
      if (rhsType.getRank() == 1)
        sizes.pop_back();
      if (lhsType.getRank() == 1)
        sizes.erase(sizes.end() - (rhsType.getRank() == 1 ? 1 : 2));
      product = reshapeTo(rewriter, loc, product, *resultType, sizes);
    }
    rewriter.replaceOp(op, product);
    return success();
  }
};

/// MatMulInteger: (A - a_zero_point) x (B - b_zero_point) in i32, the
/// differences taken elementwise first (a zero point per tensor, per row of
/// A or per column of B), then an i32 contraction.
struct MatMulIntegerLowering : OpRewritePattern<onnx::MatMulIntegerOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(onnx::MatMulIntegerOp op,
                                PatternRewriter &rewriter) const override {
    auto resultType = rankedResult(op, 0, rewriter);
    auto aType = dyn_cast<RankedTensorType>(op.getA().getType());
    auto bType = dyn_cast<RankedTensorType>(op.getB().getType());
    if (failed(resultType) || !aType || !bType || aType.getRank() < 2 || bType.getRank() < 2 ||
        !resultType->getElementType().isSignlessInteger(32))
      return rewriter.notifyMatchFailure(op, "not 8-bit matrices to i32");
    Location loc = op.getLoc();
    Type i32 = rewriter.getI32Type();
    // operand - zero point in i32; A's 1-D zero point is per row.
    auto centered = [&](Value operand, Value zeroPoint, bool perRow) -> FailureOr<Value> {
      auto type = cast<RankedTensorType>(operand.getType());
      Type element = type.getElementType();
      auto integer = dyn_cast<IntegerType>(element);
      if (!integer || integer.getWidth() != 8 || integer.isSigned())
        return failure();
      SmallVector<Value> operands{operand};
      if (zeroPoint) {
        auto zeroType = dyn_cast<RankedTensorType>(zeroPoint.getType());
        if (!zeroType || zeroType.getRank() > 1)
          return failure();
        if (perRow && zeroType.getRank() == 1 && zeroType.getDimSize(0) != 1) {
          SmallVector<OpFoldResult> sizes = sizesOf(rewriter, loc, zeroPoint);
          sizes.push_back(rewriter.getIndexAttr(1));
          zeroPoint = reshapeTo(rewriter, loc, zeroPoint,
                                RankedTensorType::get({zeroType.getDimSize(0), 1}, element), sizes);
        }
        operands.push_back(zeroPoint);
      }
      auto widened = RankedTensorType::get(type.getShape(), i32);
      return elementwise(
          rewriter, loc, widened, operands,
          [&](OpBuilder &b, Location l, ValueRange args) -> Value {
            auto wide = [&](Value v) { return widen(b, l, toSignless(b, l, v), element, i32); };
            Value x = wide(args[0]);
            return args.size() > 1 ? arith::SubIOp::create(b, l, x, wide(args[1])) : x;
          });
    };
    FailureOr<Value> a = centered(op.getA(), op.getAZeroPoint(), /*perRow=*/true);
    FailureOr<Value> b = centered(op.getB(), op.getBZeroPoint(), /*perRow=*/false);
    if (failed(a) || failed(b))
      return rewriter.notifyMatchFailure(op, "operands are not 8-bit integers");
    rewriter.replaceOp(op, contraction(rewriter, loc, *a, *b, *resultType, false, false));
    return success();
  }
};

struct GemmLowering : OpRewritePattern<onnx::GemmOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(onnx::GemmOp op, PatternRewriter &rewriter) const override {
    auto resultType = rankedResult(op, 0, rewriter);
    if (failed(resultType) || !isa<RankedTensorType>(op.getA().getType()) ||
        !isa<RankedTensorType>(op.getB().getType()))
      return rewriter.notifyMatchFailure(op, "unknown rank");
    Location loc = op.getLoc();
    Type element = resultType->getElementType();
    Value product = contraction(rewriter, loc, op.getA(), op.getB(), *resultType, op.getTransA(),
                                op.getTransB());
    double alpha = op.getAlpha().convertToDouble(), beta = op.getBeta().convertToDouble();
    if (alpha == 1.0 && (!op.getC() || beta == 0.0)) {
      rewriter.replaceOp(op, product);
      return success();
    }
    Value alphaValue = scalarConstant(rewriter, loc, element, alpha);
    Value betaValue = scalarConstant(rewriter, loc, element, beta);
    SmallVector<Value> operands{product};
    if (op.getC() && beta != 0.0)
      operands.push_back(op.getC());
    Value result = elementwise(rewriter, loc, *resultType, operands,
                               [&](OpBuilder &b, Location l, ValueRange a) {
                                 Value y = mul(b, l, a[0], alphaValue);
                                 return a.size() > 1 ? add(b, l, y, mul(b, l, a[1], betaValue)) : y;
                               });
    rewriter.replaceOp(op, result);
    return success();
  }
};
} // namespace

/// A contraction C[batch..., m, n] = sum_k A[batch..., m, k] * B[batch..., k, n]
/// as one linalg.generic; batch dimensions broadcast through the maps. The
/// loops run (batch..., k, m, n): with n innermost, B and C are read and
/// written along rows and the inner loop vectorizes without reassociating
/// the reduction; with k outside m, each row of B is loaded once for all the
/// rows of A (lowbit-tile-contractions then tiles m so that the rows of C in
/// flight stay in cache). The op is marked `lowbit.contraction` for that pass.
/// An integer `rhs` (lowbit.mixed_matmul's levels) is converted to the
/// result's float type in the body, so the contraction reads it as it is.
Value lowbit::detail::nibbleLevel(OpBuilder &b, Location loc, Value byte, Value index) {
  Type i8 = b.getI8Type();
  auto constant = [&](int64_t v) {
    return arith::ConstantOp::create(b, loc, b.getIntegerAttr(i8, v));
  };
  Value odd =
      arith::AndIOp::create(b, loc, arith::IndexCastOp::create(b, loc, i8, index), constant(1));
  Value shift = arith::ShLIOp::create(b, loc, odd, constant(2));
  Value nibble =
      arith::AndIOp::create(b, loc, arith::ShRUIOp::create(b, loc, byte, shift), constant(15));
  return arith::SubIOp::create(b, loc, nibble, constant(8));
}

Value lowbit::detail::contraction(OpBuilder &b, Location loc, Value lhs, Value rhs,
                                  RankedTensorType resultType, bool transposeLhs, bool transposeRhs,
                                  std::optional<int64_t> nibbleDim) {
  MLIRContext *context = b.getContext();
  auto lhsType = cast<RankedTensorType>(lhs.getType()),
       rhsType = cast<RankedTensorType>(rhs.getType());
  int64_t rank = resultType.getRank();
  int64_t kLoop = rank - 2, mLoop = rank - 1, nLoop = rank; // loops: batch..., k, m, n
  auto dim = [&](int64_t i) { return getAffineDimExpr(i, context); };
  auto operandMap = [&](RankedTensorType type, bool isLhs, bool transpose) {
    SmallVector<AffineExpr> exprs;
    int64_t batch = type.getRank() - 2, offset = (rank - 2) - batch;
    for (int64_t i = 0; i < batch; ++i) {
      bool broadcast = type.getDimSize(i) == 1 && resultType.getDimSize(offset + i) != 1;
      exprs.push_back(broadcast ? getAffineConstantExpr(0, context) : dim(offset + i));
    }
    AffineExpr outer = isLhs ? dim(mLoop) : dim(nLoop);
    AffineExpr inner = dim(kLoop);
    bool outerFirst = isLhs != transpose;
    exprs.push_back(outerFirst ? outer : inner);
    exprs.push_back(outerFirst ? inner : outer);
    return AffineMap::get(rank + 1, 0, exprs, context);
  };
  SmallVector<AffineExpr> resultExprs;
  for (int64_t i = 0; i < rank - 2; ++i)
    resultExprs.push_back(dim(i));
  resultExprs.push_back(dim(mLoop));
  resultExprs.push_back(dim(nLoop));
  AffineMap rhsMap = operandMap(rhsType, false, transposeRhs);
  // The loop that indexes the packed dimension, whose parity picks the nibble.
  std::optional<int64_t> nibbleLoop;
  if (nibbleDim) {
    AffineExpr packed = rhsMap.getResult(*nibbleDim);
    nibbleLoop = cast<AffineDimExpr>(packed).getPosition();
    rhsMap = rhsMap.replace(packed, packed.floorDiv(2), rhsMap.getNumDims(), 0);
  }
  SmallVector<AffineMap> maps{operandMap(lhsType, true, transposeLhs), rhsMap,
                              AffineMap::get(rank + 1, 0, resultExprs, context)};
  // Result sizes: batch from whichever operand has it, m from lhs, n from rhs.
  SmallVector<OpFoldResult> lhsSizes = sizesOf(b, loc, lhs), rhsSizes = sizesOf(b, loc, rhs);
  SmallVector<OpFoldResult> sizes;
  for (int64_t i = 0; i < rank - 2; ++i) {
    if (!resultType.isDynamicDim(i)) {
      sizes.push_back(b.getIndexAttr(resultType.getDimSize(i)));
      continue;
    }
    int64_t li = i - (rank - lhsType.getRank()), ri = i - (rank - rhsType.getRank());
    bool fromLhs = li >= 0 && lhsType.getDimSize(li) != 1;
    sizes.push_back(fromLhs ? lhsSizes[li] : rhsSizes[ri]);
  }
  int64_t lr = lhsType.getRank(), rr = rhsType.getRank();
  sizes.push_back(lhsSizes[transposeLhs ? lr - 1 : lr - 2]);
  sizes.push_back(rhsSizes[transposeRhs ? rr - 2 : rr - 1]);
  if (nibbleDim == rr - 1)
    sizes.back() =
        arith::MulIOp::create(b, loc, getValueOrCreateConstantIndexOp(b, loc, sizes.back()),
                              arith::ConstantIndexOp::create(b, loc, 2))
            .getResult();
  Type element = resultType.getElementType();
  Value init = filledTensor(b, loc, resultType, sizes, scalarConstant(b, loc, element, 0));
  SmallVector<utils::IteratorType> iterators(rank + 1, utils::IteratorType::parallel);
  iterators[kLoop] = utils::IteratorType::reduction;
  auto generic = linalg::GenericOp::create(
      b, loc, TypeRange{resultType}, ValueRange{lhs, rhs}, ValueRange{init}, maps, iterators,
      [&](OpBuilder &nested, Location l, ValueRange args) {
        Value rhsValue = args[1];
        if (nibbleLoop)
          rhsValue =
              nibbleLevel(nested, l, rhsValue, linalg::IndexOp::create(nested, l, *nibbleLoop));
        if (isa<IntegerType>(rhsValue.getType()) && isFloat(element))
          rhsValue = arith::SIToFPOp::create(nested, l, element, rhsValue);
        linalg::YieldOp::create(nested, l,
                                add(nested, l, args[2], mul(nested, l, args[0], rhsValue)));
      });
  generic->setAttr("lowbit.contraction", b.getUnitAttr());
  return generic.getResult(0);
}

void lowbit::detail::populateReductionPatterns(RewritePatternSet &patterns) {
  patterns.add<ReduceLowering<onnx::ReduceMeanOp>, ReduceLowering<onnx::ReduceSumOp>,
               ReduceLowering<onnx::ReduceMaxOp>, SoftmaxLowering<onnx::SoftmaxOp, false>,
               SoftmaxLowering<onnx::LogSoftmaxOp, true>, RMSNormLowering, LayerNormLowering,
               MatMulLowering, MatMulIntegerLowering, GemmLowering>(patterns.getContext());
}
