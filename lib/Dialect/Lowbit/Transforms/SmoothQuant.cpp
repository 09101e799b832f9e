//===- SmoothQuant.cpp - Migrating activation outliers into weights -------===//
//
// Implements `lowbit-smoothquant` (see Passes.td): Xiao et al.,
// "SmoothQuant: Accurate and Efficient Post-Training Quantization for Large
// Language Models" (2022).
//
//===----------------------------------------------------------------------===//

#include "lowbit/Dialect/Lowbit/Transforms/Passes.h"

#include "ChannelScaling.h"
#include "Quantize.h"

#include <cmath>

namespace lowbit {
#define GEN_PASS_DEF_SMOOTHQUANTPASS
#include "lowbit/Dialect/Lowbit/Transforms/Passes.h.inc"
} // namespace lowbit

using namespace mlir;
using namespace lowbit;

namespace {
using quant::MatrixF;

/// s_j = max|X_j|^α / max|W_j|^(1-α), W_j the j-th input row of every
/// layer of the group.
std::vector<float> smoothingScales(ArrayRef<float> absMax, ArrayRef<quant::LinearLayer *> layers,
                                   double alpha) {
  int64_t k = absMax.size();
  std::vector<float> s(k);
  for (int64_t j = 0; j < k; ++j) {
    float weightMax = 0;
    for (quant::LinearLayer *layer : layers)
      for (int64_t n = 0; n < layer->n; ++n)
        weightMax = std::max(weightMax, std::abs(layer->weight[j * layer->n + n]));
    s[j] = float(std::pow(std::max(double(absMax[j]), 1e-5), alpha) /
                 std::pow(std::max(double(weightMax), 1e-5), 1 - alpha));
  }
  return s;
}

/// An estimate of W8A8's output error with scales `s`, summed over the
/// layers: the weights' rounding error (int8 per output channel) through
/// the Hessian, plus the activations' (int8 per token) taken as uniform
/// noise of step max_j(max|X_j| / s_j) / 127 on every channel.
double w8a8Error(ArrayRef<quant::LinearLayer *> layers, ArrayRef<float> s, ArrayRef<float> absMax,
                 const MatrixF &hessian, int64_t tokens) {
  int64_t k = s.size();
  quant::Scheme int8{8, 0, true, 0};
  double rowMax = 0;
  for (int64_t j = 0; j < k; ++j)
    rowMax = std::max(rowMax, double(absMax[j]) / s[j]);
  double step = rowMax / 127, noise = step * step / 12 * double(tokens);
  double error = 0;
  for (quant::LinearLayer *layer : layers) {
    double weightEnergy = 0; // ||s W||^2
    for (int64_t j = 0; j < k; ++j)
      for (int64_t n = 0; n < layer->n; ++n) {
        double w = double(layer->weight[j * layer->n + n]) * s[j];
        weightEnergy += w * w;
      }
    error += quant::scaledRoundingError(*layer, s, int8, hessian) + noise * weightEnergy;
  }
  return error;
}

struct SmoothQuantPass : lowbit::impl::SmoothQuantPassBase<SmoothQuantPass> {
  using SmoothQuantPassBase::SmoothQuantPassBase;

  void runOnOperation() override {
    func::FuncOp func = getOperation();
    if (alpha < 0 || alpha > 1) {
      func->emitError() << "lowbit-smoothquant: alpha must be in [0, 1], got " << alpha;
      return signalPassFailure();
    }
    quant::LayerSelection selection{{layers.begin(), layers.end()},
                                    {exclude.begin(), exclude.end()}};
    std::vector<quant::LinearLayer> selected = quant::findLinearLayers(func, selection);
    FailureOr<std::vector<quant::ScaleGroup>> groups = quant::groupByInput(
        selected, "lowbit-smoothquant", searchAlpha ? "`abs_max` and `hessian`" : "`abs_max`",
        [&](CalibrationTapOp tap) {
          return tap.getAbsMax() && (!searchAlpha || (tap.getHessian() && tap.getTokens()));
        });
    if (failed(groups))
      return signalPassFailure();
    for (quant::ScaleGroup &group : *groups) {
      CalibrationTapOp tap = group.tap();
      int64_t k = group.channels();
      std::vector<float> absMax, hessian;
      if (!quant::readFloats(*tap.getAbsMax(), absMax) || absMax.size() != size_t(k) ||
          (searchAlpha &&
           (!quant::readFloats(*tap.getHessian(), hessian) || hessian.size() != size_t(k * k)))) {
        tap.emitError() << "lowbit-smoothquant: tap '" << tap.getName()
                        << "': statistics of the wrong size or type";
        return signalPassFailure();
      }
      double chosen = alpha;
      if (searchAlpha) {
        MatrixF h = Eigen::Map<MatrixF>(hessian.data(), k, k);
        double best = std::numeric_limits<double>::infinity();
        for (int step = 1; step < 20; ++step) {
          double candidate = step / 20.0;
          double error = w8a8Error(group.layers, smoothingScales(absMax, group.layers, candidate),
                                   absMax, h, *tap.getTokens());
          if (error < best) {
            best = error;
            chosen = candidate;
          }
        }
      }
      std::vector<float> s = smoothingScales(absMax, group.layers, chosen);
      if (quant::scaleInputChannels(group, s, "smooth"))
        ++numFolded;
      numSmoothed += group.layers.size();
    }
  }
};
} // namespace
