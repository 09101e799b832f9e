//===- OnnxFold.cpp - onnx dialect: folders and canonicalization ----------===//
//
// Folding collapses the shape arithmetic that exporters emit (Shape, Gather,
// Unsqueeze, Concat, Reshape chains) and small constant subgraphs. Only dense
// constants of at most kMaxFoldElements elements are computed on, so folding
// never copies a weight: large initializers stay dense_resource blobs.
//
//===----------------------------------------------------------------------===//

#include "lowbit/Dialect/Onnx/IR/Onnx.h"

#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/Matchers.h"
#include "mlir/IR/PatternMatch.h"

using namespace mlir;
using namespace lowbit::onnx;

namespace {
constexpr int64_t kMaxFoldElements = 4096;

/// A dense constant of static shape small enough to compute on, or null.
DenseElementsAttr smallDense(Attribute attr) {
  auto dense = dyn_cast_or_null<DenseElementsAttr>(attr);
  if (!dense || !dense.getType().hasStaticShape() ||
      dense.getNumElements() > kMaxFoldElements)
    return {};
  return dense;
}

/// The op's single result type when fully static, else null.
RankedTensorType staticResultType(Operation *op) {
  auto type = dyn_cast<RankedTensorType>(op->getResult(0).getType());
  return type && type.hasStaticShape() ? type : RankedTensorType();
}

bool isUnsigned(Type t) { return t.isUnsignedInteger() || t.isInteger(1); }

SmallVector<int64_t> intValues(DenseElementsAttr attr) {
  bool zext = isUnsigned(attr.getElementType());
  SmallVector<int64_t> values;
  for (const APInt &x : attr.getValues<APInt>())
    values.push_back(zext ? int64_t(x.getZExtValue()) : x.getSExtValue());
  return values;
}

SmallVector<double> floatValues(DenseElementsAttr attr) {
  SmallVector<double> values;
  for (APFloat x : attr.getValues<APFloat>()) {
    bool lost;
    x.convert(APFloat::IEEEdouble(), APFloat::rmNearestTiesToEven, &lost);
    values.push_back(x.convertToDouble());
  }
  return values;
}

DenseElementsAttr makeInts(ShapedType type, ArrayRef<int64_t> values) {
  unsigned width = type.getElementType().getIntOrFloatBitWidth();
  SmallVector<APInt> ints;
  for (int64_t v : values)
    ints.push_back(APInt(width, uint64_t(v), /*isSigned=*/true, /*implicitTrunc=*/true));
  return DenseElementsAttr::get(type, ints);
}

DenseElementsAttr makeFloats(ShapedType type, ArrayRef<double> values) {
  const auto &semantics = cast<FloatType>(type.getElementType()).getFloatSemantics();
  SmallVector<APFloat> floats;
  for (double v : values) {
    APFloat f(v);
    bool lost;
    f.convert(semantics, APFloat::rmNearestTiesToEven, &lost);
    floats.push_back(f);
  }
  return DenseElementsAttr::get(type, floats);
}

/// The linear index into an operand of `shape` broadcast to `outShape`, for
/// the output element at multi-index `outIndex`.
int64_t broadcastIndex(ArrayRef<int64_t> outIndex, ArrayRef<int64_t> shape) {
  int64_t index = 0, offset = outIndex.size() - shape.size();
  for (size_t i = 0; i < shape.size(); ++i)
    index = index * shape[i] + (shape[i] == 1 ? 0 : outIndex[offset + i]);
  return index;
}

/// Calls fn(outLinear, multiIndex) for each element of `shape` in order.
template <typename Fn>
void forEachIndex(ArrayRef<int64_t> shape, Fn fn) {
  SmallVector<int64_t> index(shape.size(), 0);
  int64_t count = ShapedType::getNumElements(shape);
  for (int64_t linear = 0; linear < count; ++linear) {
    fn(linear, ArrayRef<int64_t>(index));
    for (int64_t d = int64_t(shape.size()) - 1; d >= 0; --d) {
      if (++index[d] < shape[d])
        break;
      index[d] = 0;
    }
  }
}

/// Broadcast elementwise evaluation of a binary op on small constants.
/// `intFn`/`floatFn` return nullopt when the operation must not be folded
/// (division by zero); the result element type is the result type's.
template <typename IntFn, typename FloatFn>
OpFoldResult foldBinary(Operation *op, ArrayRef<Attribute> operands, IntFn intFn,
                        FloatFn floatFn) {
  auto lhs = smallDense(operands[0]), rhs = smallDense(operands[1]);
  auto resultType = staticResultType(op);
  if (!lhs || !rhs || !resultType || lhs.getElementType() != rhs.getElementType())
    return {};
  ArrayRef<int64_t> outShape = resultType.getShape();
  ArrayRef<int64_t> lShape = lhs.getType().getShape(), rShape = rhs.getType().getShape();
  Type inElement = lhs.getElementType();
  bool boolOut = resultType.getElementType().isInteger(1) && !inElement.isInteger(1);
  bool failedElement = false;
  if (inElement.isIntOrIndex()) {
    auto a = intValues(lhs), b = intValues(rhs);
    SmallVector<int64_t> out(resultType.getNumElements());
    forEachIndex(outShape, [&](int64_t i, ArrayRef<int64_t> idx) {
      auto v = intFn(a[broadcastIndex(idx, lShape)], b[broadcastIndex(idx, rShape)]);
      failedElement |= !v.has_value();
      out[i] = v.value_or(0);
    });
    if (failedElement)
      return {};
    return makeInts(resultType, out);
  }
  if (!isa<FloatType>(inElement))
    return {};
  auto a = floatValues(lhs), b = floatValues(rhs);
  SmallVector<double> out(resultType.getNumElements());
  forEachIndex(outShape, [&](int64_t i, ArrayRef<int64_t> idx) {
    auto v = floatFn(a[broadcastIndex(idx, lShape)], b[broadcastIndex(idx, rShape)]);
    failedElement |= !v.has_value();
    out[i] = v.value_or(0);
  });
  if (failedElement)
    return {};
  if (boolOut) {
    SmallVector<int64_t> bits(out.begin(), out.end());
    return makeInts(resultType, bits);
  }
  return makeFloats(resultType, out);
}

template <typename T>
std::optional<T> wrap(T v) {
  return v;
}

/// A constant of the op's result type, reshaped from `input` when that is a
/// small dense constant; or the operand itself when the types already match.
OpFoldResult foldReshapeLike(Operation *op, Value input, Attribute inputAttr) {
  if (input.getType() == op->getResult(0).getType() &&
      cast<ShapedType>(input.getType()).hasStaticShape())
    return input;
  auto resultType = staticResultType(op);
  if (auto dense = smallDense(inputAttr); dense && resultType)
    return dense.reshape(resultType);
  return {};
}
} // namespace

//===----------------------------------------------------------------------===//
// Binary elementwise
//===----------------------------------------------------------------------===//

OpFoldResult AddOp::fold(FoldAdaptor adaptor) {
  return foldBinary(
      *this, adaptor.getOperands(), [](int64_t a, int64_t b) { return wrap(a + b); },
      [](double a, double b) { return wrap(a + b); });
}
OpFoldResult SubOp::fold(FoldAdaptor adaptor) {
  return foldBinary(
      *this, adaptor.getOperands(), [](int64_t a, int64_t b) { return wrap(a - b); },
      [](double a, double b) { return wrap(a - b); });
}
OpFoldResult MulOp::fold(FoldAdaptor adaptor) {
  return foldBinary(
      *this, adaptor.getOperands(), [](int64_t a, int64_t b) { return wrap(a * b); },
      [](double a, double b) { return wrap(a * b); });
}
OpFoldResult DivOp::fold(FoldAdaptor adaptor) {
  // Integer division truncates toward zero, as ONNX Runtime does.
  return foldBinary(
      *this, adaptor.getOperands(),
      [](int64_t a, int64_t b) -> std::optional<int64_t> {
        if (b == 0)
          return std::nullopt;
        return a / b;
      },
      [](double a, double b) { return wrap(a / b); });
}
OpFoldResult PowOp::fold(FoldAdaptor adaptor) {
  if (adaptor.getOperands()[0] && adaptor.getOperands()[1] &&
      getA().getType() == getB().getType())
    return foldBinary(
        *this, adaptor.getOperands(),
        [](int64_t, int64_t) -> std::optional<int64_t> { return std::nullopt; },
        [](double a, double b) { return wrap(std::pow(a, b)); });
  return {};
}
OpFoldResult EqualOp::fold(FoldAdaptor adaptor) {
  return foldBinary(
      *this, adaptor.getOperands(),
      [](int64_t a, int64_t b) { return wrap<int64_t>(a == b); },
      [](double a, double b) { return wrap<double>(a == b); });
}
OpFoldResult LessOp::fold(FoldAdaptor adaptor) {
  return foldBinary(
      *this, adaptor.getOperands(),
      [](int64_t a, int64_t b) { return wrap<int64_t>(a < b); },
      [](double a, double b) { return wrap<double>(a < b); });
}
OpFoldResult GreaterOp::fold(FoldAdaptor adaptor) {
  return foldBinary(
      *this, adaptor.getOperands(),
      [](int64_t a, int64_t b) { return wrap<int64_t>(a > b); },
      [](double a, double b) { return wrap<double>(a > b); });
}
OpFoldResult AndOp::fold(FoldAdaptor adaptor) {
  return foldBinary(
      *this, adaptor.getOperands(),
      [](int64_t a, int64_t b) { return wrap<int64_t>(a && b); },
      [](double a, double b) { return wrap<double>(a && b); });
}

//===----------------------------------------------------------------------===//
// Constants and shapes
//===----------------------------------------------------------------------===//

OpFoldResult ConstantOp::fold(FoldAdaptor) { return getValue(); }

OpFoldResult IdentityOp::fold(FoldAdaptor) {
  if (getInput().getType() == getType())
    return getInput();
  return {};
}

OpFoldResult ShapeOp::fold(FoldAdaptor) {
  auto input = dyn_cast<RankedTensorType>(getData().getType());
  auto resultType = staticResultType(*this);
  if (!input || !resultType)
    return {};
  auto [start, end] = getDimRange(input.getRank());
  SmallVector<int64_t> dims;
  for (int64_t i = start; i < end; ++i) {
    if (input.isDynamicDim(i))
      return {};
    dims.push_back(input.getDimSize(i));
  }
  return makeInts(resultType, dims);
}

OpFoldResult ConstantOfShapeOp::fold(FoldAdaptor) {
  auto resultType = staticResultType(*this);
  if (!resultType)
    return {};
  if (auto value = dyn_cast_or_null<DenseElementsAttr>(getValueAttr()))
    return DenseElementsAttr::get(resultType, value.getValues<Attribute>()[0]);
  if (getValueAttr())
    return {};
  return DenseElementsAttr::get(resultType, FloatAttr::get(resultType.getElementType(), 0.0));
}

OpFoldResult CastOp::fold(FoldAdaptor adaptor) {
  if (getInput().getType() == getType())
    return getInput();
  auto input = smallDense(adaptor.getInput());
  auto resultType = staticResultType(*this);
  if (!input || !resultType)
    return {};
  Type from = input.getElementType(), to = resultType.getElementType();
  if (from.isIntOrIndex() && to.isIntOrIndex())
    return makeInts(resultType, intValues(input));
  if (from.isIntOrIndex() && isa<FloatType>(to)) {
    auto ints = intValues(input);
    return makeFloats(resultType, SmallVector<double>(ints.begin(), ints.end()));
  }
  if (isa<FloatType>(from) && isa<FloatType>(to))
    return makeFloats(resultType, floatValues(input));
  if (isa<FloatType>(from) && to.isIntOrIndex()) {
    SmallVector<int64_t> ints;
    for (double v : floatValues(input)) {
      if (!std::isfinite(v))
        return {};
      ints.push_back(to.isInteger(1) ? int64_t(v != 0) : int64_t(v));
    }
    return makeInts(resultType, ints);
  }
  return {};
}

OpFoldResult RangeOp::fold(FoldAdaptor adaptor) {
  auto resultType = staticResultType(*this);
  auto start = smallDense(adaptor.getStart()), delta = smallDense(adaptor.getDelta());
  if (!resultType || !start || !delta || resultType.getNumElements() > kMaxFoldElements)
    return {};
  int64_t n = resultType.getNumElements();
  if (resultType.getElementType().isIntOrIndex()) {
    int64_t s = intValues(start)[0], d = intValues(delta)[0];
    SmallVector<int64_t> values;
    for (int64_t i = 0; i < n; ++i)
      values.push_back(s + i * d);
    return makeInts(resultType, values);
  }
  double s = floatValues(start)[0], d = floatValues(delta)[0];
  SmallVector<double> values;
  for (int64_t i = 0; i < n; ++i)
    values.push_back(s + double(i) * d);
  return makeFloats(resultType, values);
}

//===----------------------------------------------------------------------===//
// Data movement
//===----------------------------------------------------------------------===//

OpFoldResult WhereOp::fold(FoldAdaptor adaptor) {
  auto cond = smallDense(adaptor.getCondition());
  auto x = smallDense(adaptor.getX()), y = smallDense(adaptor.getY());
  auto resultType = staticResultType(*this);
  if (!cond || !x || !y || !resultType)
    return {};
  auto c = cond.getValues<bool>();
  auto xs = x.getValues<Attribute>(), ys = y.getValues<Attribute>();
  SmallVector<Attribute> out(resultType.getNumElements());
  forEachIndex(resultType.getShape(), [&](int64_t i, ArrayRef<int64_t> idx) {
    out[i] = c[broadcastIndex(idx, cond.getType().getShape())]
                 ? xs[broadcastIndex(idx, x.getType().getShape())]
                 : ys[broadcastIndex(idx, y.getType().getShape())];
  });
  return DenseElementsAttr::get(resultType, out);
}

/// Gather(Shape(x), indices) where the gathered sizes of x are static: the
/// sizes themselves, even when other dimensions of x are dynamic.
static OpFoldResult foldGatherOfShape(GatherOp op, DenseElementsAttr indicesAttr,
                                      RankedTensorType resultType) {
  auto shapeOp = op.getData().getDefiningOp<ShapeOp>();
  if (!shapeOp)
    return {};
  auto source = dyn_cast<RankedTensorType>(shapeOp.getData().getType());
  auto shapeType = dyn_cast<RankedTensorType>(shapeOp.getType());
  if (!source || !shapeType || !shapeType.hasStaticShape())
    return {};
  int64_t length = shapeType.getDimSize(0);
  int64_t start = shapeOp.getStart() < 0 ? shapeOp.getStart() + source.getRank()
                                         : shapeOp.getStart();
  SmallVector<int64_t> sizes;
  for (int64_t index : intValues(indicesAttr)) {
    if (index < 0)
      index += length;
    if (index < 0 || index >= length || source.isDynamicDim(start + index))
      return {};
    sizes.push_back(source.getDimSize(start + index));
  }
  return makeInts(resultType, sizes);
}

OpFoldResult GatherOp::fold(FoldAdaptor adaptor) {
  auto data = smallDense(adaptor.getData());
  auto indicesAttr = smallDense(adaptor.getIndices());
  auto resultType = staticResultType(*this);
  if (!indicesAttr || !resultType)
    return {};
  if (!data)
    return foldGatherOfShape(*this, indicesAttr, resultType);
  ArrayRef<int64_t> shape = data.getType().getShape();
  int64_t axis = nonNegativeAxis(getAxis(), shape.size());
  int64_t outer = ShapedType::getNumElements(shape.take_front(axis));
  int64_t inner = ShapedType::getNumElements(shape.drop_front(axis + 1));
  int64_t dim = shape[axis];
  auto values = llvm::to_vector(data.getValues<Attribute>());
  SmallVector<Attribute> out;
  auto indices = intValues(indicesAttr);
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t index : indices) {
      if (index < 0)
        index += dim;
      if (index < 0 || index >= dim)
        return {}; // out of range: left for the runtime to report
      for (int64_t i = 0; i < inner; ++i)
        out.push_back(values[(o * dim + index) * inner + i]);
    }
  }
  return DenseElementsAttr::get(resultType, out);
}

OpFoldResult TransposeOp::fold(FoldAdaptor) {
  if (auto perm = getPermAttr()) {
    for (auto [i, p] : llvm::enumerate(perm.asArrayRef()))
      if (int64_t(i) != p)
        return {};
    if (getData().getType() == getType())
      return getData();
  }
  return {};
}

OpFoldResult ReshapeOp::fold(FoldAdaptor adaptor) {
  return foldReshapeLike(*this, getData(), adaptor.getData());
}
OpFoldResult SqueezeOp::fold(FoldAdaptor adaptor) {
  return foldReshapeLike(*this, getData(), adaptor.getData());
}
OpFoldResult UnsqueezeOp::fold(FoldAdaptor adaptor) {
  return foldReshapeLike(*this, getData(), adaptor.getData());
}

OpFoldResult ExpandOp::fold(FoldAdaptor adaptor) {
  auto resultType = staticResultType(*this);
  if (!resultType)
    return {};
  if (getInput().getType() == getType())
    return getInput();
  if (auto dense = dyn_cast_or_null<DenseElementsAttr>(adaptor.getInput());
      dense && dense.isSplat())
    return DenseElementsAttr::get(resultType, dense.getSplatValue<Attribute>());
  return {};
}

OpFoldResult ConcatOp::fold(FoldAdaptor adaptor) {
  if (getInputs().size() == 1 && getInputs()[0].getType() == getType())
    return getInputs()[0];
  auto resultType = staticResultType(*this);
  if (!resultType)
    return {};
  int64_t rank = resultType.getRank();
  int64_t axis = nonNegativeAxis(getAxis(), rank);
  int64_t outer = ShapedType::getNumElements(resultType.getShape().take_front(axis));
  SmallVector<SmallVector<Attribute>> pieces;
  SmallVector<int64_t> chunk; // elements per outer index, per input
  for (Attribute a : adaptor.getInputs()) {
    auto dense = smallDense(a);
    if (!dense)
      return {};
    pieces.push_back(llvm::to_vector(dense.getValues<Attribute>()));
    chunk.push_back(ShapedType::getNumElements(dense.getType().getShape().drop_front(axis)));
  }
  SmallVector<Attribute> out;
  for (int64_t o = 0; o < outer; ++o)
    for (size_t p = 0; p < pieces.size(); ++p)
      out.append(pieces[p].begin() + o * chunk[p], pieces[p].begin() + (o + 1) * chunk[p]);
  return DenseElementsAttr::get(resultType, out);
}

OpFoldResult SliceOp::fold(FoldAdaptor adaptor) {
  auto data = smallDense(adaptor.getData());
  auto resultType = staticResultType(*this);
  if (!resultType)
    return {};
  if (getData().getType() == getType() && !getSteps()) {
    // A slice that keeps every element (each range covers its dimension).
    auto starts = getConstantIntValues(getStarts());
    if (starts && llvm::all_of(*starts, [](int64_t s) { return s == 0; }))
      return getData();
  }
  if (!data)
    return {};
  auto starts = getConstantIntValues(getStarts());
  std::optional<SmallVector<int64_t>> axes, steps;
  axes = getAxes() ? getConstantIntValues(getAxes()) : std::nullopt;
  steps = getSteps() ? getConstantIntValues(getSteps()) : std::nullopt;
  if (!starts || (getAxes() && !axes) || (getSteps() && !steps))
    return {};
  ArrayRef<int64_t> shape = data.getType().getShape();
  int64_t rank = shape.size();
  SmallVector<int64_t> begin(rank, 0), stride(rank, 1);
  for (size_t i = 0; i < starts->size(); ++i) {
    int64_t axis = axes ? (*axes)[i] : int64_t(i);
    if (axis < 0)
      axis += rank;
    int64_t step = steps ? (*steps)[i] : 1, dim = shape[axis];
    int64_t s = (*starts)[i];
    if (s < 0)
      s += dim;
    s = step > 0 ? std::min(std::max<int64_t>(s, 0), dim)
                 : std::min(std::max<int64_t>(s, 0), dim - 1);
    begin[axis] = s;
    stride[axis] = step;
  }
  auto values = llvm::to_vector(data.getValues<Attribute>());
  SmallVector<Attribute> out(resultType.getNumElements());
  forEachIndex(resultType.getShape(), [&](int64_t i, ArrayRef<int64_t> idx) {
    int64_t linear = 0;
    for (int64_t d = 0; d < rank; ++d)
      linear = linear * shape[d] + begin[d] + idx[d] * stride[d];
    out[i] = values[linear];
  });
  return DenseElementsAttr::get(resultType, out);
}

//===----------------------------------------------------------------------===//
// Canonicalization patterns
//===----------------------------------------------------------------------===//

namespace {
/// Reshape(Reshape(x, s1), s2) -> Reshape(x, s2): only the final shape counts.
/// Not done with allowzero = 0 and a 0 in s2, which copies from the middle
/// tensor's shape.
struct FoldDoubleReshape : OpRewritePattern<ReshapeOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(ReshapeOp op, PatternRewriter &rewriter) const override {
    auto inner = op.getData().getDefiningOp<ReshapeOp>();
    if (!inner)
      return rewriter.notifyMatchFailure(op, "input is not a Reshape");
    auto target = getConstantIntValues(op.getShape());
    if (!op.getAllowzero() && (!target || llvm::is_contained(*target, 0)))
      return rewriter.notifyMatchFailure(op, "shape may copy from the inner reshape");
    rewriter.modifyOpInPlace(op, [&] { op.getDataMutable().assign(inner.getData()); });
    return success();
  }
};

/// A Reshape whose result type is fully static gets a constant shape, which
/// cuts the Shape/Gather/Concat chain that computed it.
struct MaterializeStaticReshapeShape : OpRewritePattern<ReshapeOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(ReshapeOp op, PatternRewriter &rewriter) const override {
    auto resultType = dyn_cast<RankedTensorType>(op.getType());
    if (!resultType || !resultType.hasStaticShape())
      return rewriter.notifyMatchFailure(op, "result shape is not static");
    if (matchPattern(op.getShape(), m_Constant()))
      return rewriter.notifyMatchFailure(op, "shape is already constant");
    auto shapeType = RankedTensorType::get({resultType.getRank()}, rewriter.getI64Type());
    auto shape = ConstantOp::create(rewriter, op.getLoc(),
                                    makeInts(shapeType, resultType.getShape()));
    rewriter.modifyOpInPlace(op, [&] {
      op.getShapeMutable().assign(shape);
      op.setAllowzero(1); // the sizes are exact, 0 included
    });
    return success();
  }
};
} // namespace

void ReshapeOp::getCanonicalizationPatterns(RewritePatternSet &results,
                                            MLIRContext *context) {
  results.add<FoldDoubleReshape, MaterializeStaticReshapeShape>(context);
}
