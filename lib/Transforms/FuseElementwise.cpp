//===- FuseElementwise.cpp - Elementwise fusion around contractions -------===//
//
// Implements `lowbit-fuse-elementwise` (see Passes.td): upstream's
// elementwise fusion patterns with a control that leaves contractions alone.
//
//===----------------------------------------------------------------------===//

#include "lowbit/Transforms/Passes.h"

#include "mlir/Dialect/Linalg/Transforms/Transforms.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace lowbit {
#define GEN_PASS_DEF_FUSEELEMENTWISEPASS
#include "lowbit/Transforms/Passes.h.inc"
} // namespace lowbit

using namespace mlir;

namespace {
/// Contractions the micro-kernels take as they are.
bool isKeptWhole(Operation *op) {
  return op->hasAttr("lowbit.contraction") || op->hasAttr("lowbit.quantized_contraction") ||
         op->hasAttr("lowbit.outlier_product");
}

/// Reads a transposed operand of a contraction in place: the operand becomes
/// the transpose's input and its indexing map is permuted to match, when
/// the transpose has no other reader and keeps the last two dimensions last
/// (the micro-kernels read a matrix's two dimensions in either order, and
/// loop over the batch ones). Saves the transposed copy (attention's K^T).
void foldTransposesIntoContraction(linalg::GenericOp op, IRRewriter &rewriter) {
  SmallVector<AffineMap> maps = op.getIndexingMapsArray();
  bool changed = false;
  for (OpOperand *operand : op.getDpsInputOperands()) {
    auto transpose = operand->get().getDefiningOp<linalg::TransposeOp>();
    if (!transpose || !transpose->hasOneUse())
      continue;
    ArrayRef<int64_t> perm = transpose.getPermutation();
    int64_t rank = perm.size();
    if (rank < 2 || std::min(perm[rank - 1], perm[rank - 2]) != rank - 2)
      continue;
    // Result dimension i is input dimension perm[i].
    AffineMap map = maps[operand->getOperandNumber()];
    SmallVector<AffineExpr> exprs(rank);
    for (int64_t i = 0; i < rank; ++i)
      exprs[perm[i]] = map.getResult(i);
    maps[operand->getOperandNumber()] =
        AffineMap::get(map.getNumDims(), map.getNumSymbols(), exprs, op.getContext());
    rewriter.modifyOpInPlace(op, [&] { operand->set(transpose.getInput()); });
    rewriter.eraseOp(transpose);
    changed = true;
  }
  if (changed)
    rewriter.modifyOpInPlace(op,
                             [&] { op.setIndexingMapsAttr(rewriter.getAffineMapArrayAttr(maps)); });
}

struct FuseElementwisePass : lowbit::impl::FuseElementwisePassBase<FuseElementwisePass> {
  void runOnOperation() override {
    MLIRContext *context = &getContext();
    IRRewriter rewriter(context);
    getOperation()->walk([&](linalg::GenericOp op) {
      if (op->hasAttr("lowbit.contraction") && op.hasPureTensorSemantics())
        foldTransposesIntoContraction(op, rewriter);
    });
    // As upstream: fuse a producer into its only user; never change a
    // contraction (as the consumer, or reshaped as the producer).
    linalg::ControlFusionFn control = [](OpOperand *fused) {
      Operation *producer = fused->get().getDefiningOp();
      Operation *consumer = fused->getOwner();
      return producer && producer->hasOneUse() && !isKeptWhole(producer) &&
             !isKeptWhole(consumer);
    };
    RewritePatternSet patterns(context);
    linalg::populateElementwiseOpsFusionPatterns(patterns, control);
    linalg::populateFoldReshapeOpsByExpansionPatterns(patterns, control);
    linalg::populateConstantFoldLinalgOperations(patterns, control);
    affine::AffineApplyOp::getCanonicalizationPatterns(patterns, context);
    linalg::GenericOp::getCanonicalizationPatterns(patterns, context);
    tensor::ExpandShapeOp::getCanonicalizationPatterns(patterns, context);
    tensor::CollapseShapeOp::getCanonicalizationPatterns(patterns, context);
    context->getLoadedDialect<linalg::LinalgDialect>()->getCanonicalizationPatterns(patterns);
    // The patterns see every op but the contractions kept whole: some of
    // them (folding a splat constant operand into the body) rebuild a
    // generic without asking `control` and would drop a contraction's
    // marker, and with it its micro-kernel.
    SmallVector<Operation *> ops;
    getOperation()->walk<WalkOrder::PreOrder>([&](Operation *op) {
      if (isKeptWhole(op))
        return WalkResult::skip();
      if (op != getOperation())
        ops.push_back(op);
      return WalkResult::advance();
    });
    GreedyRewriteConfig config;
    config.setUseTopDownTraversal(true); // as upstream, for compile time
    config.setStrictness(GreedyRewriteStrictness::ExistingAndNewOps);
    if (failed(applyOpPatternsGreedily(ops, std::move(patterns), config)))
      return signalPassFailure();
  }
};
} // namespace
