//===- EmulateBF16.cpp - bf16 as f32 arithmetic and integer conversions ---===//
//
// Implements `lowbit-emulate-bf16` (see Passes.td) with upstream's
// EmulateUnsupportedFloats and ExpandBFloat16 patterns.
//
//===----------------------------------------------------------------------===//

#include "lowbit/Transforms/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Arith/Transforms/Passes.h"
#include "mlir/Transforms/DialectConversion.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace lowbit {
#define GEN_PASS_DEF_EMULATEBF16PASS
#include "lowbit/Transforms/Passes.h.inc"
} // namespace lowbit

using namespace mlir;

namespace {
struct EmulateBF16Pass : lowbit::impl::EmulateBF16PassBase<EmulateBF16Pass> {
  void runOnOperation() override {
    MLIRContext *context = &getContext();
    // bf16 arithmetic in f32, each result rounded back to bf16.
    TypeConverter converter;
    arith::populateEmulateUnsupportedFloatsConversions(converter, {BFloat16Type::get(context)},
                                                       Float32Type::get(context));
    RewritePatternSet emulation(context);
    arith::populateEmulateUnsupportedFloatsPatterns(emulation, converter);
    ConversionTarget target(*context);
    arith::populateEmulateUnsupportedFloatsLegality(target, converter);
    target.markUnknownOpDynamicallyLegal([](Operation *) { return true; });
    if (failed(applyPartialConversion(getOperation(), target, std::move(emulation))))
      return signalPassFailure();
    // Then the conversions themselves as integer arithmetic.
    RewritePatternSet expansion(context);
    arith::populateExpandBFloat16Patterns(expansion);
    if (failed(applyPatternsGreedily(getOperation(), std::move(expansion))))
      return signalPassFailure();
  }
};
} // namespace
