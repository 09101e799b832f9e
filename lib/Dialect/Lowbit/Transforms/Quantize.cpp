//===- Quantize.cpp - What the weight quantization passes share -----------===//

#include "Quantize.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/DialectResourceBlobManager.h"

#include <algorithm>
#include <cmath>

using namespace mlir;
using namespace lowbit;
using namespace lowbit::quant;

namespace {
/// The f32 values of a constant's attribute (inline or resource), or false.
bool readFloats(ElementsAttr value, std::vector<float> &out) {
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

std::string nodeName(Operation *op) {
  if (auto name = dyn_cast<NameLoc>(op->getLoc()))
    return name.getName().str();
  return "";
}

/// A constant holding `data` (a resource named `key`, so large tensors stay
/// out of the printed IR).
template <typename T>
Value makeConstant(OpBuilder &b, Location loc, RankedTensorType type, ArrayRef<T> data,
                   StringRef key) {
  ArrayRef<char> bytes(reinterpret_cast<const char *>(data.data()), data.size() * sizeof(T));
  auto blob = HeapAsmResourceBlob::allocateAndCopyWithAlign(bytes, alignof(T));
  auto attr = DenseResourceElementsAttr::get(type, key, std::move(blob));
  return onnx::ConstantOp::create(b, loc, cast<ElementsAttr>(attr));
}
} // namespace

void lowbit::quant::forEachLinearLayer(func::FuncOp func, ArrayRef<std::string> exclude,
                                       function_ref<void(onnx::MatMulOp, StringRef)> visit) {
  SmallVector<std::pair<onnx::MatMulOp, std::string>> layers;
  func.walk([&](onnx::MatMulOp op) {
    auto constant = op.getB().getDefiningOp<onnx::ConstantOp>();
    auto type = dyn_cast<RankedTensorType>(op.getB().getType());
    if (!constant || !type || type.getRank() != 2 || !type.hasStaticShape() ||
        !type.getElementType().isF32())
      return;
    std::string name = nodeName(op), weightName = nodeName(constant);
    if (name.empty())
      name = weightName;
    for (const std::string &pattern : exclude)
      if (!pattern.empty() && (name.find(pattern) != std::string::npos ||
                               weightName.find(pattern) != std::string::npos))
        return;
    layers.push_back({op, name});
  });
  for (auto &[op, name] : layers) // after the walk: visit may rewrite the IR
    visit(op, name);
}

std::vector<LinearLayer> lowbit::quant::findLinearLayers(func::FuncOp func,
                                                         ArrayRef<std::string> exclude) {
  std::vector<LinearLayer> layers;
  forEachLinearLayer(func, exclude, [&](onnx::MatMulOp op, StringRef name) {
    auto type = cast<RankedTensorType>(op.getB().getType());
    LinearLayer layer;
    layer.op = op;
    layer.name = name.str();
    layer.k = type.getDimSize(0);
    layer.n = type.getDimSize(1);
    if (readFloats(op.getB().getDefiningOp<onnx::ConstantOp>().getValue(), layer.weight))
      layers.push_back(std::move(layer));
  });
  return layers;
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

void lowbit::quant::replaceWithQuantized(const LinearLayer &layer, const QuantizedWeight &weight,
                                         const Scheme &scheme) {
  onnx::MatMulOp op = layer.op;
  OpBuilder b(op);
  Location loc = op.getLoc();
  MLIRContext *context = op.getContext();
  std::string key = layer.name.empty() ? "linear" : layer.name;
  auto levelsType =
      RankedTensorType::get({weight.n, weight.k}, IntegerType::get(context, 8));
  auto scalesType = RankedTensorType::get({weight.n, weight.groups}, b.getF32Type());
  auto groupType = RankedTensorType::get({weight.n, weight.groups}, IntegerType::get(context, 8));
  Value levels = makeConstant<int8_t>(b, loc, levelsType, weight.levels,
                                      key + ".q" + std::to_string(scheme.bits));
  Value scales = makeConstant<float>(b, loc, scalesType, weight.scales, key + ".scales");
  Value zeros;
  if (!weight.zeros.empty())
    zeros = makeConstant<int8_t>(b, loc, groupType, weight.zeros, key + ".zeros");
  auto quantized = QuantizedMatMulOp::create(
      b, loc, op.getResult().getType(), op.getA(), levels, scales, zeros,
      b.getI64IntegerAttr(scheme.bits), b.getI64IntegerAttr(scheme.effectiveGroupSize(weight.k)),
      scheme.activationBits ? b.getI64IntegerAttr(scheme.activationBits) : IntegerAttr());
  op.getResult().replaceAllUsesWith(quantized.getResult());
  Operation *weightOp = op.getB().getDefiningOp();
  op.erase();
  if (weightOp && weightOp->use_empty())
    weightOp->erase();
}
