//===- FoldDequantizeIntoMatmul.cpp - MatMuls that read integer levels ----===//
//
// Implements `lowbit-fold-dequantize-into-matmul` (see Passes.td).
//
//===----------------------------------------------------------------------===//

#include "lowbit/Dialect/Lowbit/Transforms/Passes.h"

#include "lowbit/Dialect/Lowbit/IR/Lowbit.h"
#include "lowbit/Dialect/Onnx/IR/Onnx.h"

#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

#include <algorithm>
#include <limits>

namespace lowbit {
#define GEN_PASS_DEF_FOLDDEQUANTIZEINTOMATMULPASS
#include "lowbit/Dialect/Lowbit/Transforms/Passes.h.inc"
} // namespace lowbit

using namespace mlir;
using namespace lowbit;

namespace {
/// The axis along which a per-row dequantize's scale is constant: its scales
/// have the levels' shape with 1 on that one axis, where the levels are
/// longer than 1. A dynamic dimension of the scales is taken to equal the
/// levels' (as lowbit.dynamic_quantize's scales do; the cache's are its).
std::optional<int64_t> rowAxis(DequantizeOp dequantize) {
  if (dequantize.getZeroPoints())
    return std::nullopt;
  auto levels = dequantize.getQuantized().getType();
  auto scales = dequantize.getScales().getType();
  if (scales.getRank() != levels.getRank())
    return std::nullopt;
  std::optional<int64_t> axis;
  for (int64_t i = 0; i < levels.getRank(); ++i) {
    int64_t l = levels.getDimSize(i), s = scales.getDimSize(i);
    if (s == 1 && l != 1 && !ShapedType::isDynamic(l)) {
      if (axis)
        return std::nullopt;
      axis = i;
    } else if (s != l) {
      return std::nullopt;
    }
  }
  return axis;
}

/// `type`'s shape with element `element` and size 1 at `axis`.
RankedTensorType withRowAxis(RankedTensorType type, Type element, int64_t axis) {
  SmallVector<int64_t> shape(type.getShape());
  shape[axis] = 1;
  return RankedTensorType::get(shape, element);
}

/// The last element of a shape operand when it is a constant, or the last
/// input of a Concat of them is (exporters build shapes that way).
std::optional<int64_t> constantLastElement(Value shape) {
  if (auto concat = shape.getDefiningOp<onnx::ConcatOp>(); concat && !concat.getInputs().empty())
    shape = concat.getInputs().back();
  std::optional<SmallVector<int64_t>> values = onnx::getConstantIntValues(shape);
  if (!values || values->empty())
    return std::nullopt;
  return values->back();
}

/// Where a layout op moves one tracked axis of its input (the scales' row
/// axis, or the tokens of a window Concat), and the input's shape after it.
struct MovedAxis {
  int64_t axis;
  SmallVector<int64_t> shape;
};

/// The layout op `op` (data first) applied to `data` instead, as `type`.
Value layoutOf(PatternRewriter &rewriter, Operation *op, Value data, Type type) {
  Operation *copy = rewriter.clone(*op);
  copy->setOperand(0, data);
  copy->getResult(0).setType(type);
  return copy->getResult(0);
}

/// Through a Transpose (no perm: reversed).
std::optional<MovedAxis> throughTranspose(onnx::TransposeOp transpose, ArrayRef<int64_t> shape,
                                          int64_t axis) {
  int64_t rank = shape.size();
  SmallVector<int64_t> perm;
  if (auto attr = transpose.getPermAttr())
    perm.assign(attr.asArrayRef().begin(), attr.asArrayRef().end());
  else
    for (int64_t i = rank - 1; i >= 0; --i)
      perm.push_back(i);
  auto at = llvm::find(perm, axis);
  if (int64_t(perm.size()) != rank || at == perm.end())
    return std::nullopt;
  MovedAxis moved{int64_t(at - perm.begin()), {}};
  for (int64_t p : perm)
    moved.shape.push_back(shape[p]);
  return moved;
}

/// Through an Unsqueeze with constant axes: past each inserted 1 before it.
std::optional<MovedAxis> throughUnsqueeze(onnx::UnsqueezeOp unsqueeze, ArrayRef<int64_t> shape,
                                          int64_t axis) {
  std::optional<SmallVector<int64_t>> axes = onnx::getConstantIntValues(unsqueeze.getAxes());
  if (!axes)
    return std::nullopt;
  int64_t rank = shape.size() + axes->size();
  SmallVector<bool> inserted(rank, false);
  for (int64_t a : *axes)
    if (a >= -rank && a < rank)
      inserted[a < 0 ? a + rank : a] = true;
  if (llvm::count(inserted, true) != int64_t(axes->size()))
    return std::nullopt;
  MovedAxis moved{-1, {}};
  for (int64_t i = 0, kept = 0; i < rank; ++i) {
    if (!inserted[i] && kept == axis)
      moved.axis = i;
    moved.shape.push_back(inserted[i] ? 1 : shape[kept++]);
  }
  return moved;
}

/// The numpy broadcast of two static-or-dynamic shapes (right-aligned).
SmallVector<int64_t> broadcastShape(ArrayRef<int64_t> x, ArrayRef<int64_t> y) {
  size_t rank = std::max(x.size(), y.size());
  SmallVector<int64_t> shape(rank);
  for (size_t i = 0; i < rank; ++i) {
    int64_t a = i + x.size() >= rank ? x[i + x.size() - rank] : 1;
    int64_t b = i + y.size() >= rank ? y[i + y.size() - rank] : 1;
    shape[i] = a == 1 ? b : b == 1 ? a : ShapedType::isDynamic(a) ? b : a;
  }
  return shape;
}

/// Moves a per-row lowbit.dequantize below the layout ops that read it
/// (Unsqueeze, Transpose, Expand, Reshape: each applied to the levels and to
/// the scales), answers its Shape reads from the levels, and folds it into a
/// MatMul that reads it as B: the scales, constant along the reduction
/// (one per column of B) or along B's rows (one per row: a factor of A's
/// columns), come out of the sum and the product reads the levels through
/// lowbit.mixed_matmul.
struct SinkDequantize : OpRewritePattern<DequantizeOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(DequantizeOp dequantize, PatternRewriter &rewriter) const override {
    std::optional<int64_t> axis = rowAxis(dequantize);
    if (!axis)
      return rewriter.notifyMatchFailure(dequantize, "not a per-row dequantize");
    bool changed = false;
    for (Operation *user : llvm::to_vector(dequantize->getUsers())) {
      rewriter.setInsertionPoint(user);
      if (succeeded(sinkInto(user, dequantize, *axis, rewriter)))
        changed = true;
    }
    if (!changed)
      return rewriter.notifyMatchFailure(dequantize, "no user to fold into");
    if (dequantize->use_empty())
      rewriter.eraseOp(dequantize);
    return success();
  }

private:
  /// A dequantize of `levels` and `scales` (row axis `axis`) in place of
  /// `user`'s result, or the folded product for a MatMul.
  LogicalResult sinkInto(Operation *user, DequantizeOp dequantize, int64_t axis,
                         PatternRewriter &rewriter) const {
    Location loc = user->getLoc();
    Value levels = dequantize.getQuantized(), scales = dequantize.getScales();
    Type i8 = rewriter.getI8Type();
    Type scaleElement = cast<RankedTensorType>(scales.getType()).getElementType();
    auto replaceBy = [&](Value newLevels, Value newScales) {
      Value result = user->getResult(0);
      rewriter.replaceOpWithNewOp<DequantizeOp>(user, result.getType(), newLevels, newScales,
                                                Value());
      return success();
    };
    auto resultType = [&](Operation *op) {
      return dyn_cast<RankedTensorType>(op->getResult(0).getType());
    };

    if (auto shape = dyn_cast<onnx::ShapeOp>(user)) {
      rewriter.replaceOpWithNewOp<onnx::ShapeOp>(shape, shape.getType(), levels,
                                                 shape.getStartAttr(), shape.getEndAttr());
      return success();
    }
    ArrayRef<int64_t> levelsShape = cast<RankedTensorType>(levels.getType()).getShape();
    // The levels' shape moved (the result type may know less), the scales'
    // with 1 on the moved row axis.
    auto moveBoth = [&](Operation *op, std::optional<MovedAxis> moved) {
      if (!moved)
        return failure();
      auto newLevelsType = RankedTensorType::get(moved->shape, i8);
      return replaceBy(
          layoutOf(rewriter, op, levels, newLevelsType),
          layoutOf(rewriter, op, scales, withRowAxis(newLevelsType, scaleElement, moved->axis)));
    };
    if (auto transpose = dyn_cast<onnx::TransposeOp>(user))
      return moveBoth(transpose, throughTranspose(transpose, levelsShape, axis));
    if (auto unsqueeze = dyn_cast<onnx::UnsqueezeOp>(user))
      return moveBoth(unsqueeze, throughUnsqueeze(unsqueeze, levelsShape, axis));
    if (auto expand = dyn_cast<onnx::ExpandOp>(user)) {
      // The scales expand to the same shape but for 1 on the row axis, which
      // must keep its size.
      auto type = resultType(expand);
      auto shapeType = dyn_cast<RankedTensorType>(expand.getShape().getType());
      int64_t inputRank = cast<RankedTensorType>(levels.getType()).getRank();
      if (!type || !shapeType || !shapeType.hasStaticShape())
        return failure();
      int64_t newAxis = axis + type.getRank() - inputRank;
      // Broadcasting keeps a size above 1: the row axis keeps its size.
      int64_t rowSize = cast<RankedTensorType>(levels.getType()).getDimSize(axis);
      if (!ShapedType::isDynamic(type.getDimSize(newAxis)) && type.getDimSize(newAxis) != rowSize)
        return failure();
      SmallVector<int64_t> levelsShape(type.getShape());
      levelsShape[newAxis] = rowSize;
      auto newLevelsType = RankedTensorType::get(levelsShape, i8);
      int64_t length = shapeType.getDimSize(0), at = newAxis - (type.getRank() - length);
      Value shape = expand.getShape();
      if (at >= 0) {
        SmallVector<int64_t> keep(length, 1), one(length, 0);
        keep[at] = 0;
        one[at] = 1;
        Value kept = onnx::MulOp::create(rewriter, loc, shapeType, shape,
                                         onnx::createI64Vector(rewriter, loc, keep));
        shape = onnx::AddOp::create(rewriter, loc, shapeType, kept,
                                    onnx::createI64Vector(rewriter, loc, one));
      }
      Value l = onnx::ExpandOp::create(rewriter, loc, newLevelsType, levels, expand.getShape());
      Value s = onnx::ExpandOp::create(
          rewriter, loc, withRowAxis(newLevelsType, scaleElement, newAxis), scales, shape);
      return replaceBy(l, s);
    }
    if (auto reshape = dyn_cast<onnx::ReshapeOp>(user)) {
      // Only reshapes of the dimensions before a last row axis that keeps
      // its size (the shape's last element is that size): the scales take
      // the same shape with 1 last.
      auto type = resultType(reshape);
      auto levelsType = cast<RankedTensorType>(levels.getType());
      auto shapeType = dyn_cast<RankedTensorType>(reshape.getShape().getType());
      int64_t rowSize = levelsType.getShape().back();
      if (!type || !shapeType || !shapeType.hasStaticShape() || axis != levelsType.getRank() - 1 ||
          reshape.getAllowzero() != 0 || constantLastElement(reshape.getShape()) != rowSize ||
          (!ShapedType::isDynamic(type.getShape().back()) && type.getShape().back() != rowSize))
        return failure();
      int64_t length = shapeType.getDimSize(0);
      auto leadingType = RankedTensorType::get({length - 1}, rewriter.getI64Type());
      Value leading = onnx::SliceOp::create(rewriter, loc, leadingType, reshape.getShape(),
                                            onnx::createI64Vector(rewriter, loc, {0}),
                                            onnx::createI64Vector(rewriter, loc, {length - 1}),
                                            onnx::createI64Vector(rewriter, loc, {0}), Value());
      Value shape = onnx::ConcatOp::create(
          rewriter, loc, shapeType, ValueRange{leading, onnx::createI64Vector(rewriter, loc, {1})},
          rewriter.getI64IntegerAttr(0));
      SmallVector<int64_t> levelsShape(type.getShape());
      levelsShape.back() = rowSize;
      auto newLevelsType = RankedTensorType::get(levelsShape, i8);
      Value l = onnx::ReshapeOp::create(rewriter, loc, newLevelsType, levels, reshape.getShape(),
                                        reshape.getAllowzeroAttr());
      Value s = onnx::ReshapeOp::create(
          rewriter, loc, withRowAxis(newLevelsType, scaleElement, type.getRank() - 1), scales,
          shape, reshape.getAllowzeroAttr());
      return replaceBy(l, s);
    }
    if (auto matmul = dyn_cast<onnx::MatMulOp>(user)) {
      auto type = resultType(matmul);
      auto aType = dyn_cast<RankedTensorType>(matmul.getA().getType());
      int64_t rank = cast<RankedTensorType>(levels.getType()).getRank();
      if (matmul.getB() != dequantize.getResult() || matmul.getA() == dequantize.getResult() ||
          !type || !aType || aType.getRank() < 2 || rank < 2 ||
          aType.getElementType() != type.getElementType() || scaleElement != type.getElementType())
        return failure();
      if (axis == rank - 2) {
        // One scale per column of B: sum_k A[m, k] q[k, n] s[n].
        Value product = MixedMatMulOp::create(rewriter, loc, type, matmul.getA(), levels);
        rewriter.replaceOpWithNewOp<onnx::MulOp>(matmul, type, product, scales);
        return success();
      }
      if (axis == rank - 1) {
        // One scale per row of B: sum_k (A[m, k] s[k]) q[k, n].
        auto scalesType = cast<RankedTensorType>(scales.getType());
        SmallVector<int64_t> perm = llvm::to_vector(llvm::seq<int64_t>(0, rank));
        std::swap(perm[rank - 1], perm[rank - 2]);
        SmallVector<int64_t> rowShape(scalesType.getShape());
        std::swap(rowShape[rank - 1], rowShape[rank - 2]);
        Value row =
            onnx::TransposeOp::create(rewriter, loc, RankedTensorType::get(rowShape, scaleElement),
                                      scales, rewriter.getDenseI64ArrayAttr(perm));
        auto scaledType = RankedTensorType::get(broadcastShape(aType.getShape(), rowShape),
                                                aType.getElementType());
        Value scaled = onnx::MulOp::create(rewriter, loc, scaledType, matmul.getA(), row);
        rewriter.replaceOpWithNewOp<MixedMatMulOp>(matmul, type, scaled, levels);
        return success();
      }
    }
    return failure();
  }
};

/// A KV cache with a window: Concat(dequantize(levels, scales), recent)
/// along the tokens. The Unsqueeze and Transpose that read it apply to each
/// part, the Shape reads add the parts' lengths, and a MatMul that reads it
/// as B becomes one product per part: side by side (the tokens are B's
/// columns: K^T) or summed over the matching columns of A (the tokens are
/// B's rows: V). The dequantized part then folds as above; `recent` stays
/// an f32 product.
struct SplitWindowConcat : OpRewritePattern<onnx::ConcatOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(onnx::ConcatOp concat, PatternRewriter &rewriter) const override {
    auto type = dyn_cast<RankedTensorType>(concat.getType());
    if (!type || concat.getInputs().size() != 2)
      return rewriter.notifyMatchFailure(concat, "not two parts");
    int64_t rank = type.getRank();
    int64_t axis = concat.getAxis() < 0 ? concat.getAxis() + rank : concat.getAxis();
    auto dequantize = concat.getInputs()[0].getDefiningOp<DequantizeOp>();
    std::optional<int64_t> row = dequantize ? rowAxis(dequantize) : std::nullopt;
    if (!row || *row == axis)
      return rewriter.notifyMatchFailure(concat, "not a per-row dequantize and a window");
    bool changed = false;
    for (Operation *user : llvm::to_vector(concat->getUsers())) {
      rewriter.setInsertionPoint(user);
      if (succeeded(splitInto(user, concat, axis, rewriter)))
        changed = true;
    }
    if (!changed)
      return rewriter.notifyMatchFailure(concat, "no user to split");
    if (concat->use_empty())
      rewriter.eraseOp(concat);
    return success();
  }

private:
  LogicalResult splitInto(Operation *user, onnx::ConcatOp concat, int64_t axis,
                          PatternRewriter &rewriter) const {
    Location loc = user->getLoc();
    Value first = concat.getInputs()[0], second = concat.getInputs()[1];
    int64_t rank = cast<RankedTensorType>(concat.getType()).getRank();
    // Each part's type: the user's result type with the part's length on
    // the (new) axis.
    auto partType = [&](Value part, RankedTensorType resultType, ArrayRef<int64_t> shape,
                        int64_t newAxis) {
      SmallVector<int64_t> dims(shape);
      dims[newAxis] = cast<RankedTensorType>(part.getType()).getDimSize(axis);
      return RankedTensorType::get(dims, resultType.getElementType());
    };
    auto concatOf = [&](Value a, Value b, int64_t newAxis) {
      rewriter.replaceOpWithNewOp<onnx::ConcatOp>(user, user->getResult(0).getType(),
                                                  ValueRange{a, b},
                                                  rewriter.getI64IntegerAttr(newAxis));
      return success();
    };
    if (auto shape = dyn_cast<onnx::ShapeOp>(user)) {
      auto shapeType = RankedTensorType::get({rank}, rewriter.getI64Type());
      SmallVector<int64_t> oneHot(rank, 0);
      oneHot[axis] = 1;
      Value firstShape = onnx::ShapeOp::create(rewriter, loc, shapeType, first,
                                               rewriter.getI64IntegerAttr(0), IntegerAttr());
      Value secondShape = onnx::ShapeOp::create(rewriter, loc, shapeType, second,
                                                rewriter.getI64IntegerAttr(0), IntegerAttr());
      Value extra = onnx::MulOp::create(rewriter, loc, shapeType, secondShape,
                                        onnx::createI64Vector(rewriter, loc, oneHot));
      Value full = onnx::AddOp::create(rewriter, loc, shapeType, firstShape, extra);
      rewriter.replaceOp(shape, onnx::shapeReadOf(rewriter, shape, full, rank));
      return success();
    }
    // Unsqueeze and Transpose: each part moved, concatenated on the moved
    // token axis.
    ArrayRef<int64_t> concatShape = cast<RankedTensorType>(concat.getType()).getShape();
    auto splitLayout = [&](Operation *op, std::optional<MovedAxis> moved) {
      auto resultType = dyn_cast<RankedTensorType>(op->getResult(0).getType());
      if (!moved || !resultType)
        return failure();
      Value a =
          layoutOf(rewriter, op, first, partType(first, resultType, moved->shape, moved->axis));
      Value b =
          layoutOf(rewriter, op, second, partType(second, resultType, moved->shape, moved->axis));
      return concatOf(a, b, moved->axis);
    };
    if (auto transpose = dyn_cast<onnx::TransposeOp>(user))
      return splitLayout(transpose, throughTranspose(transpose, concatShape, axis));
    if (auto unsqueeze = dyn_cast<onnx::UnsqueezeOp>(user))
      return splitLayout(unsqueeze, throughUnsqueeze(unsqueeze, concatShape, axis));
    if (auto matmul = dyn_cast<onnx::MatMulOp>(user)) {
      auto resultType = dyn_cast<RankedTensorType>(matmul.getType());
      auto aType = dyn_cast<RankedTensorType>(matmul.getA().getType());
      if (matmul.getB() != concat.getResult() || matmul.getA() == concat.getResult() ||
          !resultType || !aType || aType.getRank() < 2 || rank < 2)
        return failure();
      auto productType = [&](Value part, int64_t partAxis) {
        SmallVector<int64_t> dims(resultType.getShape());
        if (partAxis >= 0)
          dims.back() = cast<RankedTensorType>(part.getType()).getDimSize(partAxis);
        return RankedTensorType::get(dims, resultType.getElementType());
      };
      if (axis == rank - 1) {
        // Tokens are B's columns: the products side by side.
        Value a =
            onnx::MatMulOp::create(rewriter, loc, productType(first, axis), matmul.getA(), first);
        Value b =
            onnx::MatMulOp::create(rewriter, loc, productType(second, axis), matmul.getA(), second);
        return concatOf(a, b, resultType.getRank() - 1);
      }
      if (axis == rank - 2) {
        // Tokens are B's rows: A's columns split at the first part's length.
        auto i64Type = RankedTensorType::get({1}, rewriter.getI64Type());
        Value split =
            onnx::ShapeOp::create(rewriter, loc, i64Type, first, rewriter.getI64IntegerAttr(axis),
                                  rewriter.getI64IntegerAttr(axis + 1));
        Value columns = onnx::createI64Vector(rewriter, loc, {-1});
        auto sliceType = [&](Value part) {
          SmallVector<int64_t> dims(aType.getShape());
          dims.back() = cast<RankedTensorType>(part.getType()).getDimSize(axis);
          return RankedTensorType::get(dims, aType.getElementType());
        };
        Value aFirst = onnx::SliceOp::create(rewriter, loc, sliceType(first), matmul.getA(),
                                             onnx::createI64Vector(rewriter, loc, {0}), split,
                                             columns, Value());
        Value aSecond = onnx::SliceOp::create(
            rewriter, loc, sliceType(second), matmul.getA(), split,
            onnx::createI64Vector(rewriter, loc, {std::numeric_limits<int64_t>::max()}), columns,
            Value());
        Value a = onnx::MatMulOp::create(rewriter, loc, productType(first, -1), aFirst, first);
        Value b = onnx::MatMulOp::create(rewriter, loc, productType(second, -1), aSecond, second);
        rewriter.replaceOpWithNewOp<onnx::AddOp>(matmul, resultType, a, b);
        return success();
      }
    }
    return failure();
  }
};

struct FoldDequantizeIntoMatmulPass
    : lowbit::impl::FoldDequantizeIntoMatmulPassBase<FoldDequantizeIntoMatmulPass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    patterns.add<SinkDequantize, SplitWindowConcat>(&getContext());
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      return signalPassFailure();
  }
};
} // namespace
