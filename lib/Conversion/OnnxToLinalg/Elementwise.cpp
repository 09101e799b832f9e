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
/// Element types the scalar bodies handle: floats and signless integers.
bool isLowerableElement(Type t) {
  return isa<Float16Type, BFloat16Type, Float32Type, Float64Type>(t) || t.isSignlessInteger();
}

template <typename OpTy>
using ScalarFn = Value (*)(OpTy, OpBuilder &, Location, ValueRange, Type);

template <typename OpTy>
struct ElementwiseLowering : OpRewritePattern<OpTy> {
  ElementwiseLowering(MLIRContext *context, ScalarFn<OpTy> fn)
      : OpRewritePattern<OpTy>(context), fn(fn) {}

  LogicalResult matchAndRewrite(OpTy op, PatternRewriter &rewriter) const override {
    auto type = rankedResult(op, 0, rewriter);
    if (failed(type))
      return failure();
    for (Value operand : op->getOperands()) {
      auto operandType = dyn_cast<RankedTensorType>(operand.getType());
      if (!operandType)
        return rewriter.notifyMatchFailure(op, "operand of unknown rank");
      if (!isLowerableElement(operandType.getElementType()))
        return rewriter.notifyMatchFailure(op, "unsupported element type");
    }
    if (!isLowerableElement(type->getElementType()))
      return rewriter.notifyMatchFailure(op, "unsupported result element type");
    Type element = type->getElementType();
    Value result = elementwise(rewriter, op.getLoc(), *type, op->getOperands(),
                               [&](OpBuilder &b, Location loc, ValueRange args) {
                                 return fn(op, b, loc, args, element);
                               });
    rewriter.replaceOp(op, result);
    return success();
  }
  ScalarFn<OpTy> fn;
};

template <typename FloatOp, typename IntOp>
Value arithmetic(OpBuilder &b, Location loc, Value x, Value y) {
  if (isFloat(x.getType()))
    return FloatOp::create(b, loc, x, y);
  return IntOp::create(b, loc, x, y);
}

Value compare(OpBuilder &b, Location loc, Value x, Value y, arith::CmpFPredicate f,
              arith::CmpIPredicate i) {
  if (isFloat(x.getType()))
    return arith::CmpFOp::create(b, loc, f, x, y);
  return arith::CmpIOp::create(b, loc, i, x, y);
}

Value maximum(OpBuilder &b, Location loc, Value x, Value y) {
  return arithmetic<arith::MaximumFOp, arith::MaxSIOp>(b, loc, x, y);
}
Value minimum(OpBuilder &b, Location loc, Value x, Value y) {
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
      patterns.getContext(), [](OpTy, OpBuilder &b, Location loc, ValueRange a, Type) -> Value {
        return FloatOp::create(b, loc, a[0]);
      });
}
} // namespace

void lowbit::detail::populateElementwisePatterns(RewritePatternSet &patterns) {
  MLIRContext *context = patterns.getContext();
  patterns.add<ElementwiseLowering<onnx::AddOp>>(
      context, [](onnx::AddOp, OpBuilder &b, Location loc, ValueRange a, Type) {
        return arithmetic<arith::AddFOp, arith::AddIOp>(b, loc, a[0], a[1]);
      });
  patterns.add<ElementwiseLowering<onnx::SubOp>>(
      context, [](onnx::SubOp, OpBuilder &b, Location loc, ValueRange a, Type) {
        return arithmetic<arith::SubFOp, arith::SubIOp>(b, loc, a[0], a[1]);
      });
  patterns.add<ElementwiseLowering<onnx::MulOp>>(
      context, [](onnx::MulOp, OpBuilder &b, Location loc, ValueRange a, Type) {
        return arithmetic<arith::MulFOp, arith::MulIOp>(b, loc, a[0], a[1]);
      });
  patterns.add<ElementwiseLowering<onnx::DivOp>>(
      context, [](onnx::DivOp, OpBuilder &b, Location loc, ValueRange a, Type) {
        // Integer division truncates toward zero, as ONNX Runtime's does.
        return arithmetic<arith::DivFOp, arith::DivSIOp>(b, loc, a[0], a[1]);
      });
  patterns.add<ElementwiseLowering<onnx::PowOp>>(
      context, [](onnx::PowOp, OpBuilder &b, Location loc, ValueRange a, Type t) -> Value {
        if (!isFloat(t))
          return math::IPowIOp::create(b, loc, a[0], convertScalar(b, loc, a[1], t));
        Value exponent = convertScalar(b, loc, a[1], t);
        // x^2, the common case (RMSNorm, variance), as a multiply.
        if (auto constant = exponent.getDefiningOp<arith::ConstantOp>())
          if (auto value = dyn_cast<FloatAttr>(constant.getValue()); value && value.getValueAsDouble() == 2.0)
            return arith::MulFOp::create(b, loc, a[0], a[0]);
        return math::PowFOp::create(b, loc, a[0], exponent);
      });
  patterns.add<ElementwiseLowering<onnx::EqualOp>>(
      context, [](onnx::EqualOp, OpBuilder &b, Location loc, ValueRange a, Type) {
        return compare(b, loc, a[0], a[1], arith::CmpFPredicate::OEQ, arith::CmpIPredicate::eq);
      });
  patterns.add<ElementwiseLowering<onnx::LessOp>>(
      context, [](onnx::LessOp, OpBuilder &b, Location loc, ValueRange a, Type) {
        return compare(b, loc, a[0], a[1], arith::CmpFPredicate::OLT, arith::CmpIPredicate::slt);
      });
  patterns.add<ElementwiseLowering<onnx::GreaterOp>>(
      context, [](onnx::GreaterOp, OpBuilder &b, Location loc, ValueRange a, Type) {
        return compare(b, loc, a[0], a[1], arith::CmpFPredicate::OGT, arith::CmpIPredicate::sgt);
      });
  patterns.add<ElementwiseLowering<onnx::AndOp>>(
      context, [](onnx::AndOp, OpBuilder &b, Location loc, ValueRange a, Type) -> Value {
        return arith::AndIOp::create(b, loc, a[0], a[1]);
      });
  patterns.add<ElementwiseLowering<onnx::NotOp>>(
      context, [](onnx::NotOp, OpBuilder &b, Location loc, ValueRange a, Type t) -> Value {
        return arith::XOrIOp::create(b, loc, a[0], scalarConstant(b, loc, t, 1));
      });
  patterns.add<ElementwiseLowering<onnx::WhereOp>>(
      context, [](onnx::WhereOp, OpBuilder &b, Location loc, ValueRange a, Type) -> Value {
        return arith::SelectOp::create(b, loc, a[0], a[1], a[2]);
      });
  patterns.add<ElementwiseLowering<onnx::MaxOp>>(
      context, [](onnx::MaxOp, OpBuilder &b, Location loc, ValueRange a, Type) {
        Value result = a[0];
        for (Value v : a.drop_front())
          result = maximum(b, loc, result, v);
        return result;
      });
  patterns.add<ElementwiseLowering<onnx::MinOp>>(
      context, [](onnx::MinOp, OpBuilder &b, Location loc, ValueRange a, Type) {
        Value result = a[0];
        for (Value v : a.drop_front())
          result = minimum(b, loc, result, v);
        return result;
      });
  patterns.add<ElementwiseLowering<onnx::ClipOp>>(
      context, [](onnx::ClipOp op, OpBuilder &b, Location loc, ValueRange a, Type) {
        Value result = a[0];
        unsigned next = 1;
        if (op.getMin())
          result = maximum(b, loc, result, a[next++]);
        if (op.getMax())
          result = minimum(b, loc, result, a[next]);
        return result;
      });
  patterns.add<ElementwiseLowering<onnx::AbsOp>>(
      context, [](onnx::AbsOp, OpBuilder &b, Location loc, ValueRange a, Type t) -> Value {
        if (isFloat(t))
          return math::AbsFOp::create(b, loc, a[0]);
        return math::AbsIOp::create(b, loc, a[0]);
      });
  patterns.add<ElementwiseLowering<onnx::NegOp>>(
      context, [](onnx::NegOp, OpBuilder &b, Location loc, ValueRange a, Type t) -> Value {
        if (isFloat(t))
          return arith::NegFOp::create(b, loc, a[0]);
        return arith::SubIOp::create(b, loc, scalarConstant(b, loc, t, 0), a[0]);
      });
  patterns.add<ElementwiseLowering<onnx::ReciprocalOp>>(
      context, [](onnx::ReciprocalOp, OpBuilder &b, Location loc, ValueRange a, Type t) -> Value {
        return arith::DivFOp::create(b, loc, scalarConstant(b, loc, t, 1.0), a[0]);
      });
  patterns.add<ElementwiseLowering<onnx::SigmoidOp>>(
      context, [](onnx::SigmoidOp, OpBuilder &b, Location loc, ValueRange a, Type t) -> Value {
        Value one = scalarConstant(b, loc, t, 1.0);
        Value e = math::ExpOp::create(b, loc, arith::NegFOp::create(b, loc, a[0]));
        return arith::DivFOp::create(b, loc, one, arith::AddFOp::create(b, loc, one, e));
      });
  patterns.add<ElementwiseLowering<onnx::ReluOp>>(
      context, [](onnx::ReluOp, OpBuilder &b, Location loc, ValueRange a, Type t) {
        return maximum(b, loc, a[0], scalarConstant(b, loc, t, 0));
      });
  patterns.add<ElementwiseLowering<onnx::GeluOp>>(
      context, [](onnx::GeluOp op, OpBuilder &b, Location loc, ValueRange a, Type) {
        return gelu(b, loc, a[0], op.getApproximate() == "tanh");
      });
  patterns.add<ElementwiseLowering<onnx::CastOp>>(
      context, [](onnx::CastOp, OpBuilder &b, Location loc, ValueRange a, Type t) {
        return convertScalar(b, loc, a[0], t);
      });
  addFloatUnary<onnx::SqrtOp, math::SqrtOp>(patterns);
  addFloatUnary<onnx::ExpOp, math::ExpOp>(patterns);
  addFloatUnary<onnx::LogOp, math::LogOp>(patterns);
  addFloatUnary<onnx::ErfOp, math::ErfOp>(patterns);
  addFloatUnary<onnx::TanhOp, math::TanhOp>(patterns);
}
