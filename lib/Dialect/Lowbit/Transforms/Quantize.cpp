//===- Quantize.cpp - What the weight quantization passes share -----------===//

#include "Quantize.h"

#include "lowbit/Dialect/Lowbit/Transforms/Passes.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "mlir/IR/Matchers.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

#include <algorithm>
#include <cmath>
#include <limits>

using namespace mlir;
using namespace lowbit;
using namespace lowbit::quant;

bool lowbit::quant::readFloats(ElementsAttr value, std::vector<float> &out) {
  auto type = cast<ShapedType>(value.getType());
  if (!type.getElementType().isF32())
    return false;
  int64_t count = type.getNumElements();
  if (auto resource = dyn_cast<DenseResourceElementsAttr>(value)) {
    AsmResourceBlob *blob = resource.getRawHandle().getBlob();
    if (!blob || blob->getData().size() != size_t(count) * sizeof(float))
      return false;
    ArrayRef<char> data = blob->getData();
    out.resize(count);
    std::memcpy(out.data(), data.data(), data.size());
    return true;
  }
  if (auto dense = dyn_cast<DenseElementsAttr>(value)) {
    out.assign(dense.getValues<float>().begin(), dense.getValues<float>().end());
    return true;
  }
  return false;
}

FailureOr<std::vector<uint8_t>> lowbit::quant::constantBytes(Value value, unsigned bits) {
  ElementsAttr attr;
  if (!matchPattern(value, m_Constant(&attr)))
    return failure();
  auto type = cast<ShapedType>(attr.getType());
  auto element = dyn_cast<IntegerType>(type.getElementType());
  if (!element || element.getWidth() != bits)
    return failure();
  size_t count = size_t(type.getNumElements());
  if (auto resource = dyn_cast<DenseResourceElementsAttr>(attr); resource && bits == 8) {
    AsmResourceBlob *blob = resource.getRawHandle().getBlob();
    if (!blob || blob->getData().size() != count)
      return failure();
    return std::vector<uint8_t>(blob->getData().begin(), blob->getData().end());
  }
  auto dense = dyn_cast<DenseIntElementsAttr>(attr);
  if (!dense)
    return failure();
  std::vector<uint8_t> bytes;
  bytes.reserve(count);
  for (const APInt &v : dense.getValues<APInt>())
    bytes.push_back(uint8_t(v.getZExtValue()));
  return bytes;
}

namespace {
/// The constant a linear layer's weight comes from: the weight itself, or
/// the [N, K] constant it transposes (tied embeddings: the head multiplies
/// by Transpose(embedding)).
onnx::ConstantOp weightConstant(Value weight) {
  if (auto constant = weight.getDefiningOp<onnx::ConstantOp>())
    return constant;
  auto transpose = weight.getDefiningOp<onnx::TransposeOp>();
  if (!transpose || (transpose.getPerm() && *transpose.getPerm() != ArrayRef<int64_t>{1, 0}))
    return {};
  auto type = dyn_cast<RankedTensorType>(transpose.getData().getType());
  if (!type || type.getRank() != 2)
    return {};
  return transpose.getData().getDefiningOp<onnx::ConstantOp>();
}

std::string nodeName(Operation *op) {
  if (auto name = dyn_cast<NameLoc>(op->getLoc()))
    return name.getName().str();
  return "";
}

} // namespace

template <typename T>
ElementsAttr lowbit::quant::resourceAttr(RankedTensorType type, ArrayRef<T> data, StringRef key) {
  ArrayRef<char> bytes(reinterpret_cast<const char *>(data.data()), data.size() * sizeof(T));
  auto blob = HeapAsmResourceBlob::allocateAndCopyWithAlign(bytes, alignof(T));
  return cast<ElementsAttr>(DenseResourceElementsAttr::get(type, key, std::move(blob)));
}

template <typename T>
Value lowbit::quant::makeConstant(OpBuilder &b, Location loc, RankedTensorType type,
                                  ArrayRef<T> data, StringRef key) {
  return onnx::ConstantOp::create(b, loc, resourceAttr(type, data, key));
}
template ElementsAttr lowbit::quant::resourceAttr<float>(RankedTensorType, ArrayRef<float>,
                                                         StringRef);
template Value lowbit::quant::makeConstant<float>(OpBuilder &, Location, RankedTensorType,
                                                  ArrayRef<float>, StringRef);
template Value lowbit::quant::makeConstant<int8_t>(OpBuilder &, Location, RankedTensorType,
                                                   ArrayRef<int8_t>, StringRef);

void lowbit::quant::forEachLinearLayer(func::FuncOp func, const LayerSelection &selection,
                                       function_ref<void(onnx::MatMulOp, StringRef)> visit) {
  SmallVector<std::pair<onnx::MatMulOp, std::string>> layers;
  std::vector<bool> onlyMatched(selection.only.size()), excludeMatched(selection.exclude.size());
  // Which of `patterns` the names contain; records the matches.
  auto matches = [](ArrayRef<std::string> patterns, std::vector<bool> &matched, StringRef name,
                    StringRef weightName) {
    bool any = false;
    for (auto [i, pattern] : llvm::enumerate(patterns))
      if (!pattern.empty() && (name.contains(pattern) || weightName.contains(pattern)))
        any = matched[i] = true;
    return any;
  };
  func.walk([&](onnx::MatMulOp op) {
    auto constant = weightConstant(op.getB());
    auto type = dyn_cast<RankedTensorType>(op.getB().getType());
    if (!constant || !type || type.getRank() != 2 || !type.hasStaticShape() ||
        !type.getElementType().isF32() || op->hasAttr(kKeepFloat))
      return;
    // The node's name, else the weight's, else (IR saved without
    // locations) the name calibration gave the layer's tap.
    std::string name = nodeName(op), weightName = nodeName(constant);
    if (name.empty())
      name = weightName;
    if (auto tap = op.getA().getDefiningOp<CalibrationTapOp>(); tap && name.empty())
      name = tap.getName().str();
    bool included =
        selection.only.empty() || matches(selection.only, onlyMatched, name, weightName);
    if (matches(selection.exclude, excludeMatched, name, weightName) || !included)
      return;
    layers.push_back({op, name});
  });
  for (auto [i, pattern] : llvm::enumerate(selection.only))
    if (!onlyMatched[i])
      func.emitWarning() << "layers=" << pattern << " matches no linear layer";
  for (auto [i, pattern] : llvm::enumerate(selection.exclude))
    if (!excludeMatched[i])
      func.emitWarning() << "exclude=" << pattern << " matches no linear layer";
  for (auto &[op, name] : layers) // after the walk: visit may rewrite the IR
    visit(op, name);
}

std::vector<std::pair<std::string, int64_t>> lowbit::linearLayerStages(func::FuncOp func) {
  // The deepest stage of linear layer each value depends on, plus one.
  llvm::DenseMap<Value, int64_t> depth;
  llvm::DenseMap<Operation *, int64_t> stageOf;
  quant::forEachLinearLayer(func, {}, [&](onnx::MatMulOp op, StringRef) { stageOf[op] = 0; });
  func.walk([&](Operation *op) {
    int64_t deepest = 0;
    for (Value operand : op->getOperands())
      deepest = std::max(deepest, depth.lookup(operand));
    auto stage = stageOf.find(op);
    if (stage != stageOf.end())
      stage->second = deepest;
    for (Value result : op->getResults())
      depth[result] = deepest + (stage != stageOf.end());
  });
  std::vector<std::pair<std::string, int64_t>> stages;
  quant::forEachLinearLayer(func, {}, [&](onnx::MatMulOp op, StringRef name) {
    stages.push_back({name.str(), stageOf.lookup(op)});
  });
  return stages;
}

std::string lowbit::quant::describe(const LinearLayer &layer) {
  return layer.name.empty() ? "a linear layer" : "layer '" + layer.name + "'";
}

std::vector<LinearLayer> lowbit::quant::findLinearLayers(func::FuncOp func,
                                                         const LayerSelection &selection) {
  std::vector<LinearLayer> layers;
  forEachLinearLayer(func, selection, [&](onnx::MatMulOp op, StringRef name) {
    auto type = cast<RankedTensorType>(op.getB().getType());
    LinearLayer layer;
    layer.op = op;
    layer.name = name.str();
    layer.k = type.getDimSize(0);
    layer.n = type.getDimSize(1);
    onnx::ConstantOp constant = weightConstant(op.getB());
    bool transposed = !op.getB().getDefiningOp<onnx::ConstantOp>();
    if (readFloats(constant.getValue(), layer.weight)) {
      if (transposed) { // the constant is [N][K]
        std::vector<float> stored = std::move(layer.weight);
        layer.weight.resize(stored.size());
        for (int64_t n = 0; n < layer.n; ++n)
          for (int64_t k = 0; k < layer.k; ++k)
            layer.weight[k * layer.n + n] = stored[n * layer.k + k];
      }
      layers.push_back(std::move(layer));
    }
  });
  return layers;
}

LogicalResult lowbit::quant::verifyScheme(Operation *op, StringRef pass, const Scheme &scheme) {
  if (scheme.bits != 2 && scheme.bits != 3 && scheme.bits != 4 && scheme.bits != 8)
    return op->emitError() << pass << ": bits must be 2, 3, 4 or 8, got " << scheme.bits;
  if (scheme.groupSize < 0)
    return op->emitError() << pass << ": group-size must be positive (or 0 for per channel), got "
                           << scheme.groupSize;
  if (scheme.activationBits != 0 && scheme.activationBits != 8)
    return op->emitError() << pass << ": activation-bits must be 0 or 8, got "
                           << scheme.activationBits;
  return success();
}

CalibrationTapOp lowbit::quant::calibrationTapOf(onnx::MatMulOp layer) {
  auto tap = layer.getA().getDefiningOp<CalibrationTapOp>();
  return tap && tap.hasStatistics() ? tap : CalibrationTapOp();
}

Grid lowbit::quant::fitGrid(float lo, float hi, const Scheme &scheme) {
  float maxq = float((int64_t(1) << scheme.bits) - 1);
  int half = int(int64_t(1) << (scheme.bits - 1));
  lo = std::min(lo, 0.0f);
  hi = std::max(hi, 0.0f);
  if (scheme.symmetric) {
    float m = std::max(-lo, hi);
    if (m == 0)
      return {1.0f, 0};
    return {2 * m / maxq, 0};
  }
  if (hi == lo)
    return {1.0f, 0};
  float scale = (hi - lo) / maxq;
  // The unsigned zero point round(-lo / scale) in [0, maxq], as a signed level.
  int zeroUnsigned = int(std::nearbyint(-lo / scale));
  zeroUnsigned = std::clamp(zeroUnsigned, 0, int(maxq));
  return {scale, zeroUnsigned - half};
}

int lowbit::quant::quantizeValue(float w, Grid grid, int64_t bits) {
  int lo = -int(int64_t(1) << (bits - 1)), hi = int(int64_t(1) << (bits - 1)) - 1;
  int q = int(std::nearbyint(w / grid.scale)) + grid.zero;
  return std::clamp(q, lo, hi);
}

/// Rounds each group of each output channel to its own grid.
QuantizedWeight lowbit::quant::roundToNearest(const LinearLayer &layer, const Scheme &scheme) {
  QuantizedWeight out;
  out.n = layer.n;
  out.k = layer.k;
  out.groups = scheme.groupsFor(layer.k);
  int64_t groupSize = scheme.effectiveGroupSize(layer.k);
  out.levels.resize(out.n * out.k);
  out.scales.resize(out.n * out.groups);
  if (!scheme.symmetric)
    out.zeros.resize(out.n * out.groups);
  for (int64_t n = 0; n < layer.n; ++n)
    for (int64_t g = 0; g < out.groups; ++g) {
      int64_t k0 = g * groupSize, k1 = std::min(layer.k, k0 + groupSize);
      float lo = std::numeric_limits<float>::infinity(), hi = -lo;
      for (int64_t k = k0; k < k1; ++k) {
        lo = std::min(lo, layer.weight[k * layer.n + n]);
        hi = std::max(hi, layer.weight[k * layer.n + n]);
      }
      Grid grid = fitGrid(lo, hi, scheme);
      out.scales[n * out.groups + g] = grid.scale;
      if (!scheme.symmetric)
        out.zeros[n * out.groups + g] = int8_t(grid.zero);
      for (int64_t k = k0; k < k1; ++k)
        out.levels[n * layer.k + k] =
            int8_t(quantizeValue(layer.weight[k * layer.n + n], grid, scheme.bits));
    }
  return out;
}

FailureOr<float> lowbit::quant::staticActivationScale(const LinearLayer &layer,
                                                      StringRef pass) {
  onnx::MatMulOp op = layer.op;
  Value input = op.getA();
  // A multiply by a constant vector scales each channel's range.
  std::vector<float> channelFactors;
  if (auto mul = input.getDefiningOp<onnx::MulOp>()) {
    ElementsAttr factors;
    for (auto [value, other] : {std::pair(mul.getA(), mul.getB()), {mul.getB(), mul.getA()}})
      if (matchPattern(other, m_Constant(&factors)) && value.getDefiningOp<CalibrationTapOp>() &&
          readFloats(factors, channelFactors) && channelFactors.size() == size_t(layer.k)) {
        input = value;
        break;
      }
  }
  auto tap = input.getDefiningOp<CalibrationTapOp>();
  std::vector<float> absMax;
  if (!tap || !tap.getAbsMax() || !readFloats(*tap.getAbsMax(), absMax) ||
      absMax.size() != size_t(layer.k)) {
    op.emitError() << pass << ": " << describe(layer)
                   << " has no calibration abs_max for a static activation scale: its input "
                      "needs a lowbit.calibration_tap with `abs_max` (lowbitc --calib=FILE)";
    return failure();
  }
  float top = 0;
  for (size_t j = 0; j < absMax.size(); ++j)
    top = std::max(top, absMax[j] * (channelFactors.empty() ? 1.0f : std::abs(channelFactors[j])));
  return top > 0 ? top / 127.0f : 1.0f;
}

void lowbit::quant::replaceWithQuantized(const LinearLayer &layer, const QuantizedWeight &weight,
                                         const Scheme &scheme,
                                         std::optional<float> activationScale) {
  onnx::MatMulOp op = layer.op;
  OpBuilder b(op);
  Location loc = op.getLoc();
  QuantizedConstants constants = makeQuantizedConstants(b, loc, weight, scheme.bits,
                                                        layer.name.empty() ? "linear" : layer.name);
  auto quantized = QuantizedMatMulOp::create(
      b, loc, op.getResult().getType(), op.getA(), constants.levels, constants.scales,
      constants.zeros, Value(), Value(), b.getI64IntegerAttr(scheme.bits),
      b.getI64IntegerAttr(scheme.effectiveGroupSize(weight.k)),
      scheme.activationBits ? b.getI64IntegerAttr(scheme.activationBits) : IntegerAttr(),
      activationScale ? b.getF32FloatAttr(*activationScale) : FloatAttr());
  op.getResult().replaceAllUsesWith(quantized.getResult());
  eraseWithUnusedInputs(op);
}

lowbit::quant::QuantizedConstants
lowbit::quant::makeQuantizedConstants(OpBuilder &b, Location loc, const QuantizedWeight &weight,
                                      int64_t bits, StringRef key) {
  Type i8 = b.getIntegerType(8);
  auto groupType = [&](Type element) {
    return RankedTensorType::get({weight.n, weight.groups}, element);
  };
  QuantizedConstants constants;
  constants.levels = makeConstant<int8_t>(b, loc, RankedTensorType::get({weight.n, weight.k}, i8),
                                          weight.levels, (key + ".q" + Twine(bits)).str());
  constants.scales = makeConstant<float>(b, loc, groupType(b.getF32Type()), weight.scales,
                                         (key + ".scales").str());
  if (!weight.zeros.empty())
    constants.zeros =
        makeConstant<int8_t>(b, loc, groupType(i8), weight.zeros, (key + ".zeros").str());
  return constants;
}

void lowbit::quant::eraseWithUnusedInputs(Operation *op) {
  SmallVector<Operation *> inputs;
  for (Value operand : op->getOperands())
    if (Operation *def = operand.getDefiningOp(); def && !llvm::is_contained(inputs, def))
      inputs.push_back(def);
  op->erase();
  for (Operation *def : inputs)
    if (def->use_empty() && isPure(def))
      def->erase();
}
