//===- Tensor.cpp - onnx shape and data-movement ops to tensor/linalg -----===//
//
// Constants, shapes, reshapes, slicing, concatenation, gathers and the ops
// that build tensors from shape operands. Sizes that depend on operand
// values (Reshape's shape, Slice's bounds, ...) are computed at run time.
//
//===----------------------------------------------------------------------===//

#include "Common.h"

using namespace mlir;
using namespace lowbit::detail;
namespace onnx = lowbit::onnx;

namespace {
/// Replaces `op`'s result with `value`, adding a tensor.cast where the onnx
/// result type is more static than what was built.
void replaceWithCast(PatternRewriter &rewriter, Operation *op, Value value) {
  Type type = op->getResult(0).getType();
  if (value.getType() != type)
    value = tensor::CastOp::create(rewriter, op->getLoc(), type, value);
  rewriter.replaceOp(op, value);
}

Value indexConstant(OpBuilder &b, Location loc, int64_t v) {
  return arith::ConstantIndexOp::create(b, loc, v);
}

Value clamp(OpBuilder &b, Location loc, Value v, Value lo, Value hi) {
  return arith::MinSIOp::create(b, loc, arith::MaxSIOp::create(b, loc, v, lo), hi);
}

struct ConstantLowering : OpRewritePattern<onnx::ConstantOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(onnx::ConstantOp op, PatternRewriter &rewriter) const override {
    // A splat of unsigned integers is filled from a signless scalar: linalg's
    // fusion would fold the splat into its users' bodies as an unsigned
    // scalar arith.constant, which arith does not allow.
    auto splat = dyn_cast<SplatElementsAttr>(op.getValue());
    if (splat && splat.getElementType().isUnsignedInteger()) {
      Location loc = op.getLoc();
      auto type = cast<RankedTensorType>(splat.getType());
      Value bits = arith::ConstantOp::create(
          rewriter, loc,
          rewriter.getIntegerAttr(signless(type.getElementType()),
                                  splat.getSplatValue<APInt>().getZExtValue()));
      rewriter.replaceOp(
          op, filledTensor(rewriter, loc, type,
                           getAsIndexOpFoldResult(rewriter.getContext(), type.getShape()),
                           fromSignless(rewriter, loc, bits, type.getElementType())));
      return success();
    }
    rewriter.replaceOpWithNewOp<arith::ConstantOp>(op, cast<TypedAttr>(op.getValue()));
    return success();
  }
};

struct IdentityLowering : OpRewritePattern<onnx::IdentityOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(onnx::IdentityOp op, PatternRewriter &rewriter) const override {
    replaceWithCast(rewriter, op, op.getInput());
    return success();
  }
};

struct ShapeLowering : OpRewritePattern<onnx::ShapeOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(onnx::ShapeOp op, PatternRewriter &rewriter) const override {
    auto input = dyn_cast<RankedTensorType>(op.getData().getType());
    auto resultType = rankedResult(op, 0, rewriter);
    if (!input || failed(resultType) || resultType->isDynamicDim(0))
      return rewriter.notifyMatchFailure(op, "input of unknown rank");
    auto [start, end] = op.getDimRange(input.getRank());
    Location loc = op.getLoc();
    SmallVector<Value> dims;
    for (int64_t i = start; i < end; ++i)
      dims.push_back(arith::IndexCastOp::create(rewriter, loc, rewriter.getI64Type(),
                                                tensor::DimOp::create(rewriter, loc, op.getData(), i)));
    rewriter.replaceOpWithNewOp<tensor::FromElementsOp>(op, *resultType, dims);
    return success();
  }
};

/// Reshape: the target sizes come from the shape operand at run time, with
/// ONNX's 0 (copy) and -1 (infer) resolved; static result sizes are used as
/// they are.
struct ReshapeLowering : OpRewritePattern<onnx::ReshapeOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(onnx::ReshapeOp op, PatternRewriter &rewriter) const override {
    auto resultType = rankedResult(op, 0, rewriter);
    auto inputType = dyn_cast<RankedTensorType>(op.getData().getType());
    if (failed(resultType) || !inputType)
      return rewriter.notifyMatchFailure(op, "unknown rank");
    Location loc = op.getLoc();
    int64_t rank = resultType->getRank();
    if (resultType->hasStaticShape()) {
      SmallVector<OpFoldResult> sizes;
      for (int64_t d : resultType->getShape())
        sizes.push_back(rewriter.getIndexAttr(d));
      rewriter.replaceOp(op, reshapeTo(rewriter, loc, op.getData(), *resultType, sizes));
      return success();
    }
    Value one = indexConstant(rewriter, loc, 1), minusOne = indexConstant(rewriter, loc, -1);
    Value zero = indexConstant(rewriter, loc, 0);
    SmallVector<Value> entries;
    for (int64_t i = 0; i < rank; ++i) {
      Value v = extractIndex(rewriter, loc, op.getShape(), i);
      if (!op.getAllowzero() && i < inputType.getRank()) {
        Value isZero = arith::CmpIOp::create(rewriter, loc, arith::CmpIPredicate::eq, v, zero);
        v = arith::SelectOp::create(rewriter, loc, isZero,
                                    tensor::DimOp::create(rewriter, loc, op.getData(), i), v);
      }
      entries.push_back(v);
    }
    Value total = one;
    for (int64_t i = 0; i < inputType.getRank(); ++i)
      total = arith::MulIOp::create(rewriter, loc, total,
                                    tensor::DimOp::create(rewriter, loc, op.getData(), i));
    Value known = one;
    SmallVector<Value> isInferred;
    for (Value v : entries) {
      Value inferred = arith::CmpIOp::create(rewriter, loc, arith::CmpIPredicate::eq, v, minusOne);
      isInferred.push_back(inferred);
      known = arith::MulIOp::create(rewriter, loc, known,
                                    arith::SelectOp::create(rewriter, loc, inferred, one, v));
    }
    Value rest = arith::DivSIOp::create(rewriter, loc, total, known);
    SmallVector<OpFoldResult> sizes;
    for (int64_t i = 0; i < rank; ++i) {
      if (!resultType->isDynamicDim(i))
        sizes.push_back(rewriter.getIndexAttr(resultType->getDimSize(i)));
      else
        sizes.push_back(
            arith::SelectOp::create(rewriter, loc, isInferred[i], rest, entries[i]).getResult());
    }
    rewriter.replaceOp(op, reshapeTo(rewriter, loc, op.getData(), *resultType, sizes));
    return success();
  }
};

/// Squeeze, Unsqueeze and Flatten only regroup dimensions: the result's
/// sizes are the input's with 1s removed or inserted (or multiplied together
/// for Flatten).
template <typename OpTy>
struct RegroupLowering : OpRewritePattern<OpTy> {
  using OpRewritePattern<OpTy>::OpRewritePattern;
  LogicalResult matchAndRewrite(OpTy op, PatternRewriter &rewriter) const override {
    auto resultType = rankedResult(op, 0, rewriter);
    Value input = op->getOperand(0);
    auto inputType = dyn_cast<RankedTensorType>(input.getType());
    if (failed(resultType) || !inputType)
      return rewriter.notifyMatchFailure(op, "unknown rank");
    Location loc = op.getLoc();
    int64_t inRank = inputType.getRank(), outRank = resultType->getRank();
    SmallVector<OpFoldResult> inputSizes = sizesOf(rewriter, loc, input), sizes;
    if constexpr (std::is_same_v<OpTy, onnx::FlattenOp>) {
      int64_t axis = onnx::nonNegativeAxis(op.getAxis(), inRank);
      Value outer = indexConstant(rewriter, loc, 1), inner = indexConstant(rewriter, loc, 1);
      for (int64_t i = 0; i < inRank; ++i) {
        Value &product = i < axis ? outer : inner;
        product = arith::MulIOp::create(rewriter, loc, product,
                                        toIndexValue(rewriter, loc, inputSizes[i]));
      }
      sizes = {outer, inner};
    } else {
      // The dimensions of size 1 that the op adds (Unsqueeze) or removes
      // (Squeeze), as positions in the larger of the two ranks.
      SmallVector<bool> unit(std::max(inRank, outRank), false);
      Value axesOperand = op->getNumOperands() > 1 ? op->getOperand(1) : Value();
      if (axesOperand) {
        auto axes = onnx::getConstantIntValues(axesOperand);
        if (!axes && resultType->hasStaticShape()) {
          // Axes given at run time: the result type, static, says where the
          // 1s go, and the data is the same whichever axes they were.
          for (int64_t size : resultType->getShape())
            sizes.push_back(rewriter.getIndexAttr(size));
          rewriter.replaceOp(op, reshapeTo(rewriter, loc, input, *resultType, sizes));
          return success();
        }
        if (!axes)
          return rewriter.notifyMatchFailure(op, "axes are not constant and the result shape "
                                                 "is not static");
        for (int64_t a : *axes)
          unit[a < 0 ? a + int64_t(unit.size()) : a] = true;
      } else { // Squeeze without axes: every static 1
        for (int64_t i = 0; i < inRank; ++i)
          unit[i] = inputType.getDimSize(i) == 1;
      }
      int64_t next = 0;
      for (size_t i = 0; i < unit.size(); ++i) {
        if (std::is_same_v<OpTy, onnx::UnsqueezeOp>) {
          sizes.push_back(unit[i] ? OpFoldResult(rewriter.getIndexAttr(1)) : inputSizes[next++]);
        } else if (!unit[i]) {
          sizes.push_back(inputSizes[i]);
        }
      }
    }
    rewriter.replaceOp(op, reshapeTo(rewriter, loc, input, *resultType, sizes));
    return success();
  }
};

struct TransposeLowering : OpRewritePattern<onnx::TransposeOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(onnx::TransposeOp op, PatternRewriter &rewriter) const override {
    auto resultType = rankedResult(op, 0, rewriter);
    if (failed(resultType))
      return failure();
    int64_t rank = resultType->getRank();
    SmallVector<int64_t> perm;
    if (auto attr = op.getPermAttr())
      perm.assign(attr.asArrayRef().begin(), attr.asArrayRef().end());
    else
      for (int64_t i = rank - 1; i >= 0; --i)
        perm.push_back(i);
    Location loc = op.getLoc();
    SmallVector<OpFoldResult> inputSizes = sizesOf(rewriter, loc, op.getData()), sizes;
    for (int64_t p : perm)
      sizes.push_back(inputSizes[p]);
    Value init = emptyTensor(rewriter, loc, *resultType, sizes);
    auto transpose = linalg::TransposeOp::create(rewriter, loc, op.getData(), init, perm);
    rewriter.replaceOp(op, transpose.getResult());
    return success();
  }
};

struct ConcatLowering : OpRewritePattern<onnx::ConcatOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(onnx::ConcatOp op, PatternRewriter &rewriter) const override {
    auto resultType = rankedResult(op, 0, rewriter);
    if (failed(resultType))
      return failure();
    int64_t axis = onnx::nonNegativeAxis(op.getAxis(), resultType->getRank());
    // Zero-size inputs (an empty KV cache) are legal and contribute nothing.
    // Statically empty ones are dropped: tensor.concat would place them at
    // an offset equal to the size, which its slices reject.
    SmallVector<Value> inputs;
    for (Value input : op.getInputs()) {
      auto type = dyn_cast<RankedTensorType>(input.getType());
      if (!type || type.getDimSize(axis) != 0)
        inputs.push_back(input);
    }
    if (inputs.empty())
      inputs.push_back(op.getInputs().front());
    auto concat = tensor::ConcatOp::create(rewriter, op.getLoc(), axis, inputs);
    replaceWithCast(rewriter, op, concat.getResult());
    return success();
  }
};

struct SplitLowering : OpRewritePattern<onnx::SplitOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(onnx::SplitOp op, PatternRewriter &rewriter) const override {
    auto inputType = dyn_cast<RankedTensorType>(op.getInput().getType());
    if (!inputType)
      return rewriter.notifyMatchFailure(op, "unknown rank");
    Location loc = op.getLoc();
    int64_t rank = inputType.getRank(), count = op.getNumResults();
    int64_t axis = onnx::nonNegativeAxis(op.getAxis(), rank);
    SmallVector<OpFoldResult> sizes = sizesOf(rewriter, loc, op.getInput());
    Value dim = toIndexValue(rewriter, loc, sizes[axis]);
    Value offset = indexConstant(rewriter, loc, 0);
    Value chunk; // equal parts: ceil(dim / count), the last one smaller
    if (!op.getSplit())
      chunk = arith::CeilDivSIOp::create(rewriter, loc, dim, indexConstant(rewriter, loc, count));
    SmallVector<Value> results;
    for (int64_t i = 0; i < count; ++i) {
      Value size = op.getSplit() ? extractIndex(rewriter, loc, op.getSplit(), i)
                                 : arith::MinSIOp::create(
                                       rewriter, loc, chunk,
                                       arith::SubIOp::create(rewriter, loc, dim, offset))
                                       .getResult();
      SmallVector<OpFoldResult> offsets(rank, rewriter.getIndexAttr(0)), partSizes(sizes);
      SmallVector<OpFoldResult> strides(rank, rewriter.getIndexAttr(1));
      offsets[axis] = offset;
      partSizes[axis] = size;
      Value part = tensor::ExtractSliceOp::create(rewriter, loc, op.getInput(), offsets, partSizes,
                                                  strides);
      Type type = op.getResult(i).getType();
      if (part.getType() != type)
        part = tensor::CastOp::create(rewriter, loc, type, part);
      results.push_back(part);
      offset = arith::AddIOp::create(rewriter, loc, offset, size);
    }
    rewriter.replaceOp(op, results);
    return success();
  }
};

/// Slice with numpy clamping computed at run time; steps must be constant
/// and positive.
struct SliceLowering : OpRewritePattern<onnx::SliceOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(onnx::SliceOp op, PatternRewriter &rewriter) const override {
    auto inputType = dyn_cast<RankedTensorType>(op.getData().getType());
    auto startsType = dyn_cast<RankedTensorType>(op.getStarts().getType());
    if (!inputType || !startsType || startsType.isDynamicDim(0))
      return rewriter.notifyMatchFailure(op, "unknown rank or number of sliced axes");
    int64_t rank = inputType.getRank(), count = startsType.getDimSize(0);
    SmallVector<int64_t> axes, steps(count, 1);
    if (op.getAxes()) {
      auto values = onnx::getConstantIntValues(op.getAxes());
      if (!values)
        return runtimeSlice(op, rewriter);
      axes = *values;
    } else {
      axes = llvm::to_vector(llvm::seq<int64_t>(0, count));
    }
    if (op.getSteps()) {
      auto values = onnx::getConstantIntValues(op.getSteps());
      if (!values)
        return runtimeSlice(op, rewriter);
      if (llvm::is_contained(*values, 0))
        return rewriter.notifyMatchFailure(op, "steps must be non-zero");
      steps = *values;
    }
    Location loc = op.getLoc();
    SmallVector<OpFoldResult> sizes = sizesOf(rewriter, loc, op.getData());
    SmallVector<OpFoldResult> offsets(rank, rewriter.getIndexAttr(0));
    SmallVector<int64_t> strides(rank, 1);
    Value zero = indexConstant(rewriter, loc, 0), one = indexConstant(rewriter, loc, 1);
    for (int64_t i = 0; i < count; ++i) {
      int64_t axis = axes[i] < 0 ? axes[i] + rank : axes[i];
      Value dim = toIndexValue(rewriter, loc, sizes[axis]);
      Value start = wrapNegative(rewriter, loc, extractIndex(rewriter, loc, op.getStarts(), i), dim);
      Value end = wrapNegative(rewriter, loc, extractIndex(rewriter, loc, op.getEnds(), i), dim);
      Value length;
      if (steps[i] > 0) {
        // Ends beyond the index range (INT64_MAX) clamp to the dimension.
        start = clamp(rewriter, loc, start, zero, dim);
        end = clamp(rewriter, loc, end, zero, dim);
        length = arith::SubIOp::create(rewriter, loc, end, start);
      } else {
        // Backwards: start within [0, dim - 1], end within [-1, dim - 1].
        Value last = arith::SubIOp::create(rewriter, loc, dim, one);
        Value minusOne = indexConstant(rewriter, loc, -1);
        start = clamp(rewriter, loc, start, zero, last);
        end = clamp(rewriter, loc, end, minusOne, last);
        length = arith::SubIOp::create(rewriter, loc, start, end);
      }
      length = arith::MaxSIOp::create(rewriter, loc, length, zero);
      Value step = indexConstant(rewriter, loc, std::abs(steps[i]));
      offsets[axis] = start;
      sizes[axis] = arith::CeilDivSIOp::create(rewriter, loc, length, step).getResult();
      strides[axis] = steps[i];
    }
    if (llvm::all_of(strides, [](int64_t s) { return s > 0; })) {
      SmallVector<OpFoldResult> strideAttrs = llvm::map_to_vector(
          strides, [&](int64_t s) -> OpFoldResult { return rewriter.getIndexAttr(s); });
      Value slice =
          tensor::ExtractSliceOp::create(rewriter, loc, op.getData(), offsets, sizes, strideAttrs);
      replaceWithCast(rewriter, op, slice);
      return success();
    }
    // Some step is negative: a generic reading data[offset + i * step].
    auto resultType = rankedResult(op, 0, rewriter);
    if (failed(resultType))
      return failure();
    Value init = emptyTensor(rewriter, loc, *resultType, sizes);
    Value data = op.getData();
    SmallVector<Value> offsetValues = llvm::map_to_vector(
        offsets, [&](OpFoldResult o) { return toIndexValue(rewriter, loc, o); });
    int64_t loops = resultType->getRank();
    auto generic = linalg::GenericOp::create(
        rewriter, loc, TypeRange{*resultType}, ValueRange{}, ValueRange{init},
        SmallVector<AffineMap>{rewriter.getMultiDimIdentityMap(loops)},
        SmallVector<utils::IteratorType>(loops, utils::IteratorType::parallel),
        [&](OpBuilder &b, Location l, ValueRange) {
          SmallVector<Value> coords;
          for (int64_t d = 0; d < rank; ++d) {
            Value index = linalg::IndexOp::create(b, l, d);
            if (strides[d] != 1)
              index = arith::MulIOp::create(b, l, index, indexConstant(b, l, strides[d]));
            coords.push_back(arith::AddIOp::create(b, l, offsetValues[d], index));
          }
          linalg::YieldOp::create(b, l, tensor::ExtractOp::create(b, l, data, coords).getResult());
        });
    replaceWithCast(rewriter, op, generic.getResult(0));
    return success();
  }

private:
  /// Axes or steps given as graph inputs: each dimension's offset, size and
  /// step computed when the model runs (an axis selects among the
  /// dimensions, a step's sign among the clamping rules), then a generic
  /// reading data[offset + i * step] in each dimension.
  LogicalResult runtimeSlice(onnx::SliceOp op, PatternRewriter &rewriter) const {
    auto resultType = rankedResult(op, 0, rewriter);
    if (failed(resultType))
      return failure();
    Location loc = op.getLoc();
    Value data = op.getData();
    int64_t rank = cast<RankedTensorType>(data.getType()).getRank();
    int64_t count = cast<RankedTensorType>(op.getStarts().getType()).getDimSize(0);
    Value zero = indexConstant(rewriter, loc, 0), one = indexConstant(rewriter, loc, 1);
    Value minusOne = indexConstant(rewriter, loc, -1),
          rankValue = indexConstant(rewriter, loc, rank);
    SmallVector<Value> dims =
        llvm::map_to_vector(sizesOf(rewriter, loc, data),
                            [&](OpFoldResult s) { return toIndexValue(rewriter, loc, s); });
    SmallVector<Value> offsets(rank, zero), sizes(dims), strides(rank, one);
    auto select = [&](Value c, Value x, Value y) {
      return arith::SelectOp::create(rewriter, loc, c, x, y).getResult();
    };
    auto cmp = [&](arith::CmpIPredicate p, Value x, Value y) {
      return arith::CmpIOp::create(rewriter, loc, p, x, y).getResult();
    };
    for (int64_t i = 0; i < count; ++i) {
      Value axis = op.getAxes() ? extractIndex(rewriter, loc, op.getAxes(), i)
                                : indexConstant(rewriter, loc, i);
      axis = wrapNegative(rewriter, loc, axis, rankValue);
      Value step = op.getSteps() ? extractIndex(rewriter, loc, op.getSteps(), i) : one;
      Value dim = zero;
      for (int64_t d = 0; d < rank; ++d)
        dim = select(cmp(arith::CmpIPredicate::eq, axis, indexConstant(rewriter, loc, d)), dims[d],
                     dim);
      Value start =
          wrapNegative(rewriter, loc, extractIndex(rewriter, loc, op.getStarts(), i), dim);
      Value end = wrapNegative(rewriter, loc, extractIndex(rewriter, loc, op.getEnds(), i), dim);
      // Forwards: both within [0, dim]; backwards: start within
      // [0, dim - 1], end within [-1, dim - 1].
      Value last = arith::SubIOp::create(rewriter, loc, dim, one);
      Value forward = cmp(arith::CmpIPredicate::sgt, step, zero);
      Value startF = clamp(rewriter, loc, start, zero, dim),
            endF = clamp(rewriter, loc, end, zero, dim);
      Value startB = clamp(rewriter, loc, start, zero, last);
      Value endB = clamp(rewriter, loc, end, minusOne, last);
      Value length = select(forward, arith::SubIOp::create(rewriter, loc, endF, startF),
                            arith::SubIOp::create(rewriter, loc, startB, endB));
      length = arith::MaxSIOp::create(rewriter, loc, length, zero);
      // A step of 0 (invalid ONNX) reads as 1 rather than dividing by zero.
      Value magnitude = arith::MaxSIOp::create(
          rewriter, loc, select(forward, step, arith::SubIOp::create(rewriter, loc, zero, step)),
          one);
      Value size = arith::CeilDivSIOp::create(rewriter, loc, length, magnitude);
      Value offset = select(forward, startF, startB);
      Value stride =
          select(forward, magnitude, arith::SubIOp::create(rewriter, loc, zero, magnitude));
      for (int64_t d = 0; d < rank; ++d) {
        Value isAxis = cmp(arith::CmpIPredicate::eq, axis, indexConstant(rewriter, loc, d));
        offsets[d] = select(isAxis, offset, offsets[d]);
        sizes[d] = select(isAxis, size, sizes[d]);
        strides[d] = select(isAxis, stride, strides[d]);
      }
    }
    SmallVector<OpFoldResult> resultSizes(sizes.begin(), sizes.end());
    Value init = emptyTensor(rewriter, loc, *resultType, resultSizes);
    auto generic = linalg::GenericOp::create(
        rewriter, loc, TypeRange{*resultType}, ValueRange{}, ValueRange{init},
        SmallVector<AffineMap>{rewriter.getMultiDimIdentityMap(rank)},
        SmallVector<utils::IteratorType>(rank, utils::IteratorType::parallel),
        [&](OpBuilder &b, Location l, ValueRange) {
          SmallVector<Value> coords;
          for (int64_t d = 0; d < rank; ++d) {
            Value index = arith::MulIOp::create(b, l, linalg::IndexOp::create(b, l, d), strides[d]);
            coords.push_back(arith::AddIOp::create(b, l, offsets[d], index));
          }
          linalg::YieldOp::create(b, l, tensor::ExtractOp::create(b, l, data, coords).getResult());
        });
    replaceWithCast(rewriter, op, generic.getResult(0));
    return success();
  }
};

/// Gather: a linalg.generic over the result reading data with tensor.extract
/// at the gathered position.
struct GatherLowering : OpRewritePattern<onnx::GatherOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(onnx::GatherOp op, PatternRewriter &rewriter) const override {
    auto resultType = rankedResult(op, 0, rewriter);
    auto dataType = dyn_cast<RankedTensorType>(op.getData().getType());
    auto indicesType = dyn_cast<RankedTensorType>(op.getIndices().getType());
    if (failed(resultType) || !dataType || !indicesType)
      return rewriter.notifyMatchFailure(op, "unknown rank");
    Location loc = op.getLoc();
    int64_t r = dataType.getRank(), q = indicesType.getRank();
    int64_t axis = onnx::nonNegativeAxis(op.getAxis(), r);
    SmallVector<OpFoldResult> dataSizes = sizesOf(rewriter, loc, op.getData());
    SmallVector<OpFoldResult> indexSizes = sizesOf(rewriter, loc, op.getIndices());
    SmallVector<OpFoldResult> sizes(dataSizes.begin(), dataSizes.begin() + axis);
    sizes.append(indexSizes);
    sizes.append(dataSizes.begin() + axis + 1, dataSizes.end());
    Value init = emptyTensor(rewriter, loc, *resultType, sizes);
    int64_t loops = resultType->getRank();
    SmallVector<AffineExpr> indexExprs;
    for (int64_t i = 0; i < q; ++i)
      indexExprs.push_back(rewriter.getAffineDimExpr(axis + i));
    SmallVector<AffineMap> maps{AffineMap::get(loops, 0, indexExprs, rewriter.getContext()),
                                rewriter.getMultiDimIdentityMap(loops)};
    SmallVector<utils::IteratorType> iterators(loops, utils::IteratorType::parallel);
    Value data = op.getData();
    Value axisSize = toIndexValue(rewriter, loc, dataSizes[axis]);
    auto generic = linalg::GenericOp::create(
        rewriter, loc, TypeRange{*resultType}, ValueRange{op.getIndices()}, ValueRange{init}, maps,
        iterators, [&](OpBuilder &b, Location l, ValueRange args) {
          Value index = arith::IndexCastOp::create(b, l, b.getIndexType(), args[0]);
          index = wrapNegative(b, l, index, axisSize);
          SmallVector<Value> coords;
          for (int64_t j = 0; j < r; ++j) {
            if (j < axis)
              coords.push_back(linalg::IndexOp::create(b, l, j));
            else if (j == axis)
              coords.push_back(index);
            else
              coords.push_back(linalg::IndexOp::create(b, l, j + q - 1));
          }
          linalg::YieldOp::create(b, l, tensor::ExtractOp::create(b, l, data, coords).getResult());
        });
    rewriter.replaceOp(op, generic.getResult(0));
    return success();
  }
};

/// Sizes given by a 1-D shape operand (constant or not), aligned to the
/// result's trailing dimensions; static result sizes win.
SmallVector<OpFoldResult> sizesFromShapeOperand(OpBuilder &b, Location loc, Value shape,
                                                RankedTensorType resultType) {
  int64_t rank = resultType.getRank();
  int64_t length = cast<RankedTensorType>(shape.getType()).getDimSize(0);
  SmallVector<OpFoldResult> sizes;
  for (int64_t i = 0; i < rank; ++i) {
    int64_t j = i - (rank - length);
    if (!resultType.isDynamicDim(i) || j < 0)
      sizes.push_back(b.getIndexAttr(resultType.isDynamicDim(i) ? 1 : resultType.getDimSize(i)));
    else
      sizes.push_back(extractIndex(b, loc, shape, j));
  }
  return sizes;
}

struct ExpandLowering : OpRewritePattern<onnx::ExpandOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(onnx::ExpandOp op, PatternRewriter &rewriter) const override {
    auto resultType = rankedResult(op, 0, rewriter);
    auto inputType = dyn_cast<RankedTensorType>(op.getInput().getType());
    auto shapeType = dyn_cast<RankedTensorType>(op.getShape().getType());
    if (failed(resultType) || !inputType || !shapeType || shapeType.isDynamicDim(0))
      return rewriter.notifyMatchFailure(op, "unknown rank");
    Location loc = op.getLoc();
    int64_t rank = resultType->getRank();
    SmallVector<OpFoldResult> fromShape = sizesFromShapeOperand(rewriter, loc, op.getShape(), *resultType);
    SmallVector<OpFoldResult> inputSizes = sizesOf(rewriter, loc, op.getInput());
    SmallVector<OpFoldResult> sizes;
    for (int64_t i = 0; i < rank; ++i) {
      int64_t j = i - (rank - inputType.getRank());
      if (!resultType->isDynamicDim(i) || j < 0) {
        sizes.push_back(fromShape[i]);
        continue;
      }
      // One of the two is 1 (or they agree): the broadcast size is the max.
      sizes.push_back(arith::MaxSIOp::create(rewriter, loc, toIndexValue(rewriter, loc, fromShape[i]),
                                             toIndexValue(rewriter, loc, inputSizes[j]))
                          .getResult());
    }
    Value result = elementwise(
        rewriter, loc, *resultType, ValueRange{op.getInput()},
        [](OpBuilder &, Location, ValueRange args) { return args[0]; }, sizes);
    rewriter.replaceOp(op, result);
    return success();
  }
};

/// Tile: the input broadcast to [r0, d0, r1, d1, ...] (repeat i before
/// dimension i), then each (ri, di) pair collapsed into one dimension, so
/// that copy ri of the input's dimension i comes after copy ri - 1. The
/// repeats are a constant, or given at run time with static shapes (then
/// each is the result's size over the input's).
struct TileLowering : OpRewritePattern<onnx::TileOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(onnx::TileOp op, PatternRewriter &rewriter) const override {
    auto resultType = rankedResult(op, 0, rewriter);
    auto inputType = dyn_cast<RankedTensorType>(op.getInput().getType());
    if (failed(resultType) || !inputType || inputType.getRank() != resultType->getRank())
      return rewriter.notifyMatchFailure(op, "unknown rank");
    int64_t rank = inputType.getRank();
    SmallVector<int64_t> repeats;
    if (auto values = onnx::getConstantIntValues(op.getRepeats())) {
      repeats.assign(values->begin(), values->end());
    } else if (inputType.hasStaticShape() && resultType->hasStaticShape()) {
      for (int64_t i = 0; i < rank; ++i) {
        int64_t in = inputType.getDimSize(i), out = resultType->getDimSize(i);
        if (in == 0 || out % in != 0)
          return rewriter.notifyMatchFailure(op, "result size not a multiple of the input's");
        repeats.push_back(out / in);
      }
    } else {
      return rewriter.notifyMatchFailure(op, "repeats are not constant and shapes not static");
    }
    if (int64_t(repeats.size()) != rank || llvm::any_of(repeats, [](int64_t r) { return r < 0; }))
      return rewriter.notifyMatchFailure(op, "repeats must be one non-negative count per dimension");
    Location loc = op.getLoc();
    MLIRContext *context = rewriter.getContext();
    SmallVector<OpFoldResult> inputSizes = sizesOf(rewriter, loc, op.getInput());
    SmallVector<int64_t> wideShape;
    SmallVector<OpFoldResult> wideSizes;
    SmallVector<AffineExpr> inputExprs;
    SmallVector<ReassociationIndices> groups;
    for (int64_t i = 0; i < rank; ++i) {
      wideShape.append({repeats[i], inputType.getDimSize(i)});
      wideSizes.append({rewriter.getIndexAttr(repeats[i]), inputSizes[i]});
      inputExprs.push_back(getAffineDimExpr(2 * i + 1, context));
      groups.push_back({2 * i, 2 * i + 1});
    }
    auto wideType = RankedTensorType::get(wideShape, resultType->getElementType());
    Value init = emptyTensor(rewriter, loc, wideType, wideSizes);
    SmallVector<AffineMap> maps{AffineMap::get(2 * rank, 0, inputExprs, context),
                                AffineMap::getMultiDimIdentityMap(2 * rank, context)};
    Value wide = linalg::GenericOp::create(
                     rewriter, loc, TypeRange{wideType}, ValueRange{op.getInput()},
                     ValueRange{init}, maps,
                     SmallVector<utils::IteratorType>(2 * rank, utils::IteratorType::parallel),
                     [](OpBuilder &b, Location l, ValueRange args) {
                       linalg::YieldOp::create(b, l, args[0]);
                     })
                     .getResult(0);
    Value result = tensor::CollapseShapeOp::create(rewriter, loc, wide, groups);
    if (result.getType() != *resultType)
      result = tensor::CastOp::create(rewriter, loc, *resultType, result);
    rewriter.replaceOp(op, result);
    return success();
  }
};

struct ConstantOfShapeLowering : OpRewritePattern<onnx::ConstantOfShapeOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(onnx::ConstantOfShapeOp op, PatternRewriter &rewriter) const override {
    auto resultType = rankedResult(op, 0, rewriter);
    if (failed(resultType))
      return failure();
    Location loc = op.getLoc();
    Type element = resultType->getElementType();
    TypedAttr scalar = rewriter.getZeroAttr(element);
    if (auto value = dyn_cast_or_null<DenseElementsAttr>(op.getValueAttr()))
      scalar = cast<TypedAttr>(value.getValues<Attribute>()[0]);
    else if (op.getValueAttr())
      return rewriter.notifyMatchFailure(op, "value is not a dense constant");
    Value fill = arith::ConstantOp::create(rewriter, loc, scalar);
    SmallVector<OpFoldResult> sizes = sizesFromShapeOperand(rewriter, loc, op.getInput(), *resultType);
    rewriter.replaceOp(op, filledTensor(rewriter, loc, *resultType, sizes, fill));
    return success();
  }
};

struct RangeLowering : OpRewritePattern<onnx::RangeOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(onnx::RangeOp op, PatternRewriter &rewriter) const override {
    auto resultType = rankedResult(op, 0, rewriter);
    if (failed(resultType))
      return failure();
    Location loc = op.getLoc();
    Type element = resultType->getElementType();
    auto scalar = [&](Value v) -> Value {
      auto type = cast<RankedTensorType>(v.getType());
      SmallVector<Value> zeros(type.getRank(), indexConstant(rewriter, loc, 0));
      return tensor::ExtractOp::create(rewriter, loc, v, zeros);
    };
    Value start = scalar(op.getStart()), limit = scalar(op.getLimit()), delta = scalar(op.getDelta());
    OpFoldResult length = rewriter.getIndexAttr(resultType->isDynamicDim(0) ? 0 : resultType->getDimSize(0));
    if (resultType->isDynamicDim(0)) {
      Value count;
      if (isFloat(element)) {
        Value quotient = arith::DivFOp::create(rewriter, loc, arith::SubFOp::create(rewriter, loc, limit, start), delta);
        count = arith::FPToSIOp::create(rewriter, loc, rewriter.getI64Type(),
                                        math::CeilOp::create(rewriter, loc, quotient));
      } else {
        Value difference = arith::SubIOp::create(rewriter, loc, limit, start);
        count = convertScalar(rewriter, loc, arith::CeilDivSIOp::create(rewriter, loc, difference, delta),
                              rewriter.getI64Type());
      }
      Value asIndex = arith::IndexCastOp::create(rewriter, loc, rewriter.getIndexType(), count);
      length = arith::MaxSIOp::create(rewriter, loc, asIndex, indexConstant(rewriter, loc, 0)).getResult();
    }
    Value init = emptyTensor(rewriter, loc, *resultType, {length});
    auto generic = linalg::GenericOp::create(
        rewriter, loc, TypeRange{*resultType}, ValueRange{}, ValueRange{init},
        SmallVector<AffineMap>{rewriter.getMultiDimIdentityMap(1)},
        SmallVector<utils::IteratorType>{utils::IteratorType::parallel},
        [&](OpBuilder &b, Location l, ValueRange) {
          Value i = arith::IndexCastOp::create(b, l, b.getI64Type(), linalg::IndexOp::create(b, l, 0));
          Value step = arith::MulIOp::create(b, l, i, convertScalar(b, l, delta, b.getI64Type()));
          Value value = isFloat(element)
                            ? arith::AddFOp::create(b, l, start,
                                                    arith::MulFOp::create(b, l, convertScalar(b, l, i, element), delta))
                                  .getResult()
                            : arith::AddIOp::create(b, l, start, convertScalar(b, l, step, element)).getResult();
          linalg::YieldOp::create(b, l, value);
        });
    rewriter.replaceOp(op, generic.getResult(0));
    return success();
  }
};

struct TriluLowering : OpRewritePattern<onnx::TriluOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(onnx::TriluOp op, PatternRewriter &rewriter) const override {
    auto resultType = rankedResult(op, 0, rewriter);
    if (failed(resultType))
      return failure();
    Location loc = op.getLoc();
    int64_t rank = resultType->getRank();
    Value k = op.getK() ? extractIndex(rewriter, loc, op.getK(), 0) : indexConstant(rewriter, loc, 0);
    bool upper = op.getUpper() != 0;
    Type element = resultType->getElementType();
    Value result = elementwise(rewriter, loc, *resultType, ValueRange{op.getInput()},
                               [&](OpBuilder &b, Location l, ValueRange args) -> Value {
                                 Value row = linalg::IndexOp::create(b, l, rank - 2);
                                 Value col = linalg::IndexOp::create(b, l, rank - 1);
                                 Value diagonal = arith::SubIOp::create(b, l, col, row);
                                 Value keep = arith::CmpIOp::create(
                                     b, l, upper ? arith::CmpIPredicate::sge : arith::CmpIPredicate::sle,
                                     diagonal, k);
                                 return arith::SelectOp::create(b, l, keep, args[0],
                                                                scalarConstant(b, l, element, 0));
                               });
    rewriter.replaceOp(op, result);
    return success();
  }
};
} // namespace

void lowbit::detail::populateTensorPatterns(RewritePatternSet &patterns) {
  patterns.add<ConstantLowering, IdentityLowering, ShapeLowering, ReshapeLowering,
               RegroupLowering<onnx::SqueezeOp>, RegroupLowering<onnx::UnsqueezeOp>,
               RegroupLowering<onnx::FlattenOp>, TransposeLowering, ConcatLowering, SplitLowering,
               SliceLowering, GatherLowering, ExpandLowering, TileLowering, ConstantOfShapeLowering,
               RangeLowering, TriluLowering>(patterns.getContext());
}
