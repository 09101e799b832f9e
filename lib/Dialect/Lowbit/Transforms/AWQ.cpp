//===- AWQ.cpp - Activation-aware weight quantization ---------------------===//
//
// Implements `lowbit-awq` (see Passes.td): Lin et al., "AWQ: Activation-aware
// Weight Quantization for LLM Compression and Acceleration" (2023), with the
// output error of a candidate measured through the calibration Hessian
// rather than by re-running the block.
//
//===----------------------------------------------------------------------===//

#include "lowbit/Dialect/Lowbit/Transforms/Passes.h"

#include "ChannelScaling.h"
#include "Quantize.h"

#include "mlir/IR/Threading.h"

#include "mlir/IR/Builders.h"

#include <Eigen/Core>

#include <cmath>

namespace lowbit {
#define GEN_PASS_DEF_AWQPASS
#include "lowbit/Dialect/Lowbit/Transforms/Passes.h.inc"
} // namespace lowbit

using namespace mlir;
using namespace lowbit;

namespace {
using quant::MatrixF;

/// Clipping ratios tried: 1, 0.95, ..., 0.55 (AWQ's grid).
constexpr int kClipSteps = 10;
float clipRatio(int step) { return 1.0f - float(step) / 20.0f; }

/// The scale search measures the output error on at most this many output
/// channels of a layer (evenly spaced): the search picks one α per group, and
/// a sample of channels ranks the candidates as all of them do, at a
/// fraction of the cost (K^2 multiply-adds per channel and candidate).
constexpr int64_t kSearchChannels = 1024;

/// `layer` with its weight cut down to `kSearchChannels` evenly spaced
/// output channels (all of them if it has no more).
quant::LinearLayer sampledChannels(const quant::LinearLayer &layer) {
  if (layer.n <= kSearchChannels)
    return layer;
  quant::LinearLayer sample = layer;
  sample.n = kSearchChannels;
  sample.weight.resize(layer.k * kSearchChannels);
  for (int64_t j = 0; j < layer.k; ++j)
    for (int64_t c = 0; c < kSearchChannels; ++c)
      sample.weight[j * kSearchChannels + c] =
          layer.weight[j * layer.n + c * layer.n / kSearchChannels];
  return sample;
}

/// The statistics AWQ reads from a layer's tap.
struct InputStatistics {
  std::vector<float> meanAbs; // [K]
  MatrixF hessian;            // [K, K]
};

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
    std::vector<quant::LinearLayer> samples;
    for (quant::LinearLayer *layer : group)
      samples.push_back(sampledChannels(*layer));
    // Every candidate's error on the context's threads; the least wins
    // (the first of equals, as a serial search would pick).
    int64_t families = duoScaling ? 2 : 1, candidates = families * grid;
    std::vector<std::vector<float>> scales(candidates, std::vector<float>(k));
    std::vector<double> errors(candidates);
    parallelFor(&getContext(), 0, candidates, [&](size_t index) {
      bool duo = int64_t(index) >= grid;
      double alpha = double(int64_t(index) % grid) / double(grid);
      std::vector<float> &s = scales[index];
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
      for (const quant::LinearLayer &layer : samples)
        error += quant::scaledRoundingError(layer, s, scheme, stats.hessian);
      errors[index] = error;
    });
    std::vector<float> best(k, 1.0f);
    double bestError = std::numeric_limits<double>::infinity();
    for (int64_t index = 0; index < candidates; ++index)
      if (errors[index] < bestError) {
        bestError = errors[index];
        best = scales[index];
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
      // Output channels on the context's threads (each writes its own).
      parallelFor(&getContext(), 0, n, [&](size_t c) {
        Eigen::VectorXf w(size), d(size);
        for (int64_t i = 0; i < size; ++i)
          w(i) = layer.weight[(k0 + i) * n + c];
        float lo = std::min(w.minCoeff(), 0.0f), hi = std::max(w.maxCoeff(), 0.0f);
        // Both ends shrink together first; an asymmetric grid then moves
        // each end on its own (the lower, then the upper), the other fixed.
        double bestError = std::numeric_limits<double>::infinity();
        float bestLo = 1, bestHi = 1;
        auto tryRatios = [&](float loRatio, float hiRatio) {
          quant::Grid g = quant::fitGrid(loRatio * lo, hiRatio * hi, scheme);
          for (int64_t i = 0; i < size; ++i)
            d(i) = w(i) - quant::dequantizeValue(quant::quantizeValue(w(i), g, scheme.bits), g);
          double error = double(d.dot(block * d));
          if (error < bestError) {
            bestError = error;
            bestLo = loRatio;
            bestHi = hiRatio;
          }
        };
        for (int step = 0; step < kClipSteps; ++step)
          tryRatios(clipRatio(step), clipRatio(step));
        if (!scheme.symmetric) {
          float hiRatio = bestHi;
          for (int step = 0; step < kClipSteps; ++step)
            tryRatios(clipRatio(step), hiRatio);
          float loRatio = bestLo;
          for (int step = 0; step < kClipSteps; ++step)
            tryRatios(loRatio, clipRatio(step));
        }
        for (int64_t i = 0; i < size; ++i)
          clipped[(k0 + i) * n + c] = std::clamp(w(i), bestLo * lo, bestHi * hi);
      });
    }
    quant::setWeight(layer, std::move(clipped), "awq");
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

    FailureOr<std::vector<quant::ScaleGroup>> groups = quant::groupByInput(
        selected, "lowbit-awq", "`mean_abs` and `hessian`",
        [](CalibrationTapOp tap) { return tap.getMeanAbs() && tap.getHessian(); });
    if (failed(groups))
      return signalPassFailure();

    for (quant::ScaleGroup &group : *groups) {
      CalibrationTapOp tap = group.tap();
      int64_t k = group.layers.front()->k;
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
      std::vector<float> s = searchScales(group.layers, stats, scheme);

      if (quant::scaleInputChannels(group, s, "awq"))
        ++numFolded;
      for (int64_t j = 0; j < k; ++j)
        for (int64_t row = 0; row < k; ++row)
          stats.hessian(j, row) /= s[j] * s[row];
      if (clip)
        for (quant::LinearLayer *layer : group.layers)
          searchClipping(*layer, stats.hessian, scheme);
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
