//===- RTN.cpp - Round-to-nearest weight quantization ---------------------===//
//
// Implements `lowbit-rtn` (see Passes.td).
//
//===----------------------------------------------------------------------===//

#include "lowbit/Dialect/Lowbit/Transforms/Passes.h"

#include "Quantize.h"

namespace lowbit {
#define GEN_PASS_DEF_RTNPASS
#include "lowbit/Dialect/Lowbit/Transforms/Passes.h.inc"
} // namespace lowbit

using namespace mlir;
using namespace lowbit;

namespace {
struct RTNPass : lowbit::impl::RTNPassBase<RTNPass> {
  using RTNPassBase::RTNPassBase;

  void runOnOperation() override {
    quant::Scheme scheme{bits, groupSize, symmetric, activationBits};
    if (failed(quant::verifyScheme(getOperation(), "lowbit-rtn", scheme)))
      return signalPassFailure();
    quant::LayerSelection selection{{layers.begin(), layers.end()},
                                    {exclude.begin(), exclude.end()}};
    for (quant::LinearLayer &layer : quant::findLinearLayers(getOperation(), selection)) {
      quant::replaceWithQuantized(layer, quant::roundToNearest(layer, scheme), scheme);
      ++numQuantized;
    }
  }
};
} // namespace
