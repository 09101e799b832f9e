//===- GPTQ.cpp - GPTQ weight quantization --------------------------------===//
//
// Implements `lowbit-gptq` (see Passes.td): Frantar et al., "GPTQ: Accurate
// Post-Training Quantization for Generative Pre-trained Transformers" (2022),
// the algorithm of its reference implementation, with the linear algebra
// from Eigen.
//
//===----------------------------------------------------------------------===//

#include "lowbit/Dialect/Lowbit/Transforms/Passes.h"

#include "Quantize.h"

#include <Eigen/Cholesky>
#include <Eigen/Core>

#include <algorithm>
#include <limits>
#include <numeric>

namespace lowbit {
#define GEN_PASS_DEF_GPTQPASS
#include "lowbit/Dialect/Lowbit/Transforms/Passes.h.inc"
} // namespace lowbit

using namespace mlir;
using namespace lowbit;

namespace {
using Matrix = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic>;

struct GptqSettings {
  quant::Scheme scheme;
  bool actOrder = false;
  bool staticGroups = false;
  double dampPercent = 0.01;
  int64_t blockSize = 128;
};

/// The grid of each output channel over columns [k0, k1) of `w` [N, K].
std::vector<quant::Grid> fitRowGrids(const Matrix &w, int64_t k0, int64_t k1,
                                     const quant::Scheme &scheme) {
  std::vector<quant::Grid> grids(w.rows());
  for (int64_t n = 0; n < w.rows(); ++n) {
    auto row = w.row(n).segment(k0, k1 - k0);
    grids[n] = quant::fitGrid(float(row.minCoeff()), float(row.maxCoeff()), scheme);
  }
  return grids;
}

/// GPTQ of one layer: `weight` [K][N] as in the model, `hessian` [K][K] the
/// sum of x^T x over calibration tokens. Fails if the damped Hessian is not
/// positive definite.
FailureOr<quant::QuantizedWeight> gptq(const quant::LinearLayer &layer,
                                       const std::vector<float> &hessian,
                                       const GptqSettings &settings) {
  const quant::Scheme &scheme = settings.scheme;
  const int64_t n = layer.n, k = layer.k;
  const int64_t groupSize = scheme.effectiveGroupSize(k), groups = scheme.groupsFor(k);
  Matrix w(n, k); // GPTQ's orientation: a row per output channel
  for (int64_t i = 0; i < k; ++i)
    for (int64_t j = 0; j < n; ++j)
      w(j, i) = layer.weight[i * n + j];
  Matrix h(k, k);
  for (int64_t i = 0; i < k; ++i)
    for (int64_t j = 0; j < k; ++j)
      h(i, j) = hessian[i * k + j];

  // Inputs that calibration never saw carry no information: GPTQ zeroes
  // their weights and gives them a unit curvature.
  for (int64_t i = 0; i < k; ++i)
    if (h(i, i) == 0) {
      h(i, i) = 1;
      w.col(i).setZero();
    }

  // Static groups: every group's grid from the weights before any update.
  std::vector<std::vector<quant::Grid>> staticGrids;
  if (settings.staticGroups)
    for (int64_t g = 0; g < groups; ++g)
      staticGrids.push_back(
          fitRowGrids(w, g * groupSize, std::min(k, (g + 1) * groupSize), scheme));

  // Act order: the columns of largest curvature first.
  std::vector<int64_t> order(k);
  std::iota(order.begin(), order.end(), 0);
  if (settings.actOrder) {
    std::stable_sort(order.begin(), order.end(),
                     [&](int64_t a, int64_t b) { return h(a, a) > h(b, b); });
    Eigen::PermutationMatrix<Eigen::Dynamic, Eigen::Dynamic, int64_t> perm(k);
    for (int64_t i = 0; i < k; ++i)
      perm.indices()[order[i]] = i; // column order[i] moves to position i
    w = w * perm.transpose();
    h = perm * h * perm.transpose();
  }

  // The upper Cholesky factor of the damped Hessian's inverse.
  h.diagonal().array() += settings.dampPercent * h.diagonal().mean();
  Eigen::LLT<Matrix> factor(h);
  if (factor.info() != Eigen::Success)
    return failure();
  Matrix inverse = factor.solve(Matrix::Identity(k, k));
  Eigen::LLT<Matrix> inverseFactor(inverse);
  if (inverseFactor.info() != Eigen::Success)
    return failure();
  Matrix hinv = inverseFactor.matrixU();

  quant::QuantizedWeight out;
  out.n = n;
  out.k = k;
  out.groups = groups;
  out.levels.resize(n * k);
  out.scales.resize(n * groups);
  if (!scheme.symmetric)
    out.zeros.resize(n * groups);
  auto record = [&](int64_t g, const std::vector<quant::Grid> &grids) {
    for (int64_t j = 0; j < n; ++j) {
      out.scales[j * groups + g] = grids[j].scale;
      if (!scheme.symmetric)
        out.zeros[j * groups + g] = int8_t(grids[j].zero);
    }
  };
  for (int64_t g = 0; g < int64_t(staticGrids.size()); ++g)
    record(g, staticGrids[g]);

  std::vector<quant::Grid> grids;
  if (groupSize >= k && !settings.staticGroups) { // per channel: one grid up front
    grids = fitRowGrids(w, 0, k, scheme);
    record(0, grids);
  }
  Eigen::VectorXd error(n);
  for (int64_t b0 = 0; b0 < k; b0 += settings.blockSize) {
    int64_t b1 = std::min(k, b0 + settings.blockSize), count = b1 - b0;
    Matrix blockErrors(n, count);
    for (int64_t i = b0; i < b1; ++i) {
      int64_t column = order[i]; // in the model's order
      const std::vector<quant::Grid> *columnGrids = &grids;
      if (settings.staticGroups) {
        columnGrids = &staticGrids[column / groupSize];
      } else if (groupSize < k && i % groupSize == 0) {
        // A new group starts: its grid from the weights as updated so far.
        grids = fitRowGrids(w, i, std::min(k, i + groupSize), scheme);
        record(i / groupSize, grids);
      }
      double d = hinv(i, i);
      for (int64_t j = 0; j < n; ++j) {
        quant::Grid grid = (*columnGrids)[j];
        int level = quant::quantizeValue(float(w(j, i)), grid, scheme.bits);
        out.levels[j * k + column] = int8_t(level);
        error(j) = (w(j, i) - double(quant::dequantizeValue(level, grid))) / d;
      }
      // Spread the error over the block's remaining columns now; over the
      // columns after the block once per block (the lazy batch update).
      w.block(0, i + 1, n, b1 - i - 1).noalias() -= error * hinv.block(i, i + 1, 1, b1 - i - 1);
      blockErrors.col(i - b0) = error;
    }
    if (b1 < k)
      w.rightCols(k - b1).noalias() -= blockErrors * hinv.block(b0, b1, count, k - b1);
  }
  return out;
}

struct GPTQPass : lowbit::impl::GPTQPassBase<GPTQPass> {
  using GPTQPassBase::GPTQPassBase;

  void runOnOperation() override {
    GptqSettings settings;
    settings.scheme = {bits, groupSize, symmetric, activationBits};
    settings.actOrder = actOrder;
    settings.staticGroups = staticGroups;
    settings.dampPercent = dampPercent;
    settings.blockSize = blockSize;
    Operation *func = getOperation();
    if (failed(quant::verifyScheme(func, "lowbit-gptq", settings.scheme)))
      return signalPassFailure();
    if (dampPercent <= 0 || dampPercent >= 1) {
      func->emitError() << "lowbit-gptq: damp-percent must be in (0, 1), got " << dampPercent;
      return signalPassFailure();
    }
    if (blockSize < 1) {
      func->emitError() << "lowbit-gptq: block-size must be positive, got " << blockSize;
      return signalPassFailure();
    }
    if (actOrder && groupSize > 0 && !staticGroups) {
      func->emitError() << "lowbit-gptq: act-order with group-size needs static-groups=true "
                           "(quantized_matmul's groups are contiguous inputs)";
      return signalPassFailure();
    }
    quant::LayerSelection selection{{layers.begin(), layers.end()},
                                    {exclude.begin(), exclude.end()}};
    for (quant::LinearLayer &layer : quant::findLinearLayers(getOperation(), selection)) {
      CalibrationTapOp tap = quant::calibrationTapOf(layer.op);
      std::vector<float> hessian;
      if (!tap || !tap.getHessian() || !quant::readFloats(*tap.getHessian(), hessian) ||
          hessian.size() != size_t(layer.k * layer.k)) {
        layer.op.emitError() << "lowbit-gptq: " << quant::describe(layer)
                             << " has no calibration Hessian: its input needs a "
                                "lowbit.calibration_tap with `hessian` (lowbitc --calib=FILE)";
        return signalPassFailure();
      }
      FailureOr<quant::QuantizedWeight> quantized = gptq(layer, hessian, settings);
      if (failed(quantized)) {
        layer.op.emitError() << "lowbit-gptq: " << quant::describe(layer)
                             << ": the damped Hessian is not positive definite (raise "
                                "damp-percent)";
        return signalPassFailure();
      }
      quant::replaceWithQuantized(layer, *quantized, settings.scheme);
      ++numQuantized;
    }
  }
};
} // namespace
