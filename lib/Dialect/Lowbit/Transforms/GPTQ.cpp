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

#include "mlir/IR/Threading.h"

#include <Eigen/Cholesky>
#include <Eigen/Core>

#include <algorithm>
#include <cmath>
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
  bool clip = false;
  double dampPercent = 0.01;
  int64_t blockSize = 128;
};

/// Output channels per parallel task.
constexpr int64_t kRowsPerTask = 128;

/// The clipping search of GPTQ's reference quantizer (its `mse` option):
/// ranges [p lo, p hi] for p = 1, 0.99, ..., 0.21, the error norm 2.4.
constexpr int kClipSteps = 80;
constexpr float kClipNorm = 2.4f;

/// The grid for `values` (one group of one output channel): fitted to their
/// range, or with `clip` to the shrunk range whose rounding error
/// sum |w - w^|^2.4 is least.
template <typename Values>
quant::Grid fitGroupGrid(const Values &values, const quant::Scheme &scheme, bool clip) {
  float lo = float(values.minCoeff()), hi = float(values.maxCoeff());
  quant::Grid best = quant::fitGrid(lo, hi, scheme);
  if (!clip)
    return best;
  float bestError = std::numeric_limits<float>::infinity();
  for (int step = 0; step < kClipSteps; ++step) {
    float p = 1.0f - float(step) / 100.0f;
    quant::Grid grid = quant::fitGrid(p * lo, p * hi, scheme);
    float error = 0;
    for (int64_t i = 0; i < values.size(); ++i) {
      float w = float(values(i));
      float rounded = quant::dequantizeValue(quant::quantizeValue(w, grid, scheme.bits), grid);
      error += std::pow(std::abs(w - rounded), kClipNorm);
    }
    if (error < bestError) {
      bestError = error;
      best = grid;
    }
  }
  return best;
}

/// The grid of each output channel over columns [k0, k1) of `w` [N, K].
std::vector<quant::Grid> fitRowGrids(const Matrix &w, int64_t k0, int64_t k1,
                                     const GptqSettings &settings) {
  std::vector<quant::Grid> grids(w.rows());
  for (int64_t n = 0; n < w.rows(); ++n)
    grids[n] = fitGroupGrid(w.row(n).segment(k0, k1 - k0), settings.scheme, settings.clip);
  return grids;
}

/// GPTQ of one layer: `weight` [K][N] as in the model, `hessian` [K][K] the
/// sum of x^T x over calibration tokens. Fails if the damped Hessian is not
/// positive definite.
FailureOr<quant::QuantizedWeight> gptq(MLIRContext *context, const quant::LinearLayer &layer,
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
  // Groups on the context's threads (the clipping search makes this work).
  std::vector<std::vector<quant::Grid>> staticGrids;
  if (settings.staticGroups) {
    staticGrids.resize(groups);
    parallelFor(context, 0, groups, [&](size_t g) {
      staticGrids[g] =
          fitRowGrids(w, int64_t(g) * groupSize, std::min(k, int64_t(g + 1) * groupSize), settings);
    });
  }

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

  // Damping, then the upper Cholesky factor of the inverse.
  h.diagonal().array() += settings.dampPercent * h.diagonal().mean();
  // The upper Cholesky factor U of H^-1 (H^-1 = U^T U) without forming
  // H^-1: with J the exchange matrix and J H J = L L^T, U = J L^-1 J (then
  // U^T U = J L^-T L^-1 J = J (J H J)^-1 J = H^-1, and the factor with a
  // positive diagonal is unique). One factorization and one triangular
  // inverse instead of a factorization, an inverse and a factorization.
  Eigen::LLT<Matrix> factor(h.reverse());
  if (factor.info() != Eigen::Success)
    return failure();
  Matrix lowerInverse = factor.matrixL().solve(Matrix::Identity(k, k));
  Matrix hinv = lowerInverse.reverse();

  quant::QuantizedWeight out;
  out.n = n;
  out.k = k;
  out.groups = groups;
  out.levels.resize(n * k);
  out.scales.resize(n * groups);
  if (!scheme.symmetric)
    out.zeros.resize(n * groups);
  // Output channels are independent given the Hessian: blocks of them on
  // the context's threads, each writing its own rows of `out`.
  int64_t tasks = (n + kRowsPerTask - 1) / kRowsPerTask;
  parallelFor(context, 0, tasks, [&](size_t task) {
    int64_t r0 = int64_t(task) * kRowsPerTask, rows = std::min(kRowsPerTask, n - r0);
    Matrix part = w.middleRows(r0, rows);
    auto record = [&](int64_t g, const std::vector<quant::Grid> &grids, int64_t first) {
      for (int64_t j = 0; j < rows; ++j) {
        out.scales[(r0 + j) * groups + g] = grids[first + j].scale;
        if (!scheme.symmetric)
          out.zeros[(r0 + j) * groups + g] = int8_t(grids[first + j].zero);
      }
    };
    for (int64_t g = 0; g < int64_t(staticGrids.size()); ++g)
      record(g, staticGrids[g], r0);

    std::vector<quant::Grid> grids;
    int64_t first = 0;                              // where this block's rows start in `grids`
    if (groupSize >= k && !settings.staticGroups) { // per channel: one grid up front
      grids = fitRowGrids(part, 0, k, settings);
      record(0, grids, 0);
    }
    Eigen::VectorXd error(rows);
    for (int64_t b0 = 0; b0 < k; b0 += settings.blockSize) {
      int64_t b1 = std::min(k, b0 + settings.blockSize), count = b1 - b0;
      Matrix blockErrors(rows, count);
      for (int64_t i = b0; i < b1; ++i) {
        int64_t column = order[i]; // in the model's order
        const std::vector<quant::Grid> *columnGrids = &grids;
        first = 0;
        if (settings.staticGroups) {
          columnGrids = &staticGrids[column / groupSize];
          first = r0;
        } else if (groupSize < k && i % groupSize == 0) {
          // A new group starts: its grid from the weights as updated so far.
          grids = fitRowGrids(part, i, std::min(k, i + groupSize), settings);
          record(i / groupSize, grids, 0);
        }
        double d = hinv(i, i);
        for (int64_t j = 0; j < rows; ++j) {
          quant::Grid grid = (*columnGrids)[first + j];
          int level = quant::quantizeValue(float(part(j, i)), grid, scheme.bits);
          out.levels[(r0 + j) * k + column] = int8_t(level);
          error(j) = (part(j, i) - double(quant::dequantizeValue(level, grid))) / d;
        }
        // Spread the error over the block's remaining columns now; over the
        // columns after the block once per block (the lazy batch update).
        part.block(0, i + 1, rows, b1 - i - 1).noalias() -=
            error * hinv.block(i, i + 1, 1, b1 - i - 1);
        blockErrors.col(i - b0) = error;
      }
      if (b1 < k)
        part.rightCols(k - b1).noalias() -= blockErrors * hinv.block(b0, b1, count, k - b1);
    }
  });
  return out;
}

struct GPTQPass : lowbit::impl::GPTQPassBase<GPTQPass> {
  using GPTQPassBase::GPTQPassBase;

  void runOnOperation() override {
    GptqSettings settings;
    settings.scheme = {bits, groupSize, symmetric, activationBits};
    settings.actOrder = actOrder;
    settings.staticGroups = staticGroups;
    settings.clip = clip;
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
    std::vector<quant::LinearLayer> selected = quant::findLinearLayers(getOperation(), selection);
    // The layers are independent given their Hessians: a batch of them (as
    // many as the context has threads, so that only their Hessians are held
    // at once) is quantized on the threads, then written into the IR.
    size_t batch = std::max<size_t>(
        1, getContext().isMultithreadingEnabled() ? getContext().getNumThreads() : 1);
    for (size_t first = 0; first < selected.size(); first += batch) {
      size_t count = std::min(batch, selected.size() - first);
      std::vector<std::vector<float>> hessians(count);
      for (size_t i = 0; i < count; ++i) {
        quant::LinearLayer &layer = selected[first + i];
        CalibrationTapOp tap = quant::calibrationTapOf(layer.op);
        if (!tap || !tap.getHessian() || !quant::readFloats(*tap.getHessian(), hessians[i]) ||
            hessians[i].size() != size_t(layer.k * layer.k)) {
          layer.op.emitError() << "lowbit-gptq: " << quant::describe(layer)
                               << " has no calibration Hessian: its input needs a "
                                  "lowbit.calibration_tap with `hessian` (lowbitc --calib=FILE)";
          return signalPassFailure();
        }
      }
      std::vector<FailureOr<quant::QuantizedWeight>> results(count, failure());
      parallelFor(&getContext(), 0, count, [&](size_t i) {
        results[i] = gptq(&getContext(), selected[first + i], hessians[i], settings);
      });
      for (size_t i = 0; i < count; ++i) {
        quant::LinearLayer &layer = selected[first + i];
        if (failed(results[i])) {
          layer.op.emitError() << "lowbit-gptq: " << quant::describe(layer)
                               << ": the damped Hessian is not positive definite (raise "
                                  "damp-percent)";
          return signalPassFailure();
        }
        quant::replaceWithQuantized(layer, *results[i], settings.scheme);
        ++numQuantized;
      }
    }
  }
};
} // namespace
