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

/// The signless integer of an unsigned one's width; other types as they are.
Type signless(Type t) {
  if (auto integer = dyn_cast<IntegerType>(t); integer && !integer.isSignless())
    return IntegerType::get(t.getContext(), integer.getWidth());
  return t;
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
    auto cast = [](OpBuilder &b, Location loc, Value v, Type to) -> Value {
      if (v.getType() == to)
        return v;
      return UnrealizedConversionCastOp::create(b, loc, to, v).getResult(0);
    };
    Value result = elementwise(
        rewriter, op.getLoc(), *type, op->getOperands(),
        [&](OpBuilder &b, Location loc, ValueRange args) {
          SmallVector<Value> bits;
          for (Value arg : args)
            bits.push_back(cast(b, loc, arg, signless(arg.getType())));
          return cast(b, loc, fn(op, b, loc, bits, signless(element), isUnsigned), element);
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
}
