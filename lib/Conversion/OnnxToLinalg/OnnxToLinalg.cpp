//===- OnnxToLinalg.cpp - convert-onnx-to-linalg: pass and helpers --------===//
//
// The pass and the helpers its patterns share. The patterns live beside:
// Elementwise.cpp (broadcasting elementwise ops, Cast), Tensor.cpp (shapes and
// data movement), Reductions.cpp (reductions, norms, softmax, MatMul, Gemm).
//
//===----------------------------------------------------------------------===//

#include "Common.h"

#include "lowbit/Conversion/OnnxToLinalg/OnnxToLinalg.h"
#include "lowbit/Conversion/Passes.h"

#include "mlir/Dialect/Affine/IR/AffineOps.h"
#include "mlir/Dialect/Utils/StructuredOpsUtils.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace lowbit {
#define GEN_PASS_DEF_CONVERTONNXTOLINALGPASS
#include "lowbit/Conversion/Passes.h.inc"
} // namespace lowbit

using namespace mlir;
using namespace lowbit::detail;

FailureOr<RankedTensorType> lowbit::detail::rankedResult(Operation *op, unsigned index,
                                                         PatternRewriter &rewriter) {
  auto type = dyn_cast<RankedTensorType>(op->getResult(index).getType());
  if (!type)
    return rewriter.notifyMatchFailure(op, "the result's rank is unknown");
  return type;
}

bool lowbit::detail::isFloat(Type t) { return isa<FloatType>(t); }

SmallVector<OpFoldResult> lowbit::detail::sizesOf(OpBuilder &b, Location loc, Value tensor) {
  return tensor::getMixedSizes(b, loc, tensor);
}

Value lowbit::detail::toIndexValue(OpBuilder &b, Location loc, OpFoldResult size) {
  if (auto value = dyn_cast<Value>(size))
    return value;
  return arith::ConstantIndexOp::create(b, loc, cast<IntegerAttr>(cast<Attribute>(size)).getInt());
}

Value lowbit::detail::emptyTensor(OpBuilder &b, Location loc, RankedTensorType type,
                                  ArrayRef<OpFoldResult> sizes) {
  SmallVector<Value> dynamic;
  for (auto [i, size] : llvm::enumerate(sizes))
    if (type.isDynamicDim(i))
      dynamic.push_back(toIndexValue(b, loc, size));
  return tensor::EmptyOp::create(b, loc, type.getShape(), type.getElementType(), dynamic);
}

Value lowbit::detail::filledTensor(OpBuilder &b, Location loc, RankedTensorType type,
                                   ArrayRef<OpFoldResult> sizes, Value value) {
  Value empty = emptyTensor(b, loc, type, sizes);
  return linalg::FillOp::create(b, loc, ValueRange{value}, ValueRange{empty}).getResult(0);
}

SmallVector<OpFoldResult> lowbit::detail::broadcastSizes(OpBuilder &b, Location loc,
                                                         ValueRange operands,
                                                         RankedTensorType resultType) {
  int64_t rank = resultType.getRank();
  SmallVector<OpFoldResult> sizes;
  for (int64_t i = 0; i < rank; ++i) {
    if (!resultType.isDynamicDim(i)) {
      sizes.push_back(b.getIndexAttr(resultType.getDimSize(i)));
      continue;
    }
    OpFoldResult size = b.getIndexAttr(1);
    for (Value operand : operands) {
      auto type = cast<RankedTensorType>(operand.getType());
      int64_t j = i - (rank - type.getRank());
      if (j < 0)
        continue;
      if (type.isDynamicDim(j)) {
        size = tensor::DimOp::create(b, loc, operand, j).getResult();
        break;
      }
      if (type.getDimSize(j) != 1)
        size = b.getIndexAttr(type.getDimSize(j));
    }
    sizes.push_back(size);
  }
  return sizes;
}

AffineMap lowbit::detail::broadcastMap(MLIRContext *context, ArrayRef<int64_t> shape,
                                       ArrayRef<int64_t> resultShape) {
  int64_t rank = resultShape.size(), offset = rank - shape.size();
  SmallVector<AffineExpr> exprs;
  for (auto [j, size] : llvm::enumerate(shape)) {
    int64_t loop = offset + j;
    if (size == 1 && resultShape[loop] != 1)
      exprs.push_back(getAffineConstantExpr(0, context));
    else
      exprs.push_back(getAffineDimExpr(loop, context));
  }
  return AffineMap::get(rank, 0, exprs, context);
}

Value lowbit::detail::elementwise(OpBuilder &b, Location loc, RankedTensorType resultType,
                                  ValueRange operands,
                                  function_ref<Value(OpBuilder &, Location, ValueRange)> body,
                                  ArrayRef<OpFoldResult> sizes) {
  MLIRContext *context = b.getContext();
  Value init = emptyTensor(b, loc, resultType,
                           sizes.empty() ? broadcastSizes(b, loc, operands, resultType)
                                         : SmallVector<OpFoldResult>(sizes));
  SmallVector<AffineMap> maps;
  for (Value operand : operands)
    maps.push_back(broadcastMap(context, cast<RankedTensorType>(operand.getType()).getShape(),
                                resultType.getShape()));
  maps.push_back(b.getMultiDimIdentityMap(resultType.getRank()));
  SmallVector<utils::IteratorType> iterators(resultType.getRank(), utils::IteratorType::parallel);
  auto generic = linalg::GenericOp::create(
      b, loc, TypeRange{resultType}, operands, ValueRange{init}, maps, iterators,
      [&](OpBuilder &nested, Location nestedLoc, ValueRange args) {
        Value result = body(nested, nestedLoc, args.drop_back());
        linalg::YieldOp::create(nested, nestedLoc, result);
      });
  return generic.getResult(0);
}

Type lowbit::detail::signless(Type t) {
  if (auto integer = dyn_cast<IntegerType>(t); integer && !integer.isSignless())
    return IntegerType::get(t.getContext(), integer.getWidth());
  return t;
}

Value lowbit::detail::wrapNegative(OpBuilder &b, Location loc, Value v, Value size) {
  Value zero = arith::ConstantIndexOp::create(b, loc, 0);
  Value negative = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::slt, v, zero);
  return arith::SelectOp::create(b, loc, negative, arith::AddIOp::create(b, loc, v, size), v);
}

Value lowbit::detail::toSignless(OpBuilder &b, Location loc, Value v) {
  return fromSignless(b, loc, v, signless(v.getType()));
}

Value lowbit::detail::fromSignless(OpBuilder &b, Location loc, Value v, Type to) {
  return v.getType() == to ? v : UnrealizedConversionCastOp::create(b, loc, to, v).getResult(0);
}

Value lowbit::detail::widen(OpBuilder &b, Location loc, Value v, Type type, Type to) {
  bool isUnsigned = type.isUnsignedInteger();
  if (isFloat(to))
    return isUnsigned ? arith::UIToFPOp::create(b, loc, to, v).getResult()
                      : arith::SIToFPOp::create(b, loc, to, v).getResult();
  if (v.getType() == to)
    return v;
  return isUnsigned ? arith::ExtUIOp::create(b, loc, to, v).getResult()
                    : arith::ExtSIOp::create(b, loc, to, v).getResult();
}

Value lowbit::detail::scalarConstant(OpBuilder &b, Location loc, Type type, double value) {
  if (auto floatType = dyn_cast<FloatType>(type))
    return arith::ConstantOp::create(b, loc, b.getFloatAttr(floatType, value));
  return arith::ConstantOp::create(b, loc, b.getIntegerAttr(type, int64_t(value)));
}

Value lowbit::detail::extractIndex(OpBuilder &b, Location loc, Value tensor, int64_t i) {
  Value position = arith::ConstantIndexOp::create(b, loc, i);
  auto type = cast<RankedTensorType>(tensor.getType());
  Value element = type.getRank() == 0
                      ? tensor::ExtractOp::create(b, loc, tensor, ValueRange{}).getResult()
                      : tensor::ExtractOp::create(b, loc, tensor, ValueRange{position}).getResult();
  return arith::IndexCastOp::create(b, loc, b.getIndexType(), element);
}

Value lowbit::detail::convertScalar(OpBuilder &b, Location loc, Value value, Type to) {
  Type from = value.getType();
  if (from == to)
    return value;
  if (isFloat(from) && isFloat(to)) {
    if (cast<FloatType>(from).getWidth() < cast<FloatType>(to).getWidth())
      return arith::ExtFOp::create(b, loc, to, value);
    return arith::TruncFOp::create(b, loc, to, value);
  }
  if (to.isInteger(1)) {
    Value zero = scalarConstant(b, loc, from, 0);
    if (isFloat(from))
      return arith::CmpFOp::create(b, loc, arith::CmpFPredicate::UNE, value, zero);
    return arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ne, value, zero);
  }
  if (isFloat(to)) // from an integer; i1 counts as unsigned
    return from.isInteger(1) ? arith::UIToFPOp::create(b, loc, to, value).getResult()
                             : arith::SIToFPOp::create(b, loc, to, value).getResult();
  if (isFloat(from))
    return arith::FPToSIOp::create(b, loc, to, value);
  unsigned fromWidth = from.getIntOrFloatBitWidth(), toWidth = to.getIntOrFloatBitWidth();
  if (fromWidth > toWidth)
    return arith::TruncIOp::create(b, loc, to, value);
  return from.isInteger(1) ? arith::ExtUIOp::create(b, loc, to, value).getResult()
                           : arith::ExtSIOp::create(b, loc, to, value).getResult();
}

Value lowbit::detail::reduceKeepDims(
    OpBuilder &b, Location loc, Value input, ArrayRef<int64_t> axes, Value init,
    function_ref<Value(OpBuilder &, Location, Value, Value)> combine) {
  auto type = cast<RankedTensorType>(input.getType());
  int64_t rank = type.getRank();
  SmallVector<int64_t> shape(type.getShape());
  SmallVector<OpFoldResult> sizes = sizesOf(b, loc, input);
  SmallVector<utils::IteratorType> iterators(rank, utils::IteratorType::parallel);
  SmallVector<AffineExpr> outExprs;
  for (int64_t i = 0; i < rank; ++i) {
    bool reduced = llvm::is_contained(axes, i);
    if (reduced) {
      shape[i] = 1;
      sizes[i] = b.getIndexAttr(1);
      iterators[i] = utils::IteratorType::reduction;
    }
    outExprs.push_back(reduced ? b.getAffineConstantExpr(0) : b.getAffineDimExpr(i));
  }
  auto resultType = RankedTensorType::get(shape, type.getElementType());
  Value acc = filledTensor(b, loc, resultType, sizes, init);
  SmallVector<AffineMap> maps{b.getMultiDimIdentityMap(rank),
                              AffineMap::get(rank, 0, outExprs, b.getContext())};
  auto generic = linalg::GenericOp::create(
      b, loc, TypeRange{resultType}, ValueRange{input}, ValueRange{acc}, maps, iterators,
      [&](OpBuilder &nested, Location nestedLoc, ValueRange args) {
        linalg::YieldOp::create(nested, nestedLoc, combine(nested, nestedLoc, args[1], args[0]));
      });
  return generic.getResult(0);
}

Value lowbit::detail::countAlong(OpBuilder &b, Location loc, Value input, ArrayRef<int64_t> axes,
                                 Type type) {
  Value count = arith::ConstantIndexOp::create(b, loc, 1);
  for (int64_t axis : axes)
    count = arith::MulIOp::create(b, loc, count, tensor::DimOp::create(b, loc, input, axis));
  Value asInt = arith::IndexCastOp::create(b, loc, b.getI64Type(), count);
  return convertScalar(b, loc, asInt, type);
}

Value lowbit::detail::reshapeTo(OpBuilder &b, Location loc, Value source,
                                RankedTensorType resultType, ArrayRef<OpFoldResult> sizes) {
  if (source.getType() == resultType)
    return source;
  SmallVector<Value> values;
  for (OpFoldResult size : sizes)
    values.push_back(toIndexValue(b, loc, size));
  Value shape = tensor::FromElementsOp::create(
      b, loc, RankedTensorType::get({int64_t(values.size())}, b.getIndexType()), values);
  return tensor::ReshapeOp::create(b, loc, resultType, source, shape);
}

void lowbit::populateOnnxToLinalgPatterns(RewritePatternSet &patterns) {
  populateElementwisePatterns(patterns);
  populateTensorPatterns(patterns);
  populateReductionPatterns(patterns);
  populateNarrowTypePatterns(patterns);
}

bool lowbit::detail::reportOpsLeft(Operation *root, Dialect *dialect) {
  bool any = false;
  root->walk([&](Operation *op) {
    if (op->getDialect() != dialect)
      return;
    op->emitError() << "cannot lower " << op->getName()
                    << " to linalg: this form is not supported yet (see "
                       "docs/Passes/ConversionPasses.md)";
    any = true;
  });
  return any;
}

namespace {
struct ConvertOnnxToLinalgPass
    : lowbit::impl::ConvertOnnxToLinalgPassBase<ConvertOnnxToLinalgPass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    lowbit::populateOnnxToLinalgPatterns(patterns);
    // No type changes are involved (tensors stay tensors), so the greedy
    // driver suffices; whatever it could not rewrite is reported below.
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      return signalPassFailure();
    if (reportOpsLeft(getOperation(),
                      getContext().getLoadedDialect<lowbit::onnx::OnnxDialect>()))
      signalPassFailure();
  }
};
} // namespace
