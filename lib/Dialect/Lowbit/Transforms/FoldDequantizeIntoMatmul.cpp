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

/// The layout op `op` applied to `levels`, as `type`. Levels unpacked from
/// nibbles move as the bytes they are and are unpacked after `op`, along
/// the axis `move` takes the packed one to: the product that reads them
/// then reads the bytes (convert-lowbit-to-linalg fuses the unpacking).
Value layoutOfLevels(PatternRewriter &rewriter, Operation *op, Value levels, RankedTensorType type,
                     function_ref<std::optional<MovedAxis>(int64_t)> move) {
  auto unpack = levels.getDefiningOp<UnpackNibblesOp>();
  std::optional<MovedAxis> packed = unpack ? move(unpack.getPackedAxis()) : std::nullopt;
  if (!packed || ShapedType::isDynamic(type.getDimSize(packed->axis)) ||
      type.getDimSize(packed->axis) % 2 != 0)
    return layoutOf(rewriter, op, levels, type);
  SmallVector<int64_t> bytesShape(type.getShape());
  bytesShape[packed->axis] /= 2;
  Value bytes = layoutOf(rewriter, op, unpack.getPacked(),
                         RankedTensorType::get(bytesShape, type.getElementType()));
  return UnpackNibblesOp::create(rewriter, op->getLoc(), type, bytes,
                                 rewriter.getI64IntegerAttr(packed->axis));
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

/// Rewrites each user of `op` in place (`rewrite` replaces it, or fails to
/// leave it), inserting before the user; `op` goes when nothing reads it
/// any more. Fails, saying `noUser`, when no user was rewritten.
LogicalResult rewriteUsers(Operation *op, PatternRewriter &rewriter, StringRef noUser,
                           function_ref<LogicalResult(Operation *user)> rewrite) {
  bool changed = false;
  for (Operation *user : llvm::to_vector(op->getUsers())) {
    rewriter.setInsertionPoint(user);
    if (succeeded(rewrite(user)))
      changed = true;
  }
  if (!changed)
    return rewriter.notifyMatchFailure(op, noUser);
  if (op->use_empty())
    rewriter.eraseOp(op);
  return success();
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
    return rewriteUsers(dequantize, rewriter, "no user to fold into", [&](Operation *user) {
      return sinkInto(user, dequantize, *axis, rewriter);
    });
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
    // `move` says where `op` takes an axis of the levels.
    auto moveBoth = [&](Operation *op, function_ref<std::optional<MovedAxis>(int64_t)> move) {
      std::optional<MovedAxis> moved = move(axis);
      if (!moved)
        return failure();
      auto newLevelsType = RankedTensorType::get(moved->shape, i8);
      return replaceBy(
          layoutOfLevels(rewriter, op, levels, newLevelsType, move),
          layoutOf(rewriter, op, scales, withRowAxis(newLevelsType, scaleElement, moved->axis)));
    };
    if (auto transpose = dyn_cast<onnx::TransposeOp>(user))
      return moveBoth(transpose,
                      [&](int64_t a) { return throughTranspose(transpose, levelsShape, a); });
    if (auto unsqueeze = dyn_cast<onnx::UnsqueezeOp>(user))
      return moveBoth(unsqueeze,
                      [&](int64_t a) { return throughUnsqueeze(unsqueeze, levelsShape, a); });
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

/// The Shape op reading dimensions [start, end) of `x` (end: to the last).
Value shapeSlice(PatternRewriter &rewriter, Location loc, Value x, int64_t start,
                 std::optional<int64_t> end) {
  int64_t rank = cast<RankedTensorType>(x.getType()).getRank();
  auto type = RankedTensorType::get({end.value_or(rank) - start}, rewriter.getI64Type());
  return onnx::ShapeOp::create(rewriter, loc, type, x, rewriter.getI64IntegerAttr(start),
                               end ? rewriter.getI64IntegerAttr(*end) : IntegerAttr());
}

/// The Reshape of `x` merging its dimensions `axis` and `axis + 1`, in the
/// form mergedAxis recognizes: shape Concat(Shape(x)[:axis], [-1],
/// Shape(x)[axis + 2:]).
Value mergeAxes(PatternRewriter &rewriter, Location loc, Value x, int64_t axis, Type resultType) {
  int64_t rank = cast<RankedTensorType>(x.getType()).getRank();
  SmallVector<Value> parts;
  if (axis > 0)
    parts.push_back(shapeSlice(rewriter, loc, x, 0, axis));
  parts.push_back(onnx::createI64Vector(rewriter, loc, {-1}));
  if (axis + 2 < rank)
    parts.push_back(shapeSlice(rewriter, loc, x, axis + 2, std::nullopt));
  auto shapeType = RankedTensorType::get({rank - 1}, rewriter.getI64Type());
  Value shape =
      onnx::ConcatOp::create(rewriter, loc, shapeType, parts, rewriter.getI64IntegerAttr(0));
  return onnx::ReshapeOp::create(rewriter, loc, resultType, x, shape,
                                 rewriter.getI64IntegerAttr(0));
}

/// The axis `a` a Reshape provably merges with `a + 1` of its input `x`
/// (the KIVI keys' [.., groups, group, d] -> [.., tokens, d]): its shape is
/// Concat(Shape(y)[:a], [-1, trailing...]) with the trailing dimensions
/// static and equal to x's after a + 1, or Concat(Shape(y)[:a], [-1],
/// Shape(y)[a + 2:]) (as mergeAxes writes it), y being x or the levels x
/// dequantizes (of x's shape).
std::optional<int64_t> mergedAxis(onnx::ReshapeOp reshape) {
  Value x = reshape.getData();
  auto inType = dyn_cast<RankedTensorType>(x.getType());
  auto outType = dyn_cast<RankedTensorType>(reshape.getType());
  auto concat = reshape.getShape().getDefiningOp<onnx::ConcatOp>();
  if (!inType || !outType || outType.getRank() + 1 != inType.getRank() || !concat ||
      reshape.getAllowzero() != 0 || concat.getInputs().size() < 2)
    return std::nullopt;
  auto sameShapeAsX = [&](Value y) {
    auto dequantize = x.getDefiningOp<DequantizeOp>();
    return y == x || (dequantize && y == dequantize.getQuantized());
  };
  auto leading = concat.getInputs()[0].getDefiningOp<onnx::ShapeOp>();
  if (!leading || !sameShapeAsX(leading.getData()) || leading.getStart() != 0 || !leading.getEnd())
    return std::nullopt;
  int64_t axis = *leading.getEnd();
  std::optional<SmallVector<int64_t>> tail = onnx::getConstantIntValues(concat.getInputs()[1]);
  if (axis < 0 || axis + 2 > inType.getRank() || !tail || tail->empty() || tail->front() != -1)
    return std::nullopt;
  if (concat.getInputs().size() == 2) {
    // [-1, trailing...]: the trailing sizes are x's.
    if (int64_t(tail->size()) != inType.getRank() - axis - 1)
      return std::nullopt;
    for (size_t i = 1; i < tail->size(); ++i)
      if (inType.getDimSize(axis + 1 + i) != (*tail)[i])
        return std::nullopt;
    return axis;
  }
  auto trailing = concat.getInputs()[2].getDefiningOp<onnx::ShapeOp>();
  if (concat.getInputs().size() != 3 || tail->size() != 1 || !trailing ||
      !sameShapeAsX(trailing.getData()) || trailing.getStart() != axis + 2 || trailing.getEnd())
    return std::nullopt;
  return axis;
}

/// `type`'s shape with dimension `axis` split into `first` and `second`.
RankedTensorType splitAxis(RankedTensorType type, int64_t axis, int64_t first, int64_t second) {
  SmallVector<int64_t> shape(type.getShape());
  shape[axis] = second;
  shape.insert(shape.begin() + axis, first);
  return RankedTensorType::get(shape, type.getElementType());
}

/// A per-row dequantize, or Transpose/Unsqueeze of one (as SinkTokenMerge
/// leaves it).
bool isGroupedDequantize(Value x) {
  while (Operation *op = x.getDefiningOp()) {
    if (auto dequantize = dyn_cast<DequantizeOp>(op))
      return rowAxis(dequantize).has_value();
    if (!isa<onnx::TransposeOp, onnx::UnsqueezeOp>(op))
      return false;
    x = op->getOperand(0);
  }
  return false;
}

/// KIVI keys: scales per channel and group of tokens, so the dequantize is
/// per row only in the grouped form [.., groups, group, d] that a Reshape
/// then merges into tokens. The merge moves below the Unsqueeze and
/// Transpose that read it (each applied to the grouped form), its Shape
/// reads read the levels so merged, and at a MatMul that reads the tokens
/// as B's columns (K^T) the product runs per group: A (unsqueezed) against
/// each group's [d, group] slice, batched, the groups then merged back
/// into the columns. The dequantize is then per row of each group's B (one
/// scale per channel) and folds as SinkDequantize does.
struct SinkTokenMerge : OpRewritePattern<onnx::ReshapeOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(onnx::ReshapeOp merge, PatternRewriter &rewriter) const override {
    std::optional<int64_t> axis = mergedAxis(merge);
    if (!axis || !isGroupedDequantize(merge.getData()))
      return rewriter.notifyMatchFailure(merge, "not a merge of a dequantize's groups");
    return rewriteUsers(merge, rewriter, "no user to move below",
                        [&](Operation *user) { return sinkInto(user, merge, *axis, rewriter); });
  }

private:
  LogicalResult sinkInto(Operation *user, onnx::ReshapeOp merge, int64_t axis,
                         PatternRewriter &rewriter) const {
    Location loc = user->getLoc();
    Value grouped = merge.getData();
    auto groupedType = cast<RankedTensorType>(grouped.getType());
    int64_t groups = groupedType.getDimSize(axis), group = groupedType.getDimSize(axis + 1);
    auto resultType = dyn_cast<RankedTensorType>(user->getResult(0).getType());
    if (!resultType)
      return failure();
    if (auto shape = dyn_cast<onnx::ShapeOp>(user)) {
      auto dequantize = grouped.getDefiningOp<DequantizeOp>();
      if (!dequantize)
        return failure();
      auto levelsType =
          cast<RankedTensorType>(merge.getType())
              .clone(cast<RankedTensorType>(dequantize.getQuantized().getType()).getElementType());
      Value levels = onnx::ReshapeOp::create(rewriter, loc, levelsType, dequantize.getQuantized(),
                                             merge.getShape(), merge.getAllowzeroAttr());
      rewriter.modifyOpInPlace(shape, [&] { shape->setOperand(0, levels); });
      return success();
    }
    if (auto transpose = dyn_cast<onnx::TransposeOp>(user)) {
      auto perm = transpose.getPermAttr();
      if (!perm)
        return failure();
      SmallVector<int64_t> groupedPerm;
      int64_t at = -1;
      for (int64_t p : perm.asArrayRef()) {
        if (p == axis) {
          at = groupedPerm.size();
          groupedPerm.append({axis, axis + 1});
        } else {
          groupedPerm.push_back(p < axis ? p : p + 1);
        }
      }
      auto copy = cast<onnx::TransposeOp>(rewriter.clone(*transpose));
      copy.setPermAttr(rewriter.getDenseI64ArrayAttr(groupedPerm));
      copy->setOperand(0, grouped);
      copy.getResult().setType(splitAxis(resultType, at, groups, group));
      rewriter.replaceOp(user, mergeAxes(rewriter, loc, copy.getResult(), at, resultType));
      return success();
    }
    if (auto unsqueeze = dyn_cast<onnx::UnsqueezeOp>(user)) {
      std::optional<SmallVector<int64_t>> axes = onnx::getConstantIntValues(unsqueeze.getAxes());
      int64_t rank = resultType.getRank();
      if (!axes)
        return failure();
      SmallVector<bool> inserted(rank, false);
      for (int64_t a : *axes)
        if (a >= -rank && a < rank)
          inserted[a < 0 ? a + rank : a] = true;
      // The merged input dimension's place in the result; every inserted
      // axis after it moves one further in the grouped result.
      int64_t at = -1;
      for (int64_t i = 0, kept = 0; i < rank; ++i)
        if (!inserted[i] && kept++ == axis)
          at = i;
      if (at < 0 || llvm::count(inserted, true) != int64_t(axes->size()))
        return failure();
      SmallVector<int64_t> groupedAxes;
      for (int64_t i = 0; i < rank; ++i)
        if (inserted[i])
          groupedAxes.push_back(i < at ? i : i + 1);
      Value moved =
          onnx::UnsqueezeOp::create(rewriter, loc, splitAxis(resultType, at, groups, group),
                                    grouped, onnx::createI64Vector(rewriter, loc, groupedAxes));
      rewriter.replaceOp(user, mergeAxes(rewriter, loc, moved, at, resultType));
      return success();
    }
    if (auto matmul = dyn_cast<onnx::MatMulOp>(user)) {
      // C[.., m, (g, i)] = sum_k A[.., m, k] Y[.., k, g, i]: per group g,
      // A[.., 1, m, k] times Y^T[.., g, k, i], then (g, m, i) -> (m, g, i).
      int64_t rank = groupedType.getRank(); // B's rank + 1
      auto aType = dyn_cast<RankedTensorType>(matmul.getA().getType());
      if (matmul.getB() != merge.getResult() || matmul.getA() == merge.getResult() || !aType ||
          aType.getRank() < 2 || axis != rank - 2)
        return failure();
      SmallVector<int64_t> perm = llvm::to_vector(llvm::seq<int64_t>(0, rank));
      std::swap(perm[rank - 3], perm[rank - 2]); // (k, g, i) -> (g, k, i)
      Value input = grouped;
      if (auto inner = grouped.getDefiningOp<onnx::TransposeOp>(); inner && inner.getPermAttr()) {
        // One transpose of the inner one's input: perm composed.
        ArrayRef<int64_t> innerPerm = inner.getPermAttr().asArrayRef();
        for (int64_t &p : perm)
          p = innerPerm[p];
        input = inner.getData();
      }
      SmallVector<int64_t> bShape(groupedType.getShape());
      std::swap(bShape[rank - 3], bShape[rank - 2]);
      Value b = onnx::TransposeOp::create(
          rewriter, loc, RankedTensorType::get(bShape, groupedType.getElementType()), input,
          rewriter.getDenseI64ArrayAttr(perm));
      SmallVector<int64_t> aShape(aType.getShape());
      aShape.insert(aShape.end() - 2, 1);
      Value a = onnx::UnsqueezeOp::create(
          rewriter, loc, RankedTensorType::get(aShape, aType.getElementType()), matmul.getA(),
          onnx::createI64Vector(rewriter, loc, {-3}));
      // Product [.., g, m, i]: the result's batch, then g, m, i.
      int64_t resultRank = resultType.getRank();
      SmallVector<int64_t> productShape(resultType.getShape().drop_back(2));
      productShape.append({groups, resultType.getDimSize(resultRank - 2), group});
      Value product = onnx::MatMulOp::create(
          rewriter, loc, RankedTensorType::get(productShape, resultType.getElementType()), a, b);
      SmallVector<int64_t> outPerm = llvm::to_vector(llvm::seq<int64_t>(0, resultRank + 1));
      std::swap(outPerm[resultRank - 2], outPerm[resultRank - 1]); // (g, m, i) -> (m, g, i)
      std::swap(productShape[resultRank - 2], productShape[resultRank - 1]);
      Value columns = onnx::TransposeOp::create(
          rewriter, loc, RankedTensorType::get(productShape, resultType.getElementType()), product,
          rewriter.getDenseI64ArrayAttr(outPerm));
      rewriter.replaceOp(user, mergeAxes(rewriter, loc, columns, resultRank - 1, resultType));
      return success();
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
    // Or KIVI keys: groups of a dequantize merged into the tokens.
    auto merge = concat.getInputs()[0].getDefiningOp<onnx::ReshapeOp>();
    bool kivi = merge && isGroupedDequantize(merge.getData()) && mergedAxis(merge) == axis;
    if (!kivi && (!row || *row == axis))
      return rewriter.notifyMatchFailure(concat, "not a per-row dequantize and a window");
    return rewriteUsers(concat, rewriter, "no user to split",
                        [&](Operation *user) { return splitInto(user, concat, axis, rewriter); });
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
    patterns.add<SinkDequantize, SinkTokenMerge, SplitWindowConcat>(&getContext());
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      return signalPassFailure();
  }
};
} // namespace
