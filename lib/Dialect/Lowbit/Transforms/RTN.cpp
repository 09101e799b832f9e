//===- RTN.cpp - Round-to-nearest weight quantization ---------------------===//
//
// Implements `lowbit-rtn` (see Passes.td).
//
//===----------------------------------------------------------------------===//

#include "lowbit/Dialect/Lowbit/Transforms/Passes.h"

#include "Quantize.h"

#include <limits>

namespace lowbit {
#define GEN_PASS_DEF_RTNPASS
#include "lowbit/Dialect/Lowbit/Transforms/Passes.h.inc"
} // namespace lowbit

using namespace mlir;
using namespace lowbit;

namespace {
/// Rounds each group of each output channel to its own grid.
quant::QuantizedWeight roundToNearest(const quant::LinearLayer &layer,
                                      const quant::Scheme &scheme) {
  quant::QuantizedWeight out;
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
      quant::Grid grid = quant::fitGrid(lo, hi, scheme);
      out.scales[n * out.groups + g] = grid.scale;
      if (!scheme.symmetric)
        out.zeros[n * out.groups + g] = int8_t(grid.zero);
      for (int64_t k = k0; k < k1; ++k)
        out.levels[n * layer.k + k] =
            int8_t(quant::quantizeValue(layer.weight[k * layer.n + n], grid, scheme.bits));
    }
  return out;
}

struct RTNPass : lowbit::impl::RTNPassBase<RTNPass> {
  using RTNPassBase::RTNPassBase;

  void runOnOperation() override {
    if (bits != 2 && bits != 3 && bits != 4 && bits != 8) {
      getOperation().emitError() << "lowbit-rtn: bits must be 2, 3, 4 or 8, got " << int64_t(bits);
      return signalPassFailure();
    }
    if (groupSize < 0) {
      getOperation().emitError() << "lowbit-rtn: group-size must be positive (or 0 for per "
                                    "channel), got "
                                 << int64_t(groupSize);
      return signalPassFailure();
    }
    if (activationBits != 0 && activationBits != 8) {
      getOperation().emitError() << "lowbit-rtn: activation-bits must be 0 or 8, got "
                                 << int64_t(activationBits);
      return signalPassFailure();
    }
    quant::Scheme scheme{bits, groupSize, symmetric, activationBits};
    SmallVector<std::string> excluded(exclude.begin(), exclude.end());
    for (quant::LinearLayer &layer : quant::findLinearLayers(getOperation(), excluded)) {
      quant::replaceWithQuantized(layer, roundToNearest(layer, scheme), scheme);
      ++numQuantized;
    }
  }
};
} // namespace
