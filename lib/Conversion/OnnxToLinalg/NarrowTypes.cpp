//===- NarrowTypes.cpp - float8/float4 and 2-/4-bit integer conversions ---===//
//
// Element types that live one per byte (the bit pattern in the low bits, as
// ml_dtypes and ONNX Runtime hold them unpacked) and that no CPU computes in:
// float8 (E4M3FN, E4M3FNUZ, E5M2, E5M2FNUZ, E8M0FNU), float4 E2M1FN and 2-
// and 4-bit integers. Values are converted through f32 with arith only:
//
//  - decoding a narrow float reads a table of its 2^bits values, built at
//    compile time by APFloat (so NaN encodings, subnormals and the missing
//    negative zero of the FNUZ types are APFloat's, i.e. MLIR's);
//  - encoding rounds to nearest, ties to even, as ml_dtypes does (the ONNX
//    reference): a binary search over the sorted positive values finds the
//    largest one not above |x|, and a table of midpoints to the next value
//    decides whether to round up. Encodings of positive values increase with
//    the value, so "even" is the code's last bit. Past the largest finite
//    value the type's overflow rule applies (saturate: the largest; else
//    inf, NaN, or for float4 the largest);
//  - E8M0 (a power of two, no sign) follows the ONNX reference's bit
//    algorithm with its round_mode (up, down, nearest).
//
//===----------------------------------------------------------------------===//

#include "Common.h"

#include "llvm/ADT/APFloat.h"

using namespace mlir;
using namespace lowbit::detail;
namespace onnx = lowbit::onnx;

bool lowbit::detail::isNarrowElement(Type t) {
  if (auto integer = dyn_cast<IntegerType>(t))
    return integer.getWidth() == 2 || integer.getWidth() == 4;
  return isa<Float8E4M3FNType, Float8E4M3FNUZType, Float8E5M2Type, Float8E5M2FNUZType,
             Float8E8M0FNUType, Float4E2M1FNType>(t);
}

namespace {
Value tableConstant(OpBuilder &b, Location loc, ArrayRef<float> values) {
  auto type = RankedTensorType::get({int64_t(values.size())}, b.getF32Type());
  return arith::ConstantOp::create(b, loc, DenseElementsAttr::get(type, values));
}

Value lookup(OpBuilder &b, Location loc, Value table, Value index) {
  return tensor::ExtractOp::create(b, loc, table, ValueRange{index});
}

Value i32Constant(OpBuilder &b, Location loc, int64_t v) {
  return arith::ConstantIntOp::create(b, loc, b.getI32Type(), v);
}
} // namespace

NarrowCodec::NarrowCodec(OpBuilder &b, Location loc, Type element) : element(element) {
  auto floatType = dyn_cast<FloatType>(element);
  if (!floatType || !isNarrowElement(element))
    return;
  const llvm::fltSemantics &semantics = floatType.getFloatSemantics();
  width = floatType.getWidth();
  auto decode = [&](uint64_t code) {
    llvm::APFloat value(semantics, llvm::APInt(width, code));
    // (E8M0's all-ones NaN converts to inf otherwise.)
    if (value.isNaN() || (isa<Float8E8M0FNUType>(element) && code == 255))
      return double(NAN);
    bool losesInfo;
    value.convert(llvm::APFloat::IEEEdouble(), llvm::APFloat::rmNearestTiesToEven, &losesInfo);
    return value.convertToDouble();
  };
  SmallVector<float> values;
  for (uint64_t code = 0; code < (uint64_t(1) << width); ++code)
    values.push_back(float(decode(code)));
  valueTable = tableConstant(b, loc, values);
  if (isa<Float8E8M0FNUType>(element))
    return; // encoded by bit operations

  // Positive codes 0 .. 2^(width-1) - 1; the finite ones come first.
  int64_t positive = int64_t(1) << (width - 1);
  maxFinite = int64_t(llvm::APFloat::getLargest(semantics).bitcastToAPInt().getZExtValue());
  bool hasNaN = llvm::APFloat::semanticsHasNaN(semantics);
  nanCode = hasNaN ? int64_t(llvm::APFloat::getQNaN(semantics).bitcastToAPInt().getZExtValue())
                   : positive; // float4 has no NaN: ml_dtypes gives -0
  // A NaN encoded with the sign bit (the FNUZ types' 0x80) takes no sign.
  signedNaN = hasNaN && nanCode < positive;
  if (llvm::APFloat::semanticsHasInf(semantics))
    overflowCode = int64_t(llvm::APFloat::getInf(semantics).bitcastToAPInt().getZExtValue());
  else if (hasNaN)
    overflowCode = nanCode;
  else
    overflowCode = maxFinite;
  signedZero = llvm::APFloat::semanticsHasSignedRepr(semantics) && !std::isnan(decode(positive));

  // bounds[c]: the value of code c (+inf past the finite ones) for the
  // search; midpoints[c]: halfway to the next value (the step above the
  // largest finite value continues its binade). Both exact in f32.
  SmallVector<float> bounds, midpoints;
  for (int64_t code = 0; code < positive; ++code) {
    double value = decode(code);
    double next = code < maxFinite ? decode(code + 1) : 2 * value - decode(code - 1);
    bounds.push_back(code <= maxFinite ? float(value) : INFINITY);
    midpoints.push_back(code <= maxFinite ? float((value + next) / 2) : INFINITY);
  }
  boundTable = tableConstant(b, loc, bounds);
  midpointTable = tableConstant(b, loc, midpoints);
}

Value NarrowCodec::toF32(OpBuilder &b, Location loc, Value v) const {
  Type f32 = b.getF32Type();
  if (!valueTable)
    return widen(b, loc, v, element, f32);
  Value bits = arith::BitcastOp::create(b, loc, b.getIntegerType(width), v);
  Value index = arith::IndexCastOp::create(b, loc, b.getIndexType(),
                                           arith::ExtUIOp::create(b, loc, b.getI32Type(), bits));
  return lookup(b, loc, valueTable, index);
}

Value NarrowCodec::fromF32(OpBuilder &b, Location loc, Value x, bool saturate,
                           StringRef roundMode) const {
  if (!valueTable) { // integers wrap, as a C cast of the truncated value does
    Value whole = arith::FPToSIOp::create(b, loc, b.getI32Type(), x);
    return arith::TruncIOp::create(b, loc, signless(element), whole);
  }
  Value code = isa<Float8E8M0FNUType>(element) ? encodeE8M0(b, loc, x, saturate, roundMode)
                                               : encodeSignMagnitude(b, loc, x, saturate);
  Value bits = arith::TruncIOp::create(b, loc, b.getIntegerType(width), code);
  return arith::BitcastOp::create(b, loc, element, bits);
}

Value NarrowCodec::encodeSignMagnitude(OpBuilder &b, Location loc, Value x, bool saturate) const {
  Type i32 = b.getI32Type();
  using P = arith::CmpIPredicate;
  using F = arith::CmpFPredicate;
  Value magnitude = math::AbsFOp::create(b, loc, x);
  Value negative = arith::CmpIOp::create(b, loc, P::slt, arith::BitcastOp::create(b, loc, i32, x),
                                         i32Constant(b, loc, 0));
  // The largest code whose value is at most |x| (0 for NaN).
  Value code = arith::ConstantIndexOp::create(b, loc, 0);
  for (int64_t step = (int64_t(1) << (width - 1)) / 2; step >= 1; step /= 2) {
    Value candidate =
        arith::AddIOp::create(b, loc, code, arith::ConstantIndexOp::create(b, loc, step));
    Value fits =
        arith::CmpFOp::create(b, loc, F::OLE, lookup(b, loc, boundTable, candidate), magnitude);
    code = arith::SelectOp::create(b, loc, fits, candidate, code);
  }
  Value midpoint = lookup(b, loc, midpointTable, code);
  code = arith::IndexCastOp::create(b, loc, i32, code);
  Value odd = arith::TruncIOp::create(b, loc, b.getI1Type(), code);
  Value above = arith::CmpFOp::create(b, loc, F::OGT, magnitude, midpoint);
  Value tie = arith::CmpFOp::create(b, loc, F::OEQ, magnitude, midpoint);
  Value up = arith::OrIOp::create(b, loc, above, arith::AndIOp::create(b, loc, tie, odd));
  code = arith::AddIOp::create(b, loc, code, arith::ExtUIOp::create(b, loc, i32, up));

  Value overflow = arith::CmpIOp::create(b, loc, P::sgt, code, i32Constant(b, loc, maxFinite));
  int64_t onOverflow = saturate ? maxFinite : overflowCode;
  code = arith::SelectOp::create(b, loc, overflow, i32Constant(b, loc, onOverflow), code);
  // The sign bit, except on a zero of a type without -0 and on an unsigned
  // NaN (the FNUZ types' NaN is the pattern of -0).
  Value signBit = i32Constant(b, loc, int64_t(1) << (width - 1));
  Value takesSign = negative;
  if (!signedZero)
    takesSign = arith::AndIOp::create(
        b, loc, takesSign, arith::CmpIOp::create(b, loc, P::ne, code, i32Constant(b, loc, 0)));
  if (onOverflow == nanCode && !signedNaN)
    takesSign = arith::AndIOp::create(
        b, loc, takesSign,
        arith::CmpIOp::create(b, loc, P::ne, code, i32Constant(b, loc, nanCode)));
  code = arith::OrIOp::create(
      b, loc, code, arith::SelectOp::create(b, loc, takesSign, signBit, i32Constant(b, loc, 0)));
  // NaN: the type's quiet NaN (with x's sign where NaNs have one).
  Value nan = i32Constant(b, loc, nanCode);
  if (signedNaN)
    nan = arith::OrIOp::create(
        b, loc, nan, arith::SelectOp::create(b, loc, negative, signBit, i32Constant(b, loc, 0)));
  Value isNaN = arith::CmpFOp::create(b, loc, F::UNO, x, x);
  return arith::SelectOp::create(b, loc, isNaN, nan, code);
}

Value NarrowCodec::encodeE8M0(OpBuilder &b, Location loc, Value x, bool saturate,
                              StringRef roundMode) const {
  using P = arith::CmpIPredicate;
  Value bits = arith::BitcastOp::create(b, loc, b.getI32Type(), x);
  auto mask = [&](int64_t m) {
    return arith::AndIOp::create(b, loc, bits, i32Constant(b, loc, m));
  };
  auto nonzero = [&](Value v) {
    return arith::CmpIOp::create(b, loc, P::ne, v, i32Constant(b, loc, 0));
  };
  Value exponent =
      arith::AndIOp::create(b, loc, arith::ShRUIOp::create(b, loc, bits, i32Constant(b, loc, 23)),
                            i32Constant(b, loc, 255));
  Value special = arith::CmpIOp::create(b, loc, P::eq, exponent, i32Constant(b, loc, 255));
  Value up;
  if (roundMode == "up") {
    up = nonzero(mask(0x7FFFFF));
  } else if (roundMode == "nearest") {
    // guard & (round | sticky | exponent's lowest bit), as the reference.
    Value guard = nonzero(mask(0x400000));
    Value rest = arith::OrIOp::create(b, loc, nonzero(mask(0x200000)), nonzero(mask(0x1FFFFF)));
    rest = arith::OrIOp::create(
        b, loc, rest, arith::CmpIOp::create(b, loc, P::ugt, exponent, i32Constant(b, loc, 0)));
    up = arith::AndIOp::create(b, loc, guard, rest);
  }
  if (up) {
    if (saturate)
      up = arith::AndIOp::create(
          b, loc, up, arith::CmpIOp::create(b, loc, P::ne, exponent, i32Constant(b, loc, 254)));
    exponent =
        arith::AddIOp::create(b, loc, exponent, arith::ExtUIOp::create(b, loc, b.getI32Type(), up));
  }
  // NaN and inf keep the all-ones exponent (E8M0's NaN).
  return arith::SelectOp::create(b, loc, special, i32Constant(b, loc, 255), exponent);
}

//===----------------------------------------------------------------------===//
// Cast to or from a narrow type
//===----------------------------------------------------------------------===//

namespace {
/// Cast where the input or the result is narrow or unsigned (the bodies of
/// the other casts see signless bits and could not tell): between integers
/// by extension (as the source's signedness says) or truncation; otherwise
/// through the float, narrow floats through f32.
struct ExactCastLowering : OpRewritePattern<onnx::CastOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(onnx::CastOp op, PatternRewriter &rewriter) const override {
    auto resultType = rankedResult(op, 0, rewriter);
    auto inputType = dyn_cast<RankedTensorType>(op.getInput().getType());
    if (failed(resultType) || !inputType)
      return rewriter.notifyMatchFailure(op, "unknown rank");
    Type from = inputType.getElementType(), to = resultType->getElementType();
    auto isExactCase = [](Type t) { return isNarrowElement(t) || t.isUnsignedInteger(); };
    if (!isExactCase(from) && !isExactCase(to))
      return rewriter.notifyMatchFailure(op, "no narrow or unsigned type involved");
    auto isNumber = [](Type t) {
      return isa<IntegerType>(t) || isNarrowElement(t) ||
             isa<Float16Type, BFloat16Type, Float32Type, Float64Type>(t);
    };
    if (!isNumber(from) || !isNumber(to))
      return rewriter.notifyMatchFailure(op, "not a number type");
    Location loc = op.getLoc();
    NarrowCodec decoder(rewriter, loc, from), encoder(rewriter, loc, to);
    bool saturate = op.getSaturate() != 0;
    std::string roundMode = op.getRoundMode().str();
    Value result = elementwise(
        rewriter, loc, *resultType, op.getInput(), [&](OpBuilder &b, Location l, ValueRange a) {
          Value x = toSignless(b, l, a[0]);
          Type target = signless(to), f32 = b.getF32Type();
          Value converted;
          if (from.isInteger(1) || to.isInteger(1)) {
            // bool: 0 or 1 from it, x != 0 to it (narrow floats through f32)
            if (isNarrowElement(from))
              x = decoder.toF32(b, l, x);
            Value value = convertScalar(b, l, x, isNarrowElement(to) ? f32 : target);
            converted =
                isNarrowElement(to) ? encoder.fromF32(b, l, value, saturate, roundMode) : value;
          } else if (isa<IntegerType>(from) && isa<IntegerType>(to)) {
            unsigned fromWidth = from.getIntOrFloatBitWidth(), toWidth = to.getIntOrFloatBitWidth();
            converted = fromWidth > toWidth    ? arith::TruncIOp::create(b, l, target, x)
                        : fromWidth == toWidth ? x
                                               : widen(b, l, x, from, target);
          } else {
            Type source = from;
            if (isNarrowElement(from)) {
              x = decoder.toF32(b, l, x);
              source = f32;
            }
            if (isNarrowElement(to)) {
              Value value = isa<FloatType>(source) ? convertScalar(b, l, x, f32)
                                                   : widen(b, l, x, source, f32);
              converted = encoder.fromF32(b, l, value, saturate, roundMode);
            } else if (to.isUnsignedInteger() && isa<FloatType>(source)) {
              // Below 64 bits through i64, so that what is in range converts.
              converted = to.getIntOrFloatBitWidth() == 64
                              ? arith::FPToUIOp::create(b, l, target, x).getResult()
                              : arith::TruncIOp::create(
                                    b, l, target, arith::FPToSIOp::create(b, l, b.getI64Type(), x))
                                    .getResult();
            } else if (source.isUnsignedInteger()) {
              converted = widen(b, l, x, source, target); // to a float
            } else {
              converted = convertScalar(b, l, x, target);
            }
          }
          return fromSignless(b, l, converted, to);
        });
    rewriter.replaceOp(op, result);
    return success();
  }
};
} // namespace

void lowbit::detail::populateNarrowTypePatterns(RewritePatternSet &patterns) {
  patterns.add<ExactCastLowering>(patterns.getContext(), /*benefit=*/2);
}
