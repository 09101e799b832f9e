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
    if (staticActivations && activationBits != 8) {
      getOperation()->emitError("lowbit-rtn: static-activations needs activation-bits=8");
      return signalPassFailure();
    }
    quant::LayerSelection selection{{layers.begin(), layers.end()},
                                    {exclude.begin(), exclude.end()}};
    for (quant::LinearLayer &layer : quant::findLinearLayers(getOperation(), selection)) {
      std::optional<float> activationScale;
      if (staticActivations) {
        FailureOr<float> scale = quant::staticActivationScale(layer, "lowbit-rtn");
        if (failed(scale))
          return signalPassFailure();
        activationScale = *scale;
      }
      quant::replaceWithQuantized(layer, quant::roundToNearest(layer, scheme), scheme,
                                  activationScale);
      ++numQuantized;
    }
  }
};
} // namespace
