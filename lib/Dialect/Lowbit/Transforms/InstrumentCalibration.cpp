//===- InstrumentCalibration.cpp - Taps on linear layers' inputs ----------===//
//
// Implements `lowbit-instrument-calibration` (see Passes.td).
//
//===----------------------------------------------------------------------===//

#include "lowbit/Dialect/Lowbit/Transforms/Passes.h"

#include "Quantize.h"

#include "mlir/IR/Builders.h"

namespace lowbit {
#define GEN_PASS_DEF_INSTRUMENTCALIBRATIONPASS
#include "lowbit/Dialect/Lowbit/Transforms/Passes.h.inc"
} // namespace lowbit

using namespace mlir;
using namespace lowbit;

namespace {
struct InstrumentCalibrationPass
    : lowbit::impl::InstrumentCalibrationPassBase<InstrumentCalibrationPass> {
  using InstrumentCalibrationPassBase::InstrumentCalibrationPassBase;

  void runOnOperation() override {
    quant::LayerSelection selection{{}, {exclude.begin(), exclude.end()}};
    quant::forEachLinearLayer(getOperation(), selection, [&](onnx::MatMulOp op, StringRef name) {
      auto type = dyn_cast<RankedTensorType>(op.getA().getType());
      if (op.getA().getDefiningOp<CalibrationTapOp>() || !type || type.getRank() < 1 ||
          !isa<Float32Type, Float16Type, BFloat16Type>(type.getElementType()))
        return;
      OpBuilder b(op);
      auto tap = CalibrationTapOp::create(
          b, op.getLoc(), type, op.getA(), b.getStringAttr(name.empty() ? "linear" : name),
          ElementsAttr(), ElementsAttr(), ElementsAttr(), IntegerAttr());
      op.getAMutable().assign(tap.getResult());
      ++numTaps;
    });
  }
};
} // namespace
