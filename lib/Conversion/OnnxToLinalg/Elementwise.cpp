//===- Elementwise.cpp - onnx elementwise ops to linalg.generic -----------===//
//
// Every elementwise onnx op becomes one linalg.generic over the broadcast
// result; the scalar body is chosen per op and element type.
//
//===----------------------------------------------------------------------===//

#include "Common.h"

#include <cmath>

using namespace mlir;
using namespace lowbit::detail;
namespace onnx = lowbit::onnx;

namespace {
/// Element types the scalar bodies handle: floats and signless integers,
/// and unsigned integers for the ops that say so.
bool isLowerableElement(Type t, bool acceptsUnsigned) {
  return isa<Float16Type, BFloat16Type, Float32Type, Float64Type>(t) || t.isSignlessInteger() ||
         (acceptsUnsigned && t.isUnsignedInteger());
}

/// A scalar body: the op, its operands (unsigned ones as signless integers
/// of the same bits), the result element type (signless likewise), and
/// whether some operand or the result was unsigned.
template <typename OpTy>
using ScalarFn = Value (*)(OpTy, OpBuilder &, Location, ValueRange, Type, bool);

/// Unsigned integers reach arith (which takes signless ones only) through
/// unrealized casts of the same bits inside the body; they fold away when
/// LLVM, which has no signedness in its types, takes over.
template <typename OpTy>
struct ElementwiseLowering : OpRewritePattern<OpTy> {
  ElementwiseLowering(MLIRContext *context, ScalarFn<OpTy> fn, bool acceptsUnsigned = false)
      : OpRewritePattern<OpTy>(context), fn(fn), acceptsUnsigned(acceptsUnsigned) {}

  LogicalResult matchAndRewrite(OpTy op, PatternRewriter &rewriter) const override {
    auto type = rankedResult(op, 0, rewriter);
    if (failed(type))
      return failure();
    bool isUnsigned = type->getElementType().isUnsignedInteger();
    for (Value operand : op->getOperands()) {
      auto operandType = dyn_cast<RankedTensorType>(operand.getType());
      if (!operandType)
        return rewriter.notifyMatchFailure(op, "operand of unknown rank");
      if (!isLowerableElement(operandType.getElementType(), acceptsUnsigned))
        return rewriter.notifyMatchFailure(op, "unsupported element type");
      isUnsigned |= operandType.getElementType().isUnsignedInteger();
    }
    if (!isLowerableElement(type->getElementType(), acceptsUnsigned))
      return rewriter.notifyMatchFailure(op, "unsupported result element type");
    Type element = type->getElementType();
    Value result = elementwise(
        rewriter, op.getLoc(), *type, op->getOperands(),
        [&](OpBuilder &b, Location loc, ValueRange args) {
          SmallVector<Value> bits;
          for (Value arg : args)
            bits.push_back(toSignless(b, loc, arg));
          return fromSignless(b, loc, fn(op, b, loc, bits, signless(element), isUnsigned), element);
        });
    rewriter.replaceOp(op, result);
    return success();
  }
  ScalarFn<OpTy> fn;
  bool acceptsUnsigned;
};

template <typename FloatOp, typename IntOp>
Value arithmetic(OpBuilder &b, Location loc, Value x, Value y) {
  if (isFloat(x.getType()))
    return FloatOp::create(b, loc, x, y);
  return IntOp::create(b, loc, x, y);
}

Value compare(OpBuilder &b, Location loc, Value x, Value y, arith::CmpFPredicate f,
              arith::CmpIPredicate i) {
  // (Unsigned callers pass the unsigned predicate.)
  if (isFloat(x.getType()))
    return arith::CmpFOp::create(b, loc, f, x, y);
  return arith::CmpIOp::create(b, loc, i, x, y);
}

Value maximum(OpBuilder &b, Location loc, Value x, Value y, bool isUnsigned = false) {
  if (isUnsigned)
    return arith::MaxUIOp::create(b, loc, x, y);
  return arithmetic<arith::MaximumFOp, arith::MaxSIOp>(b, loc, x, y);
}
Value minimum(OpBuilder &b, Location loc, Value x, Value y, bool isUnsigned = false) {
  if (isUnsigned)
    return arith::MinUIOp::create(b, loc, x, y);
  return arithmetic<arith::MinimumFOp, arith::MinSIOp>(b, loc, x, y);
}

/// 0.5 * x * (1 + erf(x / sqrt(2))), or the tanh approximation.
Value gelu(OpBuilder &b, Location loc, Value x, bool tanhApproximation) {
  Type t = x.getType();
  Value half = scalarConstant(b, loc, t, 0.5), one = scalarConstant(b, loc, t, 1.0);
  Value inner;
  if (tanhApproximation) {
    Value cube = arith::MulFOp::create(b, loc, arith::MulFOp::create(b, loc, x, x), x);
    Value poly = arith::AddFOp::create(
        b, loc, x, arith::MulFOp::create(b, loc, cube, scalarConstant(b, loc, t, 0.044715)));
    inner = math::TanhOp::create(
        b, loc, arith::MulFOp::create(b, loc, poly, scalarConstant(b, loc, t, std::sqrt(2.0 / M_PI))));
  } else {
    inner = math::ErfOp::create(
        b, loc, arith::MulFOp::create(b, loc, x, scalarConstant(b, loc, t, M_SQRT1_2)));
  }
  Value gate = arith::MulFOp::create(b, loc, half, arith::AddFOp::create(b, loc, one, inner));
  return arith::MulFOp::create(b, loc, x, gate);
}

template <typename OpTy, typename FloatOp>
void addFloatUnary(RewritePatternSet &patterns) {
  patterns.add<ElementwiseLowering<OpTy>>(
      patterns.getContext(),
      [](OpTy, OpBuilder &b, Location loc, ValueRange a, Type, bool) -> Value {
        return FloatOp::create(b, loc, a[0]);
      });
}

//===----------------------------------------------------------------------===//
// QuantizeLinear, DequantizeLinear, DynamicQuantizeLinear
//===----------------------------------------------------------------------===//

/// 2-, 4-, 8- and 16-bit integers, and the float8/float4 types ONNX
/// quantizes to (not E8M0, a scale type).
bool isQuantizedElement(Type t) {
  if (auto integer = dyn_cast<IntegerType>(t))
    return llvm::is_contained({2u, 4u, 8u, 16u}, integer.getWidth()) &&
           (integer.isSignless() || integer.isUnsigned());
  return isNarrowElement(t) && !isa<Float8E8M0FNUType>(t);
}

/// A quantization parameter's indexing map over x's loops: a scalar (rank
/// 0, or one element), one value per index of `axis` (1-D), or per block of
/// `blockSize` along `axis` (x's rank); failure otherwise.
FailureOr<AffineMap> parameterMap(Value parameter, int64_t rank, int64_t axis, int64_t blockSize) {
  auto type = dyn_cast<RankedTensorType>(parameter.getType());
  MLIRContext *context = parameter.getContext();
  if (!type)
    return failure();
  if (type.getRank() == 0)
    return AffineMap::get(rank, 0, {}, context);
  if (blockSize > 0) {
    if (type.getRank() != rank)
      return failure();
    SmallVector<AffineExpr> exprs;
    for (int64_t d = 0; d < rank; ++d)
      exprs.push_back(d == axis ? getAffineDimExpr(d, context).floorDiv(blockSize)
                                : getAffineDimExpr(d, context));
    return AffineMap::get(rank, 0, exprs, context);
  }
  if (type.getRank() != 1)
    return failure();
  AffineExpr index =
      type.getDimSize(0) == 1 ? getAffineConstantExpr(0, context) : getAffineDimExpr(axis, context);
  return AffineMap::get(rank, 0, index, context);
}

/// saturate(round_half_even(x) + zero point) on `type`'s range, as bits.
Value quantizeScalar(OpBuilder &b, Location loc, Value scaled, Value zeroPoint, Type type) {
  Type f32 = b.getF32Type();
  unsigned width = type.getIntOrFloatBitWidth();
  double lo = type.isUnsignedInteger() ? 0.0 : -std::ldexp(1.0, width - 1);
  double hi =
      type.isUnsignedInteger() ? std::ldexp(1.0, width) - 1 : std::ldexp(1.0, width - 1) - 1;
  Value q = math::RoundEvenOp::create(b, loc, scaled);
  if (zeroPoint)
    q = arith::AddFOp::create(b, loc, q, zeroPoint);
  q = arith::MaximumFOp::create(b, loc, q, scalarConstant(b, loc, f32, lo));
  q = arith::MinimumFOp::create(b, loc, q, scalarConstant(b, loc, f32, hi));
  Value wide = arith::FPToSIOp::create(b, loc, b.getI32Type(), q);
  return arith::TruncIOp::create(b, loc, b.getIntegerType(width), wide);
}

/// One generic over x's shape reading x and its scale (and zero point)
/// through their maps; `body` gets them as signless values.
template <typename OpTy>
LogicalResult lowerQuantizeOp(OpTy op, PatternRewriter &rewriter, Value x, Value scale,
                              Value zeroPoint, RankedTensorType resultType,
                              function_ref<Value(OpBuilder &, Location, ValueRange)> body) {
  auto xType = cast<RankedTensorType>(x.getType());
  int64_t rank = xType.getRank();
  int64_t axis = op.getAxis() < 0 ? op.getAxis() + rank : op.getAxis();
  // The axis matters only for a scale with more than one value.
  auto scaleType = cast<RankedTensorType>(scale.getType());
  bool perTensor = scaleType.hasStaticShape() && scaleType.getNumElements() == 1;
  if (axis < 0 || axis >= rank) {
    if (!perTensor)
      return rewriter.notifyMatchFailure(op, "axis out of range");
    axis = 0;
  }
  SmallVector<Value> inputs{x, scale};
  if (zeroPoint)
    inputs.push_back(zeroPoint);
  SmallVector<AffineMap> maps{rewriter.getMultiDimIdentityMap(rank)};
  for (Value parameter : ArrayRef<Value>(inputs).drop_front()) {
    FailureOr<AffineMap> map = parameterMap(parameter, rank, axis, op.getBlockSize());
    if (failed(map))
      return rewriter.notifyMatchFailure(op, "scale or zero point layout not supported");
    maps.push_back(*map);
  }
  maps.push_back(rewriter.getMultiDimIdentityMap(rank));
  Location loc = op.getLoc();
  Value init = emptyTensor(rewriter, loc, resultType, sizesOf(rewriter, loc, x));
  auto generic = linalg::GenericOp::create(
      rewriter, loc, TypeRange{resultType}, inputs, ValueRange{init}, maps,
      SmallVector<utils::IteratorType>(rank, utils::IteratorType::parallel),
      [&](OpBuilder &b, Location l, ValueRange args) {
        SmallVector<Value> bits;
        for (Value arg : args.drop_back())
          bits.push_back(toSignless(b, l, arg));
        Value result = body(b, l, bits);
        linalg::YieldOp::create(b, l, fromSignless(b, l, result, resultType.getElementType()));
      });
  rewriter.replaceOp(op, generic.getResult(0));
  return success();
}

/// (x - zero point) * scale, the difference in i32 as ONNX defines it.
struct DequantizeLinearLowering : OpRewritePattern<onnx::DequantizeLinearOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(onnx::DequantizeLinearOp op,
                                PatternRewriter &rewriter) const override {
    auto resultType = rankedResult(op, 0, rewriter);
    auto xType = dyn_cast<RankedTensorType>(op.getX().getType());
    if (failed(resultType) || !xType || !isFloat(resultType->getElementType()))
      return rewriter.notifyMatchFailure(op, "unknown rank or non-float result");
    Type element = xType.getElementType();
    if (!isQuantizedElement(element) && !element.isSignlessInteger(32))
      return rewriter.notifyMatchFailure(op, "x is not a quantized type or i32");
    Type result = resultType->getElementType(), i32 = rewriter.getI32Type();
    NarrowCodec codec(rewriter, op.getLoc(), element); // float8/float4's table
    return lowerQuantizeOp(
        op, rewriter, op.getX(), op.getXScale(), op.getXZeroPoint(), *resultType,
        [&](OpBuilder &b, Location l, ValueRange a) -> Value {
          if (isFloat(element)) { // float8/float4: (x - zero point) * scale in f32
            Value value = codec.toF32(b, l, a[0]);
            if (a.size() > 2)
              value = arith::SubFOp::create(b, l, value, codec.toF32(b, l, a[2]));
            value = arith::MulFOp::create(b, l, value, convertScalar(b, l, a[1], b.getF32Type()));
            return convertScalar(b, l, value, result);
          }
          Value level = widen(b, l, a[0], element, i32);
          if (a.size() > 2)
            level = arith::SubIOp::create(b, l, level, widen(b, l, a[2], element, i32));
          Value value = arith::SIToFPOp::create(b, l, result, level);
          return arith::MulFOp::create(b, l, value, convertScalar(b, l, a[1], result));
        });
  }
};

/// saturate(round(x / scale) + zero point) to a 2- to 16-bit integer, or x /
/// scale + zero point rounded to float8/float4.
struct QuantizeLinearLowering : OpRewritePattern<onnx::QuantizeLinearOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(onnx::QuantizeLinearOp op,
                                PatternRewriter &rewriter) const override {
    auto resultType = rankedResult(op, 0, rewriter);
    auto xType = dyn_cast<RankedTensorType>(op.getX().getType());
    if (failed(resultType) || !xType || !isFloat(xType.getElementType()) ||
        !isQuantizedElement(resultType->getElementType()))
      return rewriter.notifyMatchFailure(op, "not float to a quantized type");
    Type element = resultType->getElementType(), f32 = rewriter.getF32Type();
    NarrowCodec codec(rewriter, op.getLoc(), element); // float8/float4's tables
    bool saturate = op.getSaturate() != 0;
    return lowerQuantizeOp(op, rewriter, op.getX(), op.getYScale(), op.getYZeroPoint(), *resultType,
                           [&](OpBuilder &b, Location l, ValueRange a) -> Value {
                             Value scaled =
                                 arith::DivFOp::create(b, l, convertScalar(b, l, a[0], f32),
                                                       convertScalar(b, l, a[1], f32));
                             if (isFloat(element)) {
                               if (a.size() > 2)
                                 scaled =
                                     arith::AddFOp::create(b, l, scaled, codec.toF32(b, l, a[2]));
                               return codec.fromF32(b, l, scaled, saturate);
                             }
                             Value zeroPoint =
                                 a.size() > 2 ? widen(b, l, a[2], element, f32) : Value();
                             return quantizeScalar(b, l, scaled, zeroPoint, element);
                           });
  }
};

/// ui8 with the scale and zero point of x's range (widened to include 0):
/// scale = (max - min) / 255, zero point = saturate(round(-min / scale)).
struct DynamicQuantizeLinearLowering : OpRewritePattern<onnx::DynamicQuantizeLinearOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(onnx::DynamicQuantizeLinearOp op,
                                PatternRewriter &rewriter) const override {
    auto xType = dyn_cast<RankedTensorType>(op.getX().getType());
    auto yType = rankedResult(op, 0, rewriter);
    auto zeroPointType = dyn_cast<RankedTensorType>(op.getYZeroPoint().getType());
    auto scaleType = dyn_cast<RankedTensorType>(op.getYScale().getType());
    if (!xType || failed(yType) || !zeroPointType || !scaleType ||
        !yType->getElementType().isUnsignedInteger(8) || zeroPointType.getRank() != 0 ||
        scaleType.getRank() != 0)
      return rewriter.notifyMatchFailure(op, "not f32 to ui8 with scalar scale and zero point");
    Location loc = op.getLoc();
    Type f32 = rewriter.getF32Type(), element = yType->getElementType();
    int64_t rank = xType.getRank();
    SmallVector<int64_t> all = llvm::to_vector(llvm::seq<int64_t>(0, rank));
    auto extreme = [&](bool isMax) -> Value {
      Value init = scalarConstant(rewriter, loc, f32, isMax ? -INFINITY : INFINITY);
      Value reduced =
          reduceKeepDims(rewriter, loc, op.getX(), all, init,
                         [&](OpBuilder &b, Location l, Value acc, Value v) -> Value {
                           return isMax ? arith::MaximumFOp::create(b, l, acc, v).getResult()
                                        : arith::MinimumFOp::create(b, l, acc, v).getResult();
                         });
      SmallVector<Value> zeros(rank, arith::ConstantIndexOp::create(rewriter, loc, 0));
      Value value = tensor::ExtractOp::create(rewriter, loc, reduced, zeros);
      Value zero = scalarConstant(rewriter, loc, f32, 0.0);
      return isMax ? arith::MaximumFOp::create(rewriter, loc, value, zero).getResult()
                   : arith::MinimumFOp::create(rewriter, loc, value, zero).getResult();
    };
    Value lo = extreme(false), hi = extreme(true);
    Value scale = arith::DivFOp::create(rewriter, loc, arith::SubFOp::create(rewriter, loc, hi, lo),
                                        scalarConstant(rewriter, loc, f32, 255.0));
    Value zeroPointBits = quantizeScalar(
        rewriter, loc,
        arith::DivFOp::create(rewriter, loc, arith::NegFOp::create(rewriter, loc, lo), scale),
        Value(), element);
    Value zeroPoint = arith::UIToFPOp::create(rewriter, loc, f32, zeroPointBits);
    Value y = elementwise(rewriter, loc, *yType, ValueRange{op.getX()},
                          [&](OpBuilder &b, Location l, ValueRange a) -> Value {
                            Value scaled = arith::DivFOp::create(b, l, a[0], scale);
                            return fromSignless(
                                b, l, quantizeScalar(b, l, scaled, zeroPoint, element), element);
                          });
    Value scaleTensor = tensor::FromElementsOp::create(rewriter, loc, scaleType, ValueRange{scale});
    Value zeroPointTensor = tensor::FromElementsOp::create(
        rewriter, loc, zeroPointType,
        ValueRange{fromSignless(rewriter, loc, zeroPointBits, element)});
    rewriter.replaceOp(op, {y, scaleTensor, zeroPointTensor});
    return success();
  }
};
} // namespace

void lowbit::detail::populateElementwisePatterns(RewritePatternSet &patterns) {
  MLIRContext *context = patterns.getContext();
  patterns.add<ElementwiseLowering<onnx::AddOp>>(
      context,
      [](onnx::AddOp, OpBuilder &b, Location loc, ValueRange a, Type, bool) {
        return arithmetic<arith::AddFOp, arith::AddIOp>(b, loc, a[0], a[1]);
      },
      /*acceptsUnsigned=*/true);
  patterns.add<ElementwiseLowering<onnx::SubOp>>(
      context,
      [](onnx::SubOp, OpBuilder &b, Location loc, ValueRange a, Type, bool) {
        return arithmetic<arith::SubFOp, arith::SubIOp>(b, loc, a[0], a[1]);
      },
      /*acceptsUnsigned=*/true);
  patterns.add<ElementwiseLowering<onnx::MulOp>>(
      context,
      [](onnx::MulOp, OpBuilder &b, Location loc, ValueRange a, Type, bool) {
        return arithmetic<arith::MulFOp, arith::MulIOp>(b, loc, a[0], a[1]);
      },
      /*acceptsUnsigned=*/true);
  patterns.add<ElementwiseLowering<onnx::DivOp>>(
      context,
      [](onnx::DivOp, OpBuilder &b, Location loc, ValueRange a, Type, bool isUnsigned) -> Value {
        if (isUnsigned)
          return arith::DivUIOp::create(b, loc, a[0], a[1]);
        // Integer division truncates toward zero, as ONNX Runtime's does.
        return arithmetic<arith::DivFOp, arith::DivSIOp>(b, loc, a[0], a[1]);
      },
      /*acceptsUnsigned=*/true);
  patterns.add<ElementwiseLowering<onnx::PowOp>>(
      context,
      [](onnx::PowOp, OpBuilder &b, Location loc, ValueRange a, Type t, bool isUnsigned) -> Value {
        if (!isFloat(t))
          return math::IPowIOp::create(b, loc, a[0], convertScalar(b, loc, a[1], t));
        // An unsigned exponent (the base is a float) converts as unsigned.
        Value exponent = isUnsigned && !isFloat(a[1].getType())
                             ? arith::UIToFPOp::create(b, loc, t, a[1]).getResult()
                             : convertScalar(b, loc, a[1], t);
        // x^2, the common case (RMSNorm, variance), as a multiply.
        if (auto constant = exponent.getDefiningOp<arith::ConstantOp>())
          if (auto value = dyn_cast<FloatAttr>(constant.getValue()); value && value.getValueAsDouble() == 2.0)
            return arith::MulFOp::create(b, loc, a[0], a[0]);
        return math::PowFOp::create(b, loc, a[0], exponent);
      },
      /*acceptsUnsigned=*/true);
  patterns.add<ElementwiseLowering<onnx::EqualOp>>(
      context,
      [](onnx::EqualOp, OpBuilder &b, Location loc, ValueRange a, Type, bool) {
        return compare(b, loc, a[0], a[1], arith::CmpFPredicate::OEQ, arith::CmpIPredicate::eq);
      },
      /*acceptsUnsigned=*/true);
  patterns.add<ElementwiseLowering<onnx::LessOp>>(
      context,
      [](onnx::LessOp, OpBuilder &b, Location loc, ValueRange a, Type, bool isUnsigned) {
        return compare(b, loc, a[0], a[1], arith::CmpFPredicate::OLT,
                       isUnsigned ? arith::CmpIPredicate::ult : arith::CmpIPredicate::slt);
      },
      /*acceptsUnsigned=*/true);
  patterns.add<ElementwiseLowering<onnx::GreaterOp>>(
      context,
      [](onnx::GreaterOp, OpBuilder &b, Location loc, ValueRange a, Type, bool isUnsigned) {
        return compare(b, loc, a[0], a[1], arith::CmpFPredicate::OGT,
                       isUnsigned ? arith::CmpIPredicate::ugt : arith::CmpIPredicate::sgt);
      },
      /*acceptsUnsigned=*/true);
  patterns.add<ElementwiseLowering<onnx::AndOp>>(
      context, [](onnx::AndOp, OpBuilder &b, Location loc, ValueRange a, Type, bool) -> Value {
        return arith::AndIOp::create(b, loc, a[0], a[1]);
      });
  patterns.add<ElementwiseLowering<onnx::NotOp>>(
      context, [](onnx::NotOp, OpBuilder &b, Location loc, ValueRange a, Type t, bool) -> Value {
        return arith::XOrIOp::create(b, loc, a[0], scalarConstant(b, loc, t, 1));
      });
  patterns.add<ElementwiseLowering<onnx::WhereOp>>(
      context, [](onnx::WhereOp, OpBuilder &b, Location loc, ValueRange a, Type, bool) -> Value {
        return arith::SelectOp::create(b, loc, a[0], a[1], a[2]);
      });
  patterns.add<ElementwiseLowering<onnx::MaxOp>>(
      context,
      [](onnx::MaxOp, OpBuilder &b, Location loc, ValueRange a, Type, bool isUnsigned) {
        Value result = a[0];
        for (Value v : a.drop_front())
          result = maximum(b, loc, result, v, isUnsigned);
        return result;
      },
      /*acceptsUnsigned=*/true);
  patterns.add<ElementwiseLowering<onnx::MinOp>>(
      context,
      [](onnx::MinOp, OpBuilder &b, Location loc, ValueRange a, Type, bool isUnsigned) {
        Value result = a[0];
        for (Value v : a.drop_front())
          result = minimum(b, loc, result, v, isUnsigned);
        return result;
      },
      /*acceptsUnsigned=*/true);
  patterns.add<ElementwiseLowering<onnx::ClipOp>>(
      context, [](onnx::ClipOp op, OpBuilder &b, Location loc, ValueRange a, Type, bool) {
        Value result = a[0];
        unsigned next = 1;
        if (op.getMin())
          result = maximum(b, loc, result, a[next++]);
        if (op.getMax())
          result = minimum(b, loc, result, a[next]);
        return result;
      });
  patterns.add<ElementwiseLowering<onnx::AbsOp>>(
      context, [](onnx::AbsOp, OpBuilder &b, Location loc, ValueRange a, Type t, bool) -> Value {
        if (isFloat(t))
          return math::AbsFOp::create(b, loc, a[0]);
        return math::AbsIOp::create(b, loc, a[0]);
      });
  patterns.add<ElementwiseLowering<onnx::NegOp>>(
      context, [](onnx::NegOp, OpBuilder &b, Location loc, ValueRange a, Type t, bool) -> Value {
        if (isFloat(t))
          return arith::NegFOp::create(b, loc, a[0]);
        return arith::SubIOp::create(b, loc, scalarConstant(b, loc, t, 0), a[0]);
      });
  patterns.add<ElementwiseLowering<onnx::ReciprocalOp>>(
      context,
      [](onnx::ReciprocalOp, OpBuilder &b, Location loc, ValueRange a, Type t, bool) -> Value {
        return arith::DivFOp::create(b, loc, scalarConstant(b, loc, t, 1.0), a[0]);
      });
  patterns.add<ElementwiseLowering<onnx::SigmoidOp>>(
      context,
      [](onnx::SigmoidOp, OpBuilder &b, Location loc, ValueRange a, Type t, bool) -> Value {
        Value one = scalarConstant(b, loc, t, 1.0);
        Value e = math::ExpOp::create(b, loc, arith::NegFOp::create(b, loc, a[0]));
        return arith::DivFOp::create(b, loc, one, arith::AddFOp::create(b, loc, one, e));
      });
  patterns.add<ElementwiseLowering<onnx::ReluOp>>(
      context, [](onnx::ReluOp, OpBuilder &b, Location loc, ValueRange a, Type t, bool) {
        return maximum(b, loc, a[0], scalarConstant(b, loc, t, 0));
      });
  patterns.add<ElementwiseLowering<onnx::GeluOp>>(
      context, [](onnx::GeluOp op, OpBuilder &b, Location loc, ValueRange a, Type, bool) {
        return gelu(b, loc, a[0], op.getApproximate() == "tanh");
      });
  patterns.add<ElementwiseLowering<onnx::CastOp>>(
      context, [](onnx::CastOp, OpBuilder &b, Location loc, ValueRange a, Type t, bool) {
        return convertScalar(b, loc, a[0], t);
      });
  addFloatUnary<onnx::SqrtOp, math::SqrtOp>(patterns);
  addFloatUnary<onnx::ExpOp, math::ExpOp>(patterns);
  addFloatUnary<onnx::LogOp, math::LogOp>(patterns);
  addFloatUnary<onnx::ErfOp, math::ErfOp>(patterns);
  addFloatUnary<onnx::TanhOp, math::TanhOp>(patterns);
  patterns.add<QuantizeLinearLowering, DequantizeLinearLowering, DynamicQuantizeLinearLowering>(
      context);
}
