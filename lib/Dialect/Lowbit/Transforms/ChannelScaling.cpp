//===- ChannelScaling.cpp - x W = (x / s)(s W) ----------------------------===//

#include "ChannelScaling.h"

#include "mlir/IR/Builders.h"
#include "llvm/ADT/MapVector.h"
#include "llvm/ADT/SmallPtrSet.h"

using namespace mlir;
using namespace lowbit;
using namespace lowbit::quant;

namespace {
/// A constant operand's values scaled along its last axis by `factor`, as a
/// new constant put before the user (the old one goes if nothing else uses
/// it).
void scaleConstantOperand(OpOperand &operand, ArrayRef<float> factor, StringRef key) {
  auto constant = operand.get().getDefiningOp<onnx::ConstantOp>();
  std::vector<float> values;
  quant::readFloats(constant.getValue(), values);
  for (size_t i = 0; i < values.size(); ++i)
    values[i] *= factor[i % factor.size()];
  OpBuilder b(operand.getOwner());
  auto type = cast<RankedTensorType>(operand.get().getType());
  operand.set(quant::makeConstant<float>(b, constant.getLoc(), type, values, key));
  if (constant->use_empty())
    constant->erase();
}

/// Whether `value` is a constant f32 tensor whose last axis has `k` entries
/// (and, for `vector`, no other axis).
bool isScalableConstant(Value value, int64_t k, bool vector) {
  auto constant = value.getDefiningOp<onnx::ConstantOp>();
  auto type = dyn_cast<RankedTensorType>(value.getType());
  std::vector<float> values;
  return constant && type && type.hasStaticShape() && type.getRank() >= 1 &&
         type.getShape().back() == k && (!vector || type.getRank() == 1) &&
         quant::readFloats(constant.getValue(), values);
}

/// Makes `value` come out multiplied by `factor` (per channel of its last
/// axis, K of them) by changing the constants of the linear ops that
/// produce it: a norm's scale (and bias), a MatMul's weight columns, a
/// bias added to such a product, or one factor of a product. With
/// `apply` false, only says whether it can.
bool foldIntoProducer(Value value, ArrayRef<float> factor, bool apply, StringRef tag) {
  int64_t k = factor.size();
  Operation *producer = value.getDefiningOp();
  if (!producer)
    return false;
  std::string key = tag.str();
  if (auto loc = dyn_cast<NameLoc>(producer->getLoc()))
    key = loc.getName().str() + "." + tag.str();
  if (auto norm = dyn_cast<onnx::RMSNormalizationOp>(producer)) {
    if (!isScalableConstant(norm.getScale(), k, /*vector=*/true))
      return false;
    if (apply)
      scaleConstantOperand(norm.getScaleMutable(), factor, key);
    return true;
  }
  if (auto norm = dyn_cast<onnx::LayerNormalizationOp>(producer)) {
    if (value != norm->getResult(0) || !isScalableConstant(norm.getScale(), k, true) ||
        (norm.getB() && !isScalableConstant(norm.getB(), k, true)))
      return false;
    if (apply) {
      scaleConstantOperand(norm.getScaleMutable(), factor, key);
      if (norm.getB())
        scaleConstantOperand(norm.getBMutable()[0], factor, key + ".bias");
    }
    return true;
  }
  if (auto matmul = dyn_cast<onnx::MatMulOp>(producer)) {
    auto type = dyn_cast<RankedTensorType>(matmul.getB().getType());
    if (!type || type.getRank() != 2 || !isScalableConstant(matmul.getB(), k, false))
      return false;
    if (apply)
      scaleConstantOperand(matmul.getBMutable(), factor, key);
    return true;
  }
  // x * (W v) and (W v + b): scale the product (and the bias); only where
  // the operand feeds nothing else.
  if (auto add = dyn_cast<onnx::AddOp>(producer)) {
    for (auto [linear, bias] : {std::pair(0, 1), std::pair(1, 0)}) {
      Value operand = add->getOperand(linear), constant = add->getOperand(bias);
      if (operand.hasOneUse() && isScalableConstant(constant, k, true) &&
          foldIntoProducer(operand, factor, false, tag)) {
        if (apply) {
          scaleConstantOperand(add->getOpOperand(bias), factor, key + ".bias");
          foldIntoProducer(operand, factor, true, tag);
        }
        return true;
      }
    }
    return false;
  }
  if (auto mul = dyn_cast<onnx::MulOp>(producer)) {
    if (mul.getType() != mul.getA().getType() || mul.getType() != mul.getB().getType())
      return false; // a broadcast factor: scaling it would scale more than one
                    // channel
    for (Value operand : {mul.getA(), mul.getB()})
      if (operand.hasOneUse() && foldIntoProducer(operand, factor, false, tag)) {
        if (apply)
          foldIntoProducer(operand, factor, true, tag);
        return true;
      }
  }
  return false;
}

/// `attr` (a tap statistic) with each element multiplied by `factor(i)`,
/// kept inline or a resource as it was.
template <typename Factor>
ElementsAttr scaledStatistic(ElementsAttr attr, Factor factor, StringRef key) {
  std::vector<float> values;
  quant::readFloats(attr, values);
  for (size_t i = 0; i < values.size(); ++i)
    values[i] *= factor(i);
  auto type = cast<RankedTensorType>(attr.getType());
  if (isa<DenseElementsAttr>(attr))
    return DenseElementsAttr::get(type, ArrayRef<float>(values));
  return resourceAttr(type, ArrayRef<float>(values), key);
}

/// The tap's statistics of x / s.
void rescaleTap(CalibrationTapOp tap, ArrayRef<float> s) {
  int64_t k = s.size();
  std::string key = tap.getName().str();
  if (auto attr = tap.getAbsMaxAttr())
    tap.setAbsMaxAttr(scaledStatistic(
        attr, [&](size_t i) { return 1 / s[i]; }, key + ".abs_max"));
  if (auto attr = tap.getMeanAbsAttr())
    tap.setMeanAbsAttr(scaledStatistic(
        attr, [&](size_t i) { return 1 / s[i]; }, key + ".mean_abs"));
  if (auto attr = tap.getHessianAttr())
    tap.setHessianAttr(scaledStatistic(
        attr, [&](size_t i) { return 1 / (s[i / k] * s[i % k]); }, key + ".hessian"));
}

} // namespace

void lowbit::quant::setWeight(LinearLayer &layer, std::vector<float> values, StringRef tag) {
  layer.weight = std::move(values);
  OpBuilder b(layer.op);
  auto type = cast<RankedTensorType>(layer.op.getB().getType());
  Operation *old = layer.op.getB().getDefiningOp();
  layer.op.getBMutable().assign(quant::makeConstant<float>(
      b, old->getLoc(), type, ArrayRef<float>(layer.weight), layer.name + "." + tag.str()));
  if (old->use_empty())
    old->erase();
}

namespace {
/// `weight` [K][N] after rounding to nearest on `scheme`'s grid.
std::vector<float> fakeQuantize(const LinearLayer &layer, const Scheme &scheme) {
  QuantizedWeight q = roundToNearest(layer, scheme);
  int64_t groupSize = scheme.effectiveGroupSize(layer.k);
  std::vector<float> out(layer.k * layer.n);
  for (int64_t n = 0; n < layer.n; ++n)
    for (int64_t k = 0; k < layer.k; ++k) {
      int64_t g = n * q.groups + k / groupSize;
      Grid grid{q.scales[g], q.zeros.empty() ? 0 : q.zeros[g]};
      out[k * layer.n + n] = dequantizeValue(q.levels[n * layer.k + k], grid);
    }
  return out;
}

/// The output error tr(D^T H D) of replacing `w` [K][N] by `approx`.
double outputError(const std::vector<float> &w, const std::vector<float> &approx, int64_t k,
                   int64_t n, const MatrixF &hessian) {
  MatrixF d(k, n);
  for (int64_t i = 0; i < k * n; ++i)
    d.data()[i] = w[i] - approx[i];
  MatrixF hd = hessian * d;
  return double(d.cwiseProduct(hd).cast<double>().sum());
}

} // namespace

double lowbit::quant::scaledRoundingError(const LinearLayer &layer, ArrayRef<float> s,
                                          const Scheme &scheme, const MatrixF &hessian) {
  int64_t k = layer.k;
  LinearLayer scaled = layer;
  for (int64_t j = 0; j < k; ++j)
    for (int64_t n = 0; n < layer.n; ++n)
      scaled.weight[j * layer.n + n] *= s[j];
  std::vector<float> approx = fakeQuantize(scaled, scheme);
  for (int64_t j = 0; j < k; ++j)
    for (int64_t n = 0; n < layer.n; ++n)
      approx[j * layer.n + n] /= s[j];
  return outputError(layer.weight, approx, k, layer.n, hessian);
}

CalibrationTapOp ScaleGroup::tap() const { return calibrationTapOf(layers.front()->op); }

FailureOr<std::vector<ScaleGroup>>
lowbit::quant::groupByInput(std::vector<LinearLayer> &layers, StringRef pass, StringRef needed,
                            function_ref<bool(CalibrationTapOp)> hasStatistics) {
  llvm::MapVector<Value, ScaleGroup> groups;
  for (LinearLayer &layer : layers) {
    CalibrationTapOp tap = calibrationTapOf(layer.op);
    if (!tap || !hasStatistics(tap)) {
      layer.op.emitError() << pass << ": " << describe(layer)
                           << " has no calibration statistics: its input needs a "
                              "lowbit.calibration_tap with "
                           << needed << " (lowbitc --calib=FILE)";
      return failure();
    }
    ScaleGroup &group = groups[tap.getInput()];
    group.input = tap.getInput();
    group.layers.push_back(&layer);
  }
  std::vector<ScaleGroup> out;
  for (auto &entry : groups)
    out.push_back(std::move(entry.second));
  return out;
}

bool lowbit::quant::scaleInputChannels(ScaleGroup &group, ArrayRef<float> s, StringRef tag) {
  int64_t k = group.channels();
  Value input = group.input;
  CalibrationTapOp tap = group.tap();
  llvm::SmallPtrSet<Operation *, 8> groupTaps;
  for (LinearLayer *layer : group.layers)
    groupTaps.insert(layer->op.getA().getDefiningOp());
  bool onlyGroupReads = llvm::all_of(input.getUsers(), [&](Operation *user) {
    return groupTaps.contains(user) && llvm::all_of(user->getUsers(), [&](Operation *reader) {
             return llvm::any_of(group.layers, [&](LinearLayer *l) { return l->op == reader; });
           });
  });
  std::vector<float> inverse(k);
  for (int64_t j = 0; j < k; ++j)
    inverse[j] = 1 / s[j];
  bool folded = onlyGroupReads && foldIntoProducer(input, inverse, /*apply=*/false, tag);
  if (folded) {
    foldIntoProducer(input, inverse, /*apply=*/true, tag);
  } else {
    OpBuilder b(tap);
    auto type = RankedTensorType::get({k}, b.getF32Type());
    Value factor =
        makeConstant<float>(b, tap.getLoc(), type, ArrayRef<float>(inverse),
                            group.layers.front()->name + "." + tag.str() + ".inverse_scale");
    Value scaledInput = onnx::MulOp::create(b, tap.getLoc(), input.getType(), input, factor);
    for (Operation *groupTap : groupTaps)
      groupTap->setOperand(0, scaledInput);
  }
  // The taps read one activation: rescale the statistics once, share them.
  rescaleTap(tap, s);
  for (Operation *groupTap : groupTaps) {
    auto other = cast<CalibrationTapOp>(groupTap);
    if (other == tap)
      continue;
    other.setAbsMaxAttr(tap.getAbsMaxAttr());
    other.setMeanAbsAttr(tap.getMeanAbsAttr());
    other.setHessianAttr(tap.getHessianAttr());
  }
  for (LinearLayer *layer : group.layers) {
    std::vector<float> scaled = layer->weight;
    for (int64_t j = 0; j < k; ++j)
      for (int64_t n = 0; n < layer->n; ++n)
        scaled[j * layer->n + n] *= s[j];
    setWeight(*layer, std::move(scaled), tag);
  }
  return folded;
}
