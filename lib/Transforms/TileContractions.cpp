//===- TileContractions.cpp - Tile the m loop of contractions -------------===//
//
// Implements `lowbit-tile-contractions` (see Passes.td).
//
//===----------------------------------------------------------------------===//

#include "lowbit/Transforms/Passes.h"

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/SCF/Transforms/TileUsingInterface.h"
#include "mlir/IR/PatternMatch.h"

namespace lowbit {
#define GEN_PASS_DEF_TILECONTRACTIONSPASS
#include "lowbit/Transforms/Passes.h.inc"
} // namespace lowbit

using namespace mlir;

namespace {
constexpr StringLiteral kMarker = "lowbit.contraction";

struct TileContractionsPass : lowbit::impl::TileContractionsPassBase<TileContractionsPass> {
  using TileContractionsPassBase::TileContractionsPassBase;

  void runOnOperation() override {
    SmallVector<linalg::GenericOp> contractions;
    getOperation().walk([&](linalg::GenericOp op) {
      if (op->hasAttr(kMarker))
        contractions.push_back(op);
    });
    IRRewriter rewriter(&getContext());
    for (linalg::GenericOp op : contractions) {
      op->removeAttr(kMarker);
      // Loops are (batch..., k, m, n): m is the second to last.
      int64_t loops = op.getNumLoops(), mLoop = loops - 2;
      SmallVector<int64_t> ranges = op.getStaticLoopRanges();
      if (mTile <= 0 || (!ShapedType::isDynamic(ranges[mLoop]) && ranges[mLoop] <= mTile))
        continue;
      SmallVector<OpFoldResult> sizes(loops, rewriter.getIndexAttr(0));
      sizes[mLoop] = rewriter.getIndexAttr(mTile);
      scf::SCFTilingOptions options;
      options.setTileSizes(sizes);
      rewriter.setInsertionPoint(op);
      auto tileable = dyn_cast<TilingInterface>(op.getOperation());
      FailureOr<scf::SCFTilingResult> tiled =
          tileable ? scf::tileUsingSCF(rewriter, tileable, options)
                   : FailureOr<scf::SCFTilingResult>(failure());
      if (failed(tiled)) {
        op.emitError("cannot tile this contraction");
        return signalPassFailure();
      }
      for (Operation *inner : tiled->tiledOps)
        inner->removeAttr(kMarker);
      rewriter.replaceOp(op, tiled->replacements);
      ++numTiled;
    }
  }
};
} // namespace
