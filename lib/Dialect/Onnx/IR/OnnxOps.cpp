//===- OnnxOps.cpp - onnx dialect: ops, result-type inference -------------===//
//
// Each op's result types are computed from its operand types, attributes and
// constant operand values (InferResultTypesOpInterface); the verifier checks
// results against them. Folders live in OnnxFold.cpp.
//
//===----------------------------------------------------------------------===//

#include "lowbit/Dialect/Onnx/IR/Onnx.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/DialectImplementation.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "mlir/IR/Matchers.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/Sequence.h"
#include "llvm/ADT/TypeSwitch.h"

#include <numeric>

using namespace mlir;
using namespace lowbit::onnx;

#include "lowbit/Dialect/Onnx/IR/OnnxOpsDialect.cpp.inc"
#include "lowbit/Dialect/Onnx/IR/OnnxInterfaces.cpp.inc"

void OnnxDialect::initialize() {
  addOperations<
#define GET_OP_LIST
#include "lowbit/Dialect/Onnx/IR/OnnxOps.cpp.inc"
      >();
}

Operation *OnnxDialect::materializeConstant(OpBuilder &builder, Attribute value,
                                            Type type, Location loc) {
  auto elements = dyn_cast<ElementsAttr>(value);
  if (!elements || elements.getType() != type)
    return nullptr;
  return ConstantOp::create(builder, loc, elements);
}

//===----------------------------------------------------------------------===//
// Shape helpers
//===----------------------------------------------------------------------===//

namespace {
constexpr int64_t kDynamic = ShapedType::kDynamic;

Type elementTypeOf(Value v) {
  return cast<ShapedType>(v.getType()).getElementType();
}

/// The shape of a ranked tensor value, or nullopt when unranked.
std::optional<SmallVector<int64_t>> shapeOf(Value v) {
  if (auto ranked = dyn_cast<RankedTensorType>(v.getType()))
    return SmallVector<int64_t>(ranked.getShape());
  return std::nullopt;
}

/// The static length of a 1-D tensor value (a shape, axes or starts
/// operand), or nullopt.
std::optional<int64_t> staticLength(Value v) {
  auto shape = shapeOf(v);
  if (!shape || shape->size() != 1 || ShapedType::isDynamic((*shape)[0]))
    return std::nullopt;
  return (*shape)[0];
}

/// A tensor type of `shape` (unranked when nullopt).
Type tensorOf(std::optional<ArrayRef<int64_t>> shape, Type element) {
  if (!shape)
    return UnrankedTensorType::get(element);
  return RankedTensorType::get(*shape, element);
}


/// Maps `axis` in [-rank, rank-1] (or [-rank, rank] with `inclusiveEnd`) to a
/// non-negative axis, or emits an error naming `what`.
FailureOr<int64_t> normalizeAxis(Operation *op, int64_t axis, int64_t rank,
                                 StringRef what, bool inclusiveEnd = false) {
  int64_t upper = inclusiveEnd ? rank : rank - 1;
  if (axis < -rank || axis > upper)
    return op->emitOpError() << what << " " << axis << " is out of range [" << -rank
                             << ", " << upper << "] for rank " << rank;
  return axis < 0 ? axis + rank : axis;
}

/// Multidirectional broadcast of shapes (see Onnx_BroadcastOp).
FailureOr<SmallVector<int64_t>>
broadcastShapes(Operation *op, ArrayRef<SmallVector<int64_t>> shapes) {
  size_t rank = 0;
  for (const auto &s : shapes)
    rank = std::max(rank, s.size());
  SmallVector<int64_t> result(rank, 1);
  for (size_t i = 0; i < rank; ++i) {
    int64_t staticSize = 1; // the non-1 static size seen, if any
    bool sawDynamic = false;
    for (const auto &s : shapes) {
      if (i + s.size() < rank)
        continue; // this shape is padded with a leading 1 here
      int64_t d = s[i + s.size() - rank];
      if (ShapedType::isDynamic(d)) {
        sawDynamic = true;
      } else if (d != 1) {
        if (staticSize != 1 && staticSize != d) {
          auto diag = op->emitOpError("operands are not broadcast-compatible: ");
          llvm::interleave(
              shapes, diag,
              [&](const SmallVector<int64_t> &s) {
                diag << "[";
                llvm::interleaveComma(s, diag, [&](int64_t x) {
                  if (ShapedType::isDynamic(x))
                    diag << "?";
                  else
                    diag << x;
                });
                diag << "]";
              },
              " vs ");
          return diag;
        }
        staticSize = d;
      }
    }
    result[i] = staticSize != 1 ? staticSize : (sawDynamic ? kDynamic : 1);
  }
  return result;
}

/// Numpy-style clamped slice length along one dimension.
int64_t sliceLength(int64_t dim, int64_t start, int64_t end, int64_t step) {
  auto clamp = [&](int64_t v, int64_t lo, int64_t hi) {
    return std::min(std::max(v, lo), hi);
  };
  if (start < 0)
    start += dim;
  if (end < 0)
    end += dim;
  if (step > 0) {
    start = clamp(start, 0, dim);
    end = clamp(end, 0, dim);
    return end > start ? (end - start + step - 1) / step : 0;
  }
  start = clamp(start, -1, dim - 1);
  end = clamp(end, -1, dim - 1);
  return start > end ? (start - end - step - 1) / -step : 0;
}

/// Whether `v` is a rank-0 or single-element tensor.
bool isScalarLike(Value v) {
  auto ranked = dyn_cast<RankedTensorType>(v.getType());
  if (!ranked)
    return true;
  return ranked.getRank() == 0 ||
         (ranked.getRank() == 1 && ranked.getDimSize(0) <= 1);
}
} // namespace

Value lowbit::onnx::createI64Vector(OpBuilder &b, Location loc, ArrayRef<int64_t> values) {
  auto type = RankedTensorType::get({int64_t(values.size())}, b.getI64Type());
  return ConstantOp::create(b, loc, cast<ElementsAttr>(DenseElementsAttr::get(type, values)));
}

Value lowbit::onnx::shapeReadOf(OpBuilder &b, ShapeOp read, Value fullShape, int64_t rank) {
  auto [start, end] = read.getDimRange(rank);
  if (start == 0 && end == rank)
    return fullShape;
  Location loc = read.getLoc();
  return SliceOp::create(b, loc, read.getType(), fullShape, createI64Vector(b, loc, {start}),
                         createI64Vector(b, loc, {end}), createI64Vector(b, loc, {0}), Value());
}

std::optional<SmallVector<int64_t>> lowbit::onnx::getConstantIntValues(Value v) {
  Attribute attr;
  if (!matchPattern(v, m_Constant(&attr)))
    return std::nullopt;
  auto elements = dyn_cast<ElementsAttr>(attr);
  if (!elements || !elements.getElementType().isInteger())
    return std::nullopt;
  if (auto dense = dyn_cast<DenseIntElementsAttr>(elements)) {
    SmallVector<int64_t> values;
    for (const APInt &x : dense.getValues<APInt>())
      values.push_back(x.getBitWidth() == 1 ? x.getZExtValue() : x.getSExtValue());
    return values;
  }
  if (auto resource = dyn_cast<DenseI64ResourceElementsAttr>(elements)) {
    if (auto data = resource.tryGetAsArrayRef())
      return SmallVector<int64_t>(*data);
  }
  if (auto resource = dyn_cast<DenseI32ResourceElementsAttr>(elements)) {
    if (auto data = resource.tryGetAsArrayRef())
      return SmallVector<int64_t>(data->begin(), data->end());
  }
  return std::nullopt;
}

bool lowbit::onnx::isCompatibleResultType(Type actual, Type inferred) {
  auto a = dyn_cast<ShapedType>(actual), b = dyn_cast<ShapedType>(inferred);
  if (!a || !b)
    return actual == inferred;
  if (a.getElementType() != b.getElementType())
    return false;
  if (!a.hasRank() || !b.hasRank())
    return true;
  if (a.getRank() != b.getRank())
    return false;
  for (auto [x, y] : llvm::zip(a.getShape(), b.getShape()))
    if (!ShapedType::isDynamic(x) && !ShapedType::isDynamic(y) && x != y)
      return false;
  return true;
}

Type lowbit::onnx::meetTypes(Type a, Type b) {
  if (!isCompatibleResultType(a, b))
    return nullptr;
  auto sa = dyn_cast<ShapedType>(a), sb = dyn_cast<ShapedType>(b);
  if (!sa || !sa.hasRank())
    return b;
  if (!sb || !sb.hasRank())
    return a;
  SmallVector<int64_t> shape(sa.getShape());
  for (auto [i, d] : llvm::enumerate(sb.getShape()))
    if (ShapedType::isDynamic(shape[i]))
      shape[i] = d;
  return RankedTensorType::get(shape, sa.getElementType());
}

static thread_local int deferredResultTypeVerification = 0;
DeferResultTypeVerification::DeferResultTypeVerification() {
  ++deferredResultTypeVerification;
}
DeferResultTypeVerification::~DeferResultTypeVerification() {
  --deferredResultTypeVerification;
}
bool DeferResultTypeVerification::isActive() { return deferredResultTypeVerification > 0; }

LogicalResult lowbit::onnx::verifyInferredResultTypes(Operation *op) {
  if (DeferResultTypeVerification::isActive())
    return success();
  SmallVector<Type> inferred;
  if (failed(cast<InferResultTypesOpInterface>(op).inferResultTypes(inferred)))
    return failure();
  if (inferred.size() != op->getNumResults())
    return op->emitOpError() << "has " << op->getNumResults()
                             << " results but " << inferred.size() << " were inferred";
  for (auto [i, result] : llvm::enumerate(op->getResults())) {
    if (!isCompatibleResultType(result.getType(), inferred[i]))
      return op->emitOpError() << "result #" << i << " has type "
                               << result.getType()
                               << ", which contradicts the inferred type "
                               << inferred[i];
  }
  return success();
}

LogicalResult lowbit::onnx::inferBroadcastResult(Operation *op,
                                                 bool sameElementType,
                                                 bool boolResult,
                                                 SmallVectorImpl<Type> &inferred) {
  Type element = elementTypeOf(op->getOperand(0));
  SmallVector<SmallVector<int64_t>> shapes;
  bool allRanked = true;
  for (Value operand : op->getOperands()) {
    if (sameElementType && elementTypeOf(operand) != element)
      return op->emitOpError() << "operands must have one element type, got "
                               << element << " and " << elementTypeOf(operand);
    if (auto shape = shapeOf(operand))
      shapes.push_back(*shape);
    else
      allRanked = false;
  }
  Type resultElement = boolResult ? IntegerType::get(op->getContext(), 1) : element;
  if (!allRanked) {
    // Shapes that are known must still be compatible with each other.
    if (failed(broadcastShapes(op, shapes)))
      return failure();
    inferred.push_back(UnrankedTensorType::get(resultElement));
    return success();
  }
  auto shape = broadcastShapes(op, shapes);
  if (failed(shape))
    return failure();
  inferred.push_back(RankedTensorType::get(*shape, resultElement));
  return success();
}

LogicalResult lowbit::onnx::inferReduceResult(Operation *op, Value axes,
                                              int64_t keepdims,
                                              int64_t noopWithEmptyAxes,
                                              SmallVectorImpl<Type> &inferred) {
  Value data = op->getOperand(0);
  Type element = elementTypeOf(data);
  auto shape = shapeOf(data);
  std::optional<SmallVector<int64_t>> axisValues;
  if (!axes)
    axisValues.emplace();
  else
    axisValues = getConstantIntValues(axes);
  if (!shape) {
    inferred.push_back(UnrankedTensorType::get(element));
    return success();
  }
  int64_t rank = shape->size();
  if (!axisValues) {
    // Unknown axes: with keepdims the rank stays; without, it drops by their
    // count when that is static (a non-empty list); sizes become unknown.
    auto axesType = dyn_cast<RankedTensorType>(axes.getType());
    int64_t count = axesType && axesType.getRank() == 1 ? axesType.getDimSize(0) : kDynamic;
    if (keepdims)
      inferred.push_back(tensorOf(SmallVector<int64_t>(rank, kDynamic), element));
    else if (count != kDynamic && count > 0 && count <= rank)
      inferred.push_back(tensorOf(SmallVector<int64_t>(rank - count, kDynamic), element));
    else
      inferred.push_back(UnrankedTensorType::get(element));
    return success();
  }
  if (axisValues->empty() && noopWithEmptyAxes) {
    inferred.push_back(data.getType());
    return success();
  }
  SmallVector<bool> reduced(rank, axisValues->empty());
  for (int64_t axis : *axisValues) {
    auto a = normalizeAxis(op, axis, rank, "axis");
    if (failed(a))
      return failure();
    if (reduced[*a] && !axisValues->empty())
      return op->emitOpError() << "axis " << axis << " appears more than once";
    reduced[*a] = true;
  }
  SmallVector<int64_t> result;
  for (int64_t i = 0; i < rank; ++i) {
    if (!reduced[i])
      result.push_back((*shape)[i]);
    else if (keepdims)
      result.push_back(1);
  }
  inferred.push_back(RankedTensorType::get(result, element));
  return success();
}

//===----------------------------------------------------------------------===//
// Constants and shapes
//===----------------------------------------------------------------------===//

ParseResult ConstantOp::parse(OpAsmParser &parser, OperationState &result) {
  ElementsAttr value;
  if (parser.parseAttribute(value, "value", result.attributes) ||
      parser.parseOptionalAttrDict(result.attributes))
    return failure();
  result.addTypes(value.getType());
  return success();
}

void ConstantOp::print(OpAsmPrinter &printer) {
  printer << ' ';
  printer.printAttribute(getValue());
  printer.printOptionalAttrDict((*this)->getAttrs(), {"value"});
}

LogicalResult ConstantOp::inferResultTypes(SmallVectorImpl<Type> &inferred) {
  inferred.push_back(getValue().getType());
  return success();
}

LogicalResult ConstantOfShapeOp::inferResultTypes(SmallVectorImpl<Type> &inferred) {
  Type element = Float32Type::get(getContext());
  if (auto value = getValueAttr()) {
    if (value.getNumElements() != 1)
      return emitOpError("value must have exactly one element");
    element = value.getElementType();
  }
  if (auto dims = getConstantIntValues(getInput())) {
    if (llvm::any_of(*dims, [](int64_t d) { return d < 0; }))
      return emitOpError("shape entries must be non-negative");
    inferred.push_back(RankedTensorType::get(*dims, element));
    return success();
  }
  if (auto rank = staticLength(getInput())) {
    inferred.push_back(RankedTensorType::get(SmallVector<int64_t>(*rank, kDynamic), element));
    return success();
  }
  inferred.push_back(UnrankedTensorType::get(element));
  return success();
}

std::pair<int64_t, int64_t> ShapeOp::getDimRange(int64_t rank) {
  auto clamp = [&](int64_t v) {
    if (v < 0)
      v += rank;
    return std::min(std::max(v, int64_t(0)), rank);
  };
  int64_t start = clamp(getStart());
  int64_t end = clamp(getEnd().value_or(rank));
  return {start, std::max(start, end)};
}

LogicalResult ShapeOp::inferResultTypes(SmallVectorImpl<Type> &inferred) {
  auto i64 = IntegerType::get(getContext(), 64);
  auto shape = shapeOf(getData());
  if (!shape) {
    inferred.push_back(RankedTensorType::get({kDynamic}, i64));
    return success();
  }
  auto [start, end] = getDimRange(shape->size());
  inferred.push_back(RankedTensorType::get({end - start}, i64));
  return success();
}

LogicalResult CastOp::inferResultTypes(SmallVectorImpl<Type> &inferred) {
  inferred.push_back(tensorOf(shapeOf(getInput()), getTo()));
  return success();
}

/// A scalar constant as a double, for Range.
static std::optional<double> getConstantScalar(Value v) {
  Attribute attr;
  if (!matchPattern(v, m_Constant(&attr)))
    return std::nullopt;
  auto dense = dyn_cast<DenseElementsAttr>(attr);
  if (!dense || dense.getNumElements() != 1)
    return std::nullopt;
  if (isa<FloatType>(dense.getElementType()))
    return (*dense.getValues<APFloat>().begin()).convertToDouble();
  if (dense.getElementType().isInteger())
    return double((*dense.getValues<APInt>().begin()).getSExtValue());
  return std::nullopt;
}

LogicalResult RangeOp::inferResultTypes(SmallVectorImpl<Type> &inferred) {
  Type element = elementTypeOf(getStart());
  for (Value v : {getStart(), getLimit(), getDelta()}) {
    if (elementTypeOf(v) != element)
      return emitOpError("start, limit and delta must have one element type");
    if (!isScalarLike(v))
      return emitOpError("start, limit and delta must be scalars");
  }
  auto start = getConstantScalar(getStart()), limit = getConstantScalar(getLimit()),
       delta = getConstantScalar(getDelta());
  int64_t length = kDynamic;
  if (start && limit && delta) {
    if (*delta == 0)
      return emitOpError("delta must not be zero");
    length = std::max<int64_t>(int64_t(std::ceil((*limit - *start) / *delta)), 0);
  }
  inferred.push_back(RankedTensorType::get({length}, element));
  return success();
}

//===----------------------------------------------------------------------===//
// Elementwise
//===----------------------------------------------------------------------===//

LogicalResult WhereOp::inferResultTypes(SmallVectorImpl<Type> &inferred) {
  if (elementTypeOf(getX()) != elementTypeOf(getY()))
    return emitOpError() << "X and Y must have one element type, got "
                         << elementTypeOf(getX()) << " and " << elementTypeOf(getY());
  SmallVector<SmallVector<int64_t>> shapes;
  for (Value v : getOperands()) {
    auto s = shapeOf(v);
    if (!s) {
      inferred.push_back(UnrankedTensorType::get(elementTypeOf(getX())));
      return success();
    }
    shapes.push_back(*s);
  }
  auto shape = broadcastShapes(*this, shapes);
  if (failed(shape))
    return failure();
  inferred.push_back(RankedTensorType::get(*shape, elementTypeOf(getX())));
  return success();
}

LogicalResult GeluOp::verify() {
  if (getApproximate() != "none" && getApproximate() != "tanh")
    return emitOpError() << "approximate must be \"none\" or \"tanh\", got \""
                         << getApproximate() << "\"";
  return success();
}

LogicalResult ClipOp::verify() {
  for (Value bound : {getMin(), getMax()}) {
    if (!bound)
      continue;
    if (elementTypeOf(bound) != elementTypeOf(getInput()))
      return emitOpError("min and max must have the input's element type");
    if (!isScalarLike(bound))
      return emitOpError("min and max must be scalars");
  }
  return success();
}

//===----------------------------------------------------------------------===//
// Normalization
//===----------------------------------------------------------------------===//

/// Checks `axis` against the rank of `input` when it is known.
static LogicalResult verifyAxis(Operation *op, Value input, int64_t axis) {
  auto shape = shapeOf(input);
  if (!shape)
    return success();
  return normalizeAxis(op, axis, shape->size(), "axis");
}

template <typename OpTy>
static LogicalResult verifySoftmaxLike(OpTy op) {
  return verifyAxis(op, op.getInput(), op.getAxis());
}
LogicalResult SoftmaxOp::verify() { return verifySoftmaxLike(*this); }
LogicalResult LogSoftmaxOp::verify() { return verifySoftmaxLike(*this); }

LogicalResult LayerNormalizationOp::verify() {
  if (getNumResults() < 1 || getNumResults() > 3)
    return emitOpError() << "has " << getNumResults()
                         << " results; expected Y and optionally Mean and InvStdDev";
  return verifyAxis(*this, getX(), getAxis());
}

LogicalResult
LayerNormalizationOp::inferResultTypes(SmallVectorImpl<Type> &inferred) {
  if (elementTypeOf(getScale()) != elementTypeOf(getX()) ||
      (getB() && elementTypeOf(getB()) != elementTypeOf(getX())))
    return emitOpError("X, Scale and B must have one element type");
  inferred.push_back(getX().getType());
  if (getNumResults() == 1)
    return success();
  Type statsElement = getStashType() == 1 ? Float32Type::get(getContext())
                                          : elementTypeOf(getX());
  Type stats = UnrankedTensorType::get(statsElement);
  if (auto shape = shapeOf(getX())) {
    auto axis = normalizeAxis(*this, getAxis(), shape->size(), "axis");
    if (failed(axis))
      return failure();
    SmallVector<int64_t> statsShape(*shape);
    for (int64_t i = *axis; i < int64_t(shape->size()); ++i)
      statsShape[i] = 1;
    stats = RankedTensorType::get(statsShape, statsElement);
  }
  for (unsigned i = 1; i < getNumResults(); ++i)
    inferred.push_back(stats);
  return success();
}

LogicalResult RMSNormalizationOp::verify() {
  if (elementTypeOf(getScale()) != elementTypeOf(getX()))
    return emitOpError("X and scale must have one element type");
  return verifyAxis(*this, getX(), getAxis());
}

//===----------------------------------------------------------------------===//
// Linear algebra
//===----------------------------------------------------------------------===//

/// numpy.matmul shape rule shared by MatMul and MatMulInteger.
static LogicalResult inferMatMulShape(Operation *op, Value a, Value b,
                                      Type element, SmallVectorImpl<Type> &inferred) {
  auto sa = shapeOf(a), sb = shapeOf(b);
  if (!sa || !sb) {
    inferred.push_back(UnrankedTensorType::get(element));
    return success();
  }
  if (sa->empty() || sb->empty())
    return op->emitOpError("operands must have rank 1 or more");
  bool promoteA = sa->size() == 1, promoteB = sb->size() == 1;
  SmallVector<int64_t> ma(*sa), mb(*sb);
  if (promoteA)
    ma.insert(ma.begin(), 1);
  if (promoteB)
    mb.push_back(1);
  int64_t k1 = ma.back(), k2 = mb[mb.size() - 2];
  if (!ShapedType::isDynamic(k1) && !ShapedType::isDynamic(k2) && k1 != k2)
    return op->emitOpError() << "contracted dimensions differ: " << k1 << " vs " << k2;
  SmallVector<int64_t> batchA(ma.begin(), ma.end() - 2), batchB(mb.begin(), mb.end() - 2);
  auto batch = broadcastShapes(op, {batchA, batchB});
  if (failed(batch))
    return failure();
  SmallVector<int64_t> result(*batch);
  if (!promoteA)
    result.push_back(ma[ma.size() - 2]);
  if (!promoteB)
    result.push_back(mb.back());
  inferred.push_back(RankedTensorType::get(result, element));
  return success();
}

LogicalResult MatMulOp::inferResultTypes(SmallVectorImpl<Type> &inferred) {
  if (elementTypeOf(getA()) != elementTypeOf(getB()))
    return emitOpError() << "A and B must have one element type, got "
                         << elementTypeOf(getA()) << " and " << elementTypeOf(getB());
  return inferMatMulShape(*this, getA(), getB(), elementTypeOf(getA()), inferred);
}

LogicalResult MatMulIntegerOp::inferResultTypes(SmallVectorImpl<Type> &inferred) {
  for (Value v : {getA(), getB()}) {
    auto t = dyn_cast<IntegerType>(elementTypeOf(v));
    if (!t || t.getWidth() != 8)
      return emitOpError("A and B must be 8-bit integer tensors");
  }
  if ((getAZeroPoint() && elementTypeOf(getAZeroPoint()) != elementTypeOf(getA())) ||
      (getBZeroPoint() && elementTypeOf(getBZeroPoint()) != elementTypeOf(getB())))
    return emitOpError("a zero point must have its operand's element type");
  return inferMatMulShape(*this, getA(), getB(), IntegerType::get(getContext(), 32),
                          inferred);
}

LogicalResult MatMulNBitsOp::inferResultTypes(SmallVectorImpl<Type> &inferred) {
  int64_t k = getK(), n = getN(), bits = getBits(), block = getBlockSize();
  if (k < 1 || n < 1 || block < 1)
    return emitOpError() << "K, N and block_size must be positive, got " << k << ", " << n
                         << " and " << block;
  if (bits != 2 && bits != 4 && bits != 8)
    return emitOpError() << "bits must be 2, 4 or 8, got " << bits;
  if (block * bits % 8 != 0)
    return emitOpError() << "block_size " << block << " does not fill whole bytes at " << bits
                         << " bits";
  Type element = elementTypeOf(getA());
  if (elementTypeOf(getScales()) != element || (getBias() && elementTypeOf(getBias()) != element))
    return emitOpError("A, scales and bias must have one element type");
  auto isByte = [](Type t) {
    auto integer = dyn_cast<IntegerType>(t);
    return integer && integer.getWidth() == 8;
  };
  if (!isByte(elementTypeOf(getB())))
    return emitOpError("B must be an 8-bit integer tensor");
  if (Value zp = getZeroPoints(); zp && !isByte(elementTypeOf(zp)) && elementTypeOf(zp) != element)
    return emitOpError("zero_points must be 8-bit integers or of the scales' type");
  int64_t blocks = (k + block - 1) / block;
  if (auto sb = shapeOf(getB())) {
    SmallVector<int64_t> expected = {n, blocks, block * bits / 8};
    if (sb->size() != 3 || llvm::any_of(llvm::zip(*sb, expected), [](auto pair) {
          auto [actual, wanted] = pair;
          return !ShapedType::isDynamic(actual) && actual != wanted;
        }))
      return emitOpError() << "B must be [N, ceil(K / block_size), block_size * bits / 8] = [" << n
                           << ", " << blocks << ", " << block * bits / 8 << "]";
  }
  auto sa = shapeOf(getA());
  if (!sa) {
    inferred.push_back(UnrankedTensorType::get(element));
    return success();
  }
  if (sa->empty() || (!ShapedType::isDynamic(sa->back()) && sa->back() != k))
    return emitOpError() << "A's last dimension must be K = " << k;
  SmallVector<int64_t> result(*sa);
  result.back() = n;
  inferred.push_back(RankedTensorType::get(result, element));
  return success();
}

LogicalResult GemmOp::inferResultTypes(SmallVectorImpl<Type> &inferred) {
  Type element = elementTypeOf(getA());
  if (elementTypeOf(getB()) != element || (getC() && elementTypeOf(getC()) != element))
    return emitOpError("A, B and C must have one element type");
  auto sa = shapeOf(getA()), sb = shapeOf(getB());
  if ((sa && sa->size() != 2) || (sb && sb->size() != 2))
    return emitOpError("A and B must be 2-D");
  int64_t m = sa ? (*sa)[getTransA() ? 1 : 0] : kDynamic;
  int64_t ka = sa ? (*sa)[getTransA() ? 0 : 1] : kDynamic;
  int64_t kb = sb ? (*sb)[getTransB() ? 1 : 0] : kDynamic;
  int64_t n = sb ? (*sb)[getTransB() ? 0 : 1] : kDynamic;
  if (!ShapedType::isDynamic(ka) && !ShapedType::isDynamic(kb) && ka != kb)
    return emitOpError() << "contracted dimensions differ: " << ka << " vs " << kb;
  SmallVector<int64_t> result{m, n};
  if (getC()) {
    if (auto sc = shapeOf(getC())) {
      if (sc->size() > 2)
        return emitOpError("C must have rank 2 or less");
      auto shape = broadcastShapes(*this, {result, *sc});
      if (failed(shape))
        return failure();
      result = *shape;
    }
  }
  inferred.push_back(RankedTensorType::get(result, element));
  return success();
}

//===----------------------------------------------------------------------===//
// Data movement
//===----------------------------------------------------------------------===//

LogicalResult GatherOp::inferResultTypes(SmallVectorImpl<Type> &inferred) {
  Type element = elementTypeOf(getData());
  auto data = shapeOf(getData()), indices = shapeOf(getIndices());
  if (!data || !indices) {
    inferred.push_back(UnrankedTensorType::get(element));
    return success();
  }
  if (data->empty())
    return emitOpError("data must have rank 1 or more");
  auto axis = normalizeAxis(*this, getAxis(), data->size(), "axis");
  if (failed(axis))
    return failure();
  SmallVector<int64_t> result(data->begin(), data->begin() + *axis);
  result.append(*indices);
  result.append(data->begin() + *axis + 1, data->end());
  inferred.push_back(RankedTensorType::get(result, element));
  return success();
}

LogicalResult TransposeOp::inferResultTypes(SmallVectorImpl<Type> &inferred) {
  Type element = elementTypeOf(getData());
  auto shape = shapeOf(getData());
  if (!shape) {
    inferred.push_back(UnrankedTensorType::get(element));
    return success();
  }
  int64_t rank = shape->size();
  SmallVector<int64_t> perm;
  if (auto attr = getPermAttr())
    perm.assign(attr.asArrayRef().begin(), attr.asArrayRef().end());
  else
    for (int64_t i = rank - 1; i >= 0; --i)
      perm.push_back(i);
  if (int64_t(perm.size()) != rank)
    return emitOpError() << "perm has " << perm.size() << " entries for rank " << rank;
  SmallVector<bool> seen(rank, false);
  SmallVector<int64_t> result;
  for (int64_t p : perm) {
    if (p < 0 || p >= rank || seen[p])
      return emitOpError("perm must be a permutation of [0, rank)");
    seen[p] = true;
    result.push_back((*shape)[p]);
  }
  inferred.push_back(RankedTensorType::get(result, element));
  return success();
}

static int64_t productOrDynamic(ArrayRef<int64_t> dims) {
  int64_t product = 1;
  for (int64_t d : dims) {
    if (ShapedType::isDynamic(d))
      return kDynamic;
    product *= d;
  }
  return product;
}

LogicalResult ReshapeOp::inferResultTypes(SmallVectorImpl<Type> &inferred) {
  Type element = elementTypeOf(getData());
  auto input = shapeOf(getData());
  auto target = getConstantIntValues(getShape());
  if (!target) {
    if (auto rank = staticLength(getShape()))
      inferred.push_back(RankedTensorType::get(SmallVector<int64_t>(*rank, kDynamic), element));
    else
      inferred.push_back(UnrankedTensorType::get(element));
    return success();
  }
  SmallVector<int64_t> result;
  int64_t inferIndex = -1;
  for (auto [i, d] : llvm::enumerate(*target)) {
    if (d == -1) {
      if (inferIndex >= 0)
        return emitOpError("shape may contain -1 at most once");
      inferIndex = i;
      result.push_back(kDynamic);
    } else if (d == 0 && !getAllowzero()) {
      if (!input)
        result.push_back(kDynamic);
      else if (i < input->size())
        result.push_back((*input)[i]);
      else
        return emitOpError() << "shape entry " << i
                             << " is 0 (copy) but the input has rank " << input->size();
    } else if (d < 0) {
      return emitOpError() << "shape entry " << i << " is " << d
                           << "; sizes must be non-negative or -1";
    } else {
      result.push_back(d);
    }
  }
  int64_t total = input ? productOrDynamic(*input) : kDynamic;
  if (inferIndex >= 0) {
    SmallVector<int64_t> known(result);
    known.erase(known.begin() + inferIndex);
    int64_t rest = productOrDynamic(known);
    if (!ShapedType::isDynamic(total) && !ShapedType::isDynamic(rest)) {
      if (rest == 0 || total % rest != 0)
        return emitOpError() << "cannot reshape " << total << " elements: the known sizes multiply to "
                             << rest;
      result[inferIndex] = total / rest;
    }
  } else if (!ShapedType::isDynamic(total)) {
    int64_t count = productOrDynamic(result);
    if (!ShapedType::isDynamic(count) && count != total)
      return emitOpError() << "cannot reshape " << total << " elements into "
                           << count;
  }
  inferred.push_back(RankedTensorType::get(result, element));
  return success();
}

LogicalResult FlattenOp::inferResultTypes(SmallVectorImpl<Type> &inferred) {
  Type element = elementTypeOf(getInput());
  auto shape = shapeOf(getInput());
  if (!shape) {
    inferred.push_back(RankedTensorType::get({kDynamic, kDynamic}, element));
    return success();
  }
  auto axis = normalizeAxis(*this, getAxis(), shape->size(), "axis", true);
  if (failed(axis))
    return failure();
  ArrayRef<int64_t> dims(*shape);
  inferred.push_back(RankedTensorType::get(
      {productOrDynamic(dims.take_front(*axis)), productOrDynamic(dims.drop_front(*axis))},
      element));
  return success();
}

LogicalResult SqueezeOp::inferResultTypes(SmallVectorImpl<Type> &inferred) {
  Type element = elementTypeOf(getData());
  auto shape = shapeOf(getData());
  std::optional<SmallVector<int64_t>> axes;
  if (getAxes())
    axes = getConstantIntValues(getAxes());
  if (!shape || (getAxes() && !axes)) {
    inferred.push_back(UnrankedTensorType::get(element));
    return success();
  }
  int64_t rank = shape->size();
  SmallVector<bool> drop(rank, false);
  if (!getAxes()) {
    for (int64_t i = 0; i < rank; ++i) {
      if (ShapedType::isDynamic((*shape)[i])) {
        // Whether a dynamic dimension is squeezed is unknown until run time.
        inferred.push_back(UnrankedTensorType::get(element));
        return success();
      }
      drop[i] = (*shape)[i] == 1;
    }
  }
  for (int64_t a : axes.value_or(SmallVector<int64_t>())) {
    auto axis = normalizeAxis(*this, a, rank, "axis");
    if (failed(axis))
      return failure();
    int64_t d = (*shape)[*axis];
    if (!ShapedType::isDynamic(d) && d != 1)
      return emitOpError() << "cannot squeeze dimension " << *axis << " of size " << d;
    drop[*axis] = true;
  }
  SmallVector<int64_t> result;
  for (int64_t i = 0; i < rank; ++i)
    if (!drop[i])
      result.push_back((*shape)[i]);
  inferred.push_back(RankedTensorType::get(result, element));
  return success();
}

LogicalResult UnsqueezeOp::inferResultTypes(SmallVectorImpl<Type> &inferred) {
  Type element = elementTypeOf(getData());
  auto shape = shapeOf(getData());
  auto axes = getConstantIntValues(getAxes());
  if (!shape || !axes) {
    inferred.push_back(UnrankedTensorType::get(element));
    return success();
  }
  int64_t rank = shape->size() + axes->size();
  SmallVector<bool> inserted(rank, false);
  for (int64_t a : *axes) {
    auto axis = normalizeAxis(*this, a, rank, "axis");
    if (failed(axis))
      return failure();
    if (inserted[*axis])
      return emitOpError() << "axis " << a << " appears more than once";
    inserted[*axis] = true;
  }
  SmallVector<int64_t> result;
  auto next = shape->begin();
  for (int64_t i = 0; i < rank; ++i)
    result.push_back(inserted[i] ? 1 : *next++);
  inferred.push_back(RankedTensorType::get(result, element));
  return success();
}

LogicalResult ConcatOp::inferResultTypes(SmallVectorImpl<Type> &inferred) {
  if (getInputs().empty())
    return emitOpError("needs at least one input");
  Type element = elementTypeOf(getInputs()[0]);
  std::optional<SmallVector<int64_t>> result;
  for (Value input : getInputs()) {
    if (elementTypeOf(input) != element)
      return emitOpError("inputs must have one element type");
    auto shape = shapeOf(input);
    if (!shape)
      continue;
    auto axis = normalizeAxis(*this, getAxis(), shape->size(), "axis");
    if (failed(axis))
      return failure();
    if (!result) {
      result = *shape;
      continue;
    }
    if (result->size() != shape->size())
      return emitOpError("inputs must have one rank");
    for (size_t i = 0; i < shape->size(); ++i) {
      int64_t &r = (*result)[i], d = (*shape)[i];
      if (int64_t(i) == *axis)
        r = (ShapedType::isDynamic(r) || ShapedType::isDynamic(d)) ? kDynamic : r + d;
      else if (ShapedType::isDynamic(r))
        r = d;
      else if (!ShapedType::isDynamic(d) && r != d)
        return emitOpError() << "inputs differ in size at dimension " << i << ": " << r
                             << " vs " << d;
    }
  }
  if (result && llvm::any_of(getInputs(), [](Value v) { return !shapeOf(v); })) {
    auto axis = normalizeAxis(*this, getAxis(), result->size(), "axis");
    (*result)[*axis] = kDynamic; // an unranked input adds an unknown size
  }
  inferred.push_back(tensorOf(result, element));
  return success();
}

LogicalResult SplitOp::inferResultTypes(SmallVectorImpl<Type> &inferred) {
  Type element = elementTypeOf(getInput());
  int64_t count = getNumResults();
  if (count == 0)
    return emitOpError("needs at least one result");
  if (getNumOutputs() && *getNumOutputs() != count)
    return emitOpError() << "num_outputs is " << *getNumOutputs() << " but the op has "
                         << count << " results";
  auto shape = shapeOf(getInput());
  if (!shape) {
    inferred.append(count, UnrankedTensorType::get(element));
    return success();
  }
  auto axis = normalizeAxis(*this, getAxis(), shape->size(), "axis");
  if (failed(axis))
    return failure();
  int64_t dim = (*shape)[*axis];
  SmallVector<int64_t> sizes(count, kDynamic);
  if (getSplit()) {
    if (auto split = getConstantIntValues(getSplit())) {
      if (int64_t(split->size()) != count)
        return emitOpError() << "split has " << split->size() << " entries for " << count
                             << " results";
      if (llvm::any_of(*split, [](int64_t d) { return d < 0; }))
        return emitOpError("split sizes must be non-negative");
      int64_t sum = std::accumulate(split->begin(), split->end(), int64_t(0));
      if (!ShapedType::isDynamic(dim) && sum != dim)
        return emitOpError() << "split sizes sum to " << sum << " but the axis has size "
                             << dim;
      sizes = *split;
    }
  } else if (!ShapedType::isDynamic(dim)) {
    int64_t chunk = (dim + count - 1) / count;
    for (int64_t i = 0; i < count; ++i)
      sizes[i] = std::max<int64_t>(std::min(chunk, dim - i * chunk), 0);
  }
  for (int64_t size : sizes) {
    SmallVector<int64_t> s(*shape);
    s[*axis] = size;
    inferred.push_back(RankedTensorType::get(s, element));
  }
  return success();
}

LogicalResult SliceOp::inferResultTypes(SmallVectorImpl<Type> &inferred) {
  Type element = elementTypeOf(getData());
  auto shape = shapeOf(getData());
  if (!shape) {
    inferred.push_back(UnrankedTensorType::get(element));
    return success();
  }
  int64_t rank = shape->size();
  auto starts = getConstantIntValues(getStarts());
  auto ends = getConstantIntValues(getEnds());
  std::optional<SmallVector<int64_t>> axes, steps;
  axes = getAxes() ? getConstantIntValues(getAxes()) : std::nullopt;
  steps = getSteps() ? getConstantIntValues(getSteps()) : std::nullopt;
  if (!getAxes()) {
    // Default axes are [0, len(starts)); the length comes from the type.
    if (auto length = staticLength(getStarts()))
      axes = llvm::to_vector(llvm::seq<int64_t>(0, *length));
  }
  if (!getSteps() && axes)
    steps = SmallVector<int64_t>(axes->size(), 1);
  SmallVector<int64_t> result(*shape);
  if (!axes) {
    // Which dimensions are sliced is unknown: keep only the rank.
    inferred.push_back(RankedTensorType::get(SmallVector<int64_t>(rank, kDynamic), element));
    return success();
  }
  if ((starts && starts->size() != axes->size()) || (ends && ends->size() != axes->size()) ||
      (steps && steps->size() != axes->size()))
    return emitOpError("starts, ends, axes and steps must have one length");
  SmallVector<bool> seen(rank, false);
  for (size_t i = 0; i < axes->size(); ++i) {
    auto axis = normalizeAxis(*this, (*axes)[i], rank, "axis");
    if (failed(axis))
      return failure();
    if (seen[*axis])
      return emitOpError() << "axis " << (*axes)[i] << " appears more than once";
    seen[*axis] = true;
    if (steps && (*steps)[i] == 0)
      return emitOpError("steps must not be 0");
    int64_t dim = (*shape)[*axis];
    if (!starts || !ends || !steps || ShapedType::isDynamic(dim))
      result[*axis] = kDynamic;
    else
      result[*axis] = sliceLength(dim, (*starts)[i], (*ends)[i], (*steps)[i]);
  }
  inferred.push_back(RankedTensorType::get(result, element));
  return success();
}

LogicalResult ExpandOp::inferResultTypes(SmallVectorImpl<Type> &inferred) {
  Type element = elementTypeOf(getInput());
  auto shape = shapeOf(getInput());
  auto target = getConstantIntValues(getShape());
  if (!shape) {
    inferred.push_back(UnrankedTensorType::get(element));
    return success();
  }
  if (!target) {
    if (auto rank = staticLength(getShape()))
      inferred.push_back(RankedTensorType::get(
          SmallVector<int64_t>(std::max<int64_t>(*rank, shape->size()), kDynamic), element));
    else
      inferred.push_back(UnrankedTensorType::get(element));
    return success();
  }
  if (llvm::any_of(*target, [](int64_t d) { return d < 0; }))
    return emitOpError("shape entries must be non-negative");
  auto result = broadcastShapes(*this, {*shape, *target});
  if (failed(result))
    return failure();
  inferred.push_back(RankedTensorType::get(*result, element));
  return success();
}

LogicalResult TileOp::inferResultTypes(SmallVectorImpl<Type> &inferred) {
  Type element = elementTypeOf(getInput());
  auto shape = shapeOf(getInput());
  if (!shape) {
    inferred.push_back(UnrankedTensorType::get(element));
    return success();
  }
  SmallVector<int64_t> result(shape->size(), kDynamic);
  if (auto repeats = getConstantIntValues(getRepeats())) {
    if (repeats->size() != shape->size())
      return emitOpError() << "repeats has " << repeats->size() << " entries for rank "
                           << shape->size();
    for (size_t i = 0; i < shape->size(); ++i) {
      if ((*repeats)[i] < 0)
        return emitOpError("repeats must be non-negative");
      if (!ShapedType::isDynamic((*shape)[i]))
        result[i] = (*shape)[i] * (*repeats)[i];
    }
  }
  inferred.push_back(RankedTensorType::get(result, element));
  return success();
}

LogicalResult TriluOp::verify() {
  auto shape = shapeOf(getInput());
  if (shape && shape->size() < 2)
    return emitOpError("input must have rank 2 or more");
  if (getK() && !isScalarLike(getK()))
    return emitOpError("k must be a scalar");
  return success();
}

//===----------------------------------------------------------------------===//
// Quantization
//===----------------------------------------------------------------------===//

LogicalResult QuantizeLinearOp::inferResultTypes(SmallVectorImpl<Type> &inferred) {
  Type element = IntegerType::get(getContext(), 8, IntegerType::Unsigned);
  if (getYZeroPoint()) {
    element = elementTypeOf(getYZeroPoint());
    if (getOutputDtype() && *getOutputDtype() != element)
      return emitOpError("output_dtype must match the zero point's element type");
  } else if (getOutputDtype()) {
    element = *getOutputDtype();
  }
  inferred.push_back(tensorOf(shapeOf(getX()), element));
  return success();
}

LogicalResult DequantizeLinearOp::inferResultTypes(SmallVectorImpl<Type> &inferred) {
  if (getXZeroPoint() && elementTypeOf(getXZeroPoint()) != elementTypeOf(getX()))
    return emitOpError("x_zero_point must have x's element type");
  Type element = getOutputDtype() ? *getOutputDtype() : elementTypeOf(getXScale());
  inferred.push_back(tensorOf(shapeOf(getX()), element));
  return success();
}

LogicalResult
DynamicQuantizeLinearOp::inferResultTypes(SmallVectorImpl<Type> &inferred) {
  auto ui8 = IntegerType::get(getContext(), 8, IntegerType::Unsigned);
  inferred.push_back(tensorOf(shapeOf(getX()), ui8));
  inferred.push_back(RankedTensorType::get({}, Float32Type::get(getContext())));
  inferred.push_back(RankedTensorType::get({}, ui8));
  return success();
}

#define GET_OP_CLASSES
#include "lowbit/Dialect/Onnx/IR/OnnxOps.cpp.inc"
