//===- AWQ.cpp - Activation-aware weight quantization ---------------------===//
//
// Implements `lowbit-awq` (see Passes.td): Lin et al., "AWQ: Activation-aware
// Weight Quantization for LLM Compression and Acceleration" (2023), with the
// output error of a candidate measured through the calibration Hessian
// rather than by re-running the block.
//
//===----------------------------------------------------------------------===//

#include "lowbit/Dialect/Lowbit/Transforms/Passes.h"

#include "Quantize.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "llvm/ADT/MapVector.h"
#include "llvm/ADT/SmallPtrSet.h"

#include <Eigen/Core>

#include <cmath>

namespace lowbit {
#define GEN_PASS_DEF_AWQPASS
#include "lowbit/Dialect/Lowbit/Transforms/Passes.h.inc"
} // namespace lowbit

using namespace mlir;
using namespace lowbit;

namespace {
using MatrixF = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

/// Clipping ratios tried: 1, 0.95, ..., 0.55 (AWQ's grid).
constexpr int kClipSteps = 10;

/// The statistics AWQ reads from a layer's tap.
struct InputStatistics {
  std::vector<float> meanAbs; // [K]
  MatrixF hessian;            // [K, K]
};

/// `weight` [K][N] after rounding to nearest on `scheme`'s grid.
std::vector<float> fakeQuantize(const quant::LinearLayer &layer, const quant::Scheme &scheme) {
  quant::QuantizedWeight q = quant::roundToNearest(layer, scheme);
  int64_t groupSize = scheme.effectiveGroupSize(layer.k);
  std::vector<float> out(layer.k * layer.n);
  for (int64_t n = 0; n < layer.n; ++n)
    for (int64_t k = 0; k < layer.k; ++k) {
      int64_t g = n * q.groups + k / groupSize;
      quant::Grid grid{q.scales[g], q.zeros.empty() ? 0 : q.zeros[g]};
      out[k * layer.n + n] = quant::dequantizeValue(q.levels[n * layer.k + k], grid);
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
bool foldIntoProducer(Value value, ArrayRef<float> factor, bool apply) {
  int64_t k = factor.size();
  Operation *producer = value.getDefiningOp();
  if (!producer)
    return false;
  std::string key = "awq";
  if (auto loc = dyn_cast<NameLoc>(producer->getLoc()))
    key = loc.getName().str() + ".awq";
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
          foldIntoProducer(operand, factor, false)) {
        if (apply) {
          scaleConstantOperand(add->getOpOperand(bias), factor, key + ".bias");
          foldIntoProducer(operand, factor, true);
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
      if (operand.hasOneUse() && foldIntoProducer(operand, factor, false)) {
        if (apply)
          foldIntoProducer(operand, factor, true);
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
  ArrayRef<char> bytes(reinterpret_cast<const char *>(values.data()),
                       values.size() * sizeof(float));
  return DenseResourceElementsAttr::get(
      type, key, HeapAsmResourceBlob::allocateAndCopyWithAlign(bytes, alignof(float)));
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

/// Replaces a layer's weight by `values` ([K][N]).
void setWeight(quant::LinearLayer &layer, std::vector<float> values) {
  layer.weight = std::move(values);
  OpBuilder b(layer.op);
  auto type = cast<RankedTensorType>(layer.op.getB().getType());
  Operation *old = layer.op.getB().getDefiningOp();
  layer.op.getBMutable().assign(quant::makeConstant<float>(
      b, old->getLoc(), type, ArrayRef<float>(layer.weight), layer.name + ".awq"));
  if (old->use_empty())
    old->erase();
}

struct AWQPass : lowbit::impl::AWQPassBase<AWQPass> {
  using AWQPassBase::AWQPassBase;

  /// The mean over the layers' output channels of |w_jn| relative to the
  /// largest |w| of its group (AutoAWQ's weight statistic for duo scaling).
  static std::vector<double> relativeWeightMagnitude(ArrayRef<quant::LinearLayer *> group,
                                                     const quant::Scheme &scheme) {
    int64_t k = group.front()->k, groupSize = scheme.effectiveGroupSize(k), count = 0;
    std::vector<double> mean(k, 0.0);
    for (quant::LinearLayer *layer : group) {
      for (int64_t n = 0; n < layer->n; ++n)
        for (int64_t k0 = 0; k0 < k; k0 += groupSize) {
          int64_t k1 = std::min(k, k0 + groupSize);
          float top = 0;
          for (int64_t j = k0; j < k1; ++j)
            top = std::max(top, std::abs(layer->weight[j * layer->n + n]));
          for (int64_t j = k0; j < k1; ++j)
            mean[j] += top > 0 ? std::abs(layer->weight[j * layer->n + n]) / top : 0.0;
        }
      count += layer->n;
    }
    for (double &m : mean)
      m /= double(count);
    return mean;
  }

  /// The channel scales that minimize the layers' summed output error among
  /// s_j = mean|x_j|^α and, with duo scaling, s_j = mean|x_j|^α /
  /// mean|ŵ_j|^(1-α), each normalized so that sqrt(max s * min s) = 1.
  std::vector<float> searchScales(ArrayRef<quant::LinearLayer *> group,
                                  const InputStatistics &stats, const quant::Scheme &scheme) {
    int64_t k = stats.meanAbs.size();
    std::vector<double> weightMagnitude = relativeWeightMagnitude(group, scheme);
    std::vector<float> best(k, 1.0f);
    double bestError = std::numeric_limits<double>::infinity();
    for (int duo = 0; duo <= int(duoScaling); ++duo)
      for (int64_t step = 0; step < grid; ++step) {
        double alpha = double(step) / double(grid);
        std::vector<float> s(k);
        float hi = 0, lo = std::numeric_limits<float>::infinity();
        for (int64_t j = 0; j < k; ++j) {
          double v = std::pow(std::max(double(stats.meanAbs[j]), 1e-4), alpha);
          if (duo)
            v = std::max(v / (std::pow(weightMagnitude[j], 1 - alpha) + 1e-4), 1e-4);
          s[j] = float(v);
          hi = std::max(hi, s[j]);
          lo = std::min(lo, s[j]);
        }
        float norm = std::sqrt(hi * lo);
        for (float &v : s)
          v /= norm;
        double error = 0;
        for (quant::LinearLayer *layer : group) {
          quant::LinearLayer scaled = *layer;
          for (int64_t j = 0; j < k; ++j)
            for (int64_t n = 0; n < layer->n; ++n)
              scaled.weight[j * layer->n + n] *= s[j];
          std::vector<float> approx = fakeQuantize(scaled, scheme);
          for (int64_t j = 0; j < k; ++j)
            for (int64_t n = 0; n < layer->n; ++n)
              approx[j * layer->n + n] /= s[j];
          error += outputError(layer->weight, approx, k, layer->n, stats.hessian);
        }
        if (error < bestError) {
          bestError = error;
          best = s;
        }
      }
    return best;
  }

  /// Clips each group of each output channel of `layer` to the fractions of
  /// its range (1 down to 0.55 at each end) whose rounding error, through
  /// the group's block of `hessian`, is least.
  void searchClipping(quant::LinearLayer &layer, const MatrixF &hessian,
                      const quant::Scheme &scheme) {
    int64_t k = layer.k, n = layer.n, groupSize = scheme.effectiveGroupSize(k);
    std::vector<float> clipped = layer.weight;
    for (int64_t k0 = 0; k0 < k; k0 += groupSize) {
      int64_t size = std::min(k, k0 + groupSize) - k0;
      MatrixF block = hessian.block(k0, k0, size, size);
      Eigen::VectorXf w(size), d(size);
      for (int64_t c = 0; c < n; ++c) {
        for (int64_t i = 0; i < size; ++i)
          w(i) = layer.weight[(k0 + i) * n + c];
        float lo = std::min(w.minCoeff(), 0.0f), hi = std::max(w.maxCoeff(), 0.0f);
        // Asymmetric grids shrink each end on its own; a symmetric grid
        // only sees the larger end, so both shrink together.
        double bestError = std::numeric_limits<double>::infinity();
        float bestLo = 1, bestHi = 1;
        for (int a = 0; a < kClipSteps; ++a)
          for (int b = 0; b < kClipSteps; ++b) {
            if (scheme.symmetric && a != b)
              continue;
            float loRatio = 1.0f - float(a) / 20.0f, hiRatio = 1.0f - float(b) / 20.0f;
            quant::Grid g = quant::fitGrid(loRatio * lo, hiRatio * hi, scheme);
            for (int64_t i = 0; i < size; ++i)
              d(i) = w(i) - quant::dequantizeValue(quant::quantizeValue(w(i), g, scheme.bits), g);
            double error = double(d.dot(block * d));
            if (error < bestError) {
              bestError = error;
              bestLo = loRatio;
              bestHi = hiRatio;
            }
          }
        for (int64_t i = 0; i < size; ++i)
          clipped[(k0 + i) * n + c] = std::clamp(w(i), bestLo * lo, bestHi * hi);
      }
    }
    setWeight(layer, std::move(clipped));
  }

  void runOnOperation() override {
    quant::Scheme scheme{bits, groupSize, symmetric, activationBits};
    func::FuncOp func = getOperation();
    if (failed(quant::verifyScheme(func, "lowbit-awq", scheme)))
      return signalPassFailure();
    if (grid < 1) {
      func->emitError() << "lowbit-awq: grid must be positive, got " << int64_t(grid);
      return signalPassFailure();
    }
    quant::LayerSelection selection{{layers.begin(), layers.end()},
                                    {exclude.begin(), exclude.end()}};
    std::vector<quant::LinearLayer> selected = quant::findLinearLayers(func, selection);

    // Layers whose taps read one activation share its scales.
    llvm::MapVector<Value, SmallVector<quant::LinearLayer *>> groups;
    for (quant::LinearLayer &layer : selected) {
      CalibrationTapOp tap = quant::calibrationTapOf(layer.op);
      if (!tap || !tap.getMeanAbs() || !tap.getHessian()) {
        layer.op.emitError() << "lowbit-awq: " << quant::describe(layer)
                             << " has no calibration statistics: its input needs a "
                                "lowbit.calibration_tap with `mean_abs` and `hessian` (lowbitc "
                                "--calib=FILE)";
        return signalPassFailure();
      }
      groups[tap.getInput()].push_back(&layer);
    }

    for (auto &[input, members] : groups) {
      CalibrationTapOp tap = quant::calibrationTapOf(members.front()->op);
      int64_t k = members.front()->k;
      InputStatistics stats;
      std::vector<float> hessian;
      if (!quant::readFloats(*tap.getMeanAbs(), stats.meanAbs) ||
          !quant::readFloats(*tap.getHessian(), hessian) || hessian.size() != size_t(k * k) ||
          stats.meanAbs.size() != size_t(k)) {
        tap.emitError() << "lowbit-awq: tap '" << tap.getName()
                        << "': statistics of the wrong size or type";
        return signalPassFailure();
      }
      stats.hessian = Eigen::Map<MatrixF>(hessian.data(), k, k);
      std::vector<float> s = searchScales(members, stats, scheme);

      // x W = (x / s)(s W): fold 1/s into what produces x where every
      // reader of x is one of these layers' taps, else multiply explicitly.
      llvm::SmallPtrSet<Operation *, 8> groupTaps;
      for (quant::LinearLayer *layer : members)
        groupTaps.insert(layer->op.getA().getDefiningOp());
      bool onlyGroupReads = llvm::all_of(input.getUsers(), [&](Operation *user) {
        return groupTaps.contains(user) && llvm::all_of(user->getUsers(), [&](Operation *reader) {
                 return llvm::any_of(members, [&](auto *l) { return l->op == reader; });
               });
      });
      std::vector<float> inverse(k);
      for (int64_t j = 0; j < k; ++j)
        inverse[j] = 1 / s[j];
      if (onlyGroupReads && foldIntoProducer(input, inverse, /*apply=*/false)) {
        foldIntoProducer(input, inverse, /*apply=*/true);
        ++numFolded;
      } else {
        OpBuilder b(tap);
        auto type = RankedTensorType::get({k}, b.getF32Type());
        Value factor = quant::makeConstant<float>(b, tap.getLoc(), type, ArrayRef<float>(inverse),
                                                  members.front()->name + ".awq.inverse_scale");
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
      for (int64_t j = 0; j < k; ++j)
        for (int64_t row = 0; row < k; ++row)
          stats.hessian(j, row) /= s[j] * s[row];
      for (quant::LinearLayer *layer : members) {
        std::vector<float> scaled = layer->weight;
        for (int64_t j = 0; j < k; ++j)
          for (int64_t n = 0; n < layer->n; ++n)
            scaled[j * layer->n + n] *= s[j];
        setWeight(*layer, std::move(scaled));
        if (clip)
          searchClipping(*layer, stats.hessian, scheme);
      }
    }

    if (!quantize)
      return;
    // The weights as scaled and clipped (folding may have changed the
    // columns of a layer that precedes another).
    for (quant::LinearLayer &layer : quant::findLinearLayers(func, selection)) {
      quant::replaceWithQuantized(layer, quant::roundToNearest(layer, scheme), scheme);
      ++numQuantized;
    }
  }
};
} // namespace
