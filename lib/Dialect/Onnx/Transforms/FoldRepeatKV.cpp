//===- FoldRepeatKV.cpp - Grouped-query attention without repeated KV ----===//
//
// Implements `lowbit-fold-repeat-kv` (see Passes.td).
//
//===----------------------------------------------------------------------===//

#include "lowbit/Dialect/Onnx/Transforms/Passes.h"

#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace lowbit::onnx {
#define GEN_PASS_DEF_FOLDREPEATKVPASS
#include "lowbit/Dialect/Onnx/Transforms/Passes.h.inc"
} // namespace lowbit::onnx

using namespace mlir;
using namespace lowbit::onnx;

namespace {
/// One element of a shape built by Concat: a constant, or a one-element
/// value computed at run time.
struct Piece {
  Value value;
  std::optional<int64_t> constant;
};

/// The elements of a shape built by Concat (constant inputs of several
/// elements included), `count` of them, or failure.
FailureOr<SmallVector<Piece>> shapePieces(Value shape, size_t count) {
  auto concat = shape.getDefiningOp<ConcatOp>();
  if (!concat)
    return failure();
  SmallVector<Piece> pieces;
  for (Value input : concat.getInputs()) {
    auto type = dyn_cast<RankedTensorType>(input.getType());
    if (!type || type.getRank() != 1)
      return failure();
    if (std::optional<SmallVector<int64_t>> values = getConstantIntValues(input)) {
      for (int64_t v : *values)
        pieces.push_back({input, v});
    } else if (type.getShape() == ArrayRef<int64_t>{1}) {
      pieces.push_back({input, std::nullopt});
    } else {
      return failure();
    }
  }
  if (pieces.size() != count)
    return failure();
  return pieces;
}

/// The same value in every run: equal constants, or the same computed value.
bool samePiece(const Piece &a, const Piece &b) {
  if (a.constant || b.constant)
    return a.constant == b.constant;
  return a.value == b.value;
}

/// The shape of an exporter's repeat_kv Expand: a Concat, or a Concat whose
/// -1 entries are replaced by 1 (Where(Equal(s, -1), 1, s)).
FailureOr<SmallVector<Piece>> expandPieces(Value shape) {
  if (auto where = shape.getDefiningOp<WhereOp>()) {
    auto equal = where.getCondition().getDefiningOp<EqualOp>();
    std::optional<SmallVector<int64_t>> ones = getConstantIntValues(where.getX());
    Value concat = where.getY();
    std::optional<SmallVector<int64_t>> minusOnes =
        equal ? getConstantIntValues(equal.getA() == concat ? equal.getB() : equal.getA())
              : std::nullopt;
    if (!equal || (equal.getA() != concat && equal.getB() != concat) || !ones || !minusOnes ||
        !llvm::all_of(*ones, [](int64_t v) { return v == 1; }) ||
        !llvm::all_of(*minusOnes, [](int64_t v) { return v == -1; }))
      return failure();
    shape = concat;
  }
  return shapePieces(shape, 5);
}

/// Dimensions [start, end) of `value`'s shape, as an i64 vector.
Value shapeSlice(OpBuilder &b, Location loc, Value value, int64_t start, int64_t end) {
  return ShapeOp::create(b, loc, RankedTensorType::get({end - start}, b.getI64Type()), value,
                         b.getI64IntegerAttr(start), b.getI64IntegerAttr(end));
}

/// MatMul(A, [Transpose(]Reshape(Expand(Unsqueeze(X, 2), [b, kvh, rep, n, d]),
/// [b, kvh * rep, n, d])[)]) -> A's heads split into (kvh, rep), multiplied
/// with Unsqueeze(X, 2) broadcast over rep, and merged back.
struct FoldRepeatKV : OpRewritePattern<MatMulOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(MatMulOp matmul, PatternRewriter &rewriter) const override {
    Value b = matmul.getB();
    auto transpose = b.getDefiningOp<TransposeOp>();
    if (transpose) {
      auto perm = transpose.getPermAttr();
      if (!perm || perm.asArrayRef() != ArrayRef<int64_t>{0, 1, 3, 2} || !transpose->hasOneUse())
        return rewriter.notifyMatchFailure(matmul, "not K^T");
      b = transpose.getData();
    }
    auto reshape = b.getDefiningOp<ReshapeOp>();
    auto expand = reshape ? reshape.getData().getDefiningOp<ExpandOp>() : ExpandOp();
    auto unsqueeze = expand ? expand.getInput().getDefiningOp<UnsqueezeOp>() : UnsqueezeOp();
    if (!unsqueeze || !reshape->hasOneUse() || !expand->hasOneUse() || reshape.getAllowzero() != 0)
      return rewriter.notifyMatchFailure(matmul, "B is not repeat_kv");
    std::optional<SmallVector<int64_t>> axes = getConstantIntValues(unsqueeze.getAxes());
    auto xType = dyn_cast<RankedTensorType>(unsqueeze.getData().getType());
    auto aType = dyn_cast<RankedTensorType>(matmul.getA().getType());
    auto resultType = dyn_cast<RankedTensorType>(matmul.getType());
    if (!axes || *axes != SmallVector<int64_t>{2} || !xType || xType.getRank() != 4 ||
        xType.isDynamicDim(1) || !aType || aType.getRank() != 4 || !resultType ||
        resultType.getRank() != 4)
      return rewriter.notifyMatchFailure(matmul, "not [batch, kv_heads, seq, head_dim]");
    // The Reshape must merge exactly the Expand's (kv_heads, rep): the same
    // batch, sequence and head_dim pieces, kv_heads * rep heads.
    FailureOr<SmallVector<Piece>> e = expandPieces(expand.getShape());
    FailureOr<SmallVector<Piece>> r = shapePieces(reshape.getShape(), 4);
    if (failed(e) || failed(r))
      return rewriter.notifyMatchFailure(matmul, "shapes not built piece by piece");
    int64_t kvHeads = xType.getDimSize(1);
    std::optional<int64_t> expandKV = (*e)[1].constant, rep = (*e)[2].constant,
                           heads = (*r)[1].constant;
    if (!expandKV || *expandKV != kvHeads || !rep || *rep < 1 || !heads ||
        *heads != kvHeads * *rep || !samePiece((*r)[0], (*e)[0]) || !samePiece((*r)[2], (*e)[3]) ||
        !samePiece((*r)[3], (*e)[4]))
      return rewriter.notifyMatchFailure(matmul, "the Reshape does not merge (kv_heads, rep)");
    for (const Piece &piece : {(*e)[0], (*e)[3], (*e)[4]})
      if (piece.constant && *piece.constant <= 0)
        return rewriter.notifyMatchFailure(matmul, "a -1 or 0 in the shapes");
    // A's heads split into (kv_heads, rep): it must have kv_heads * rep.
    if (!aType.isDynamicDim(1) && aType.getDimSize(1) != kvHeads * *rep)
      return rewriter.notifyMatchFailure(matmul, "A does not have kv_heads * rep heads");

    Location loc = matmul.getLoc();
    Type i64 = rewriter.getI64Type();
    auto vectorType = [&](int64_t n) { return RankedTensorType::get({n}, i64); };
    // A [b, h, m, k] -> [b, kv_heads, rep, m, k].
    Value aShape = ConcatOp::create(rewriter, loc, vectorType(5),
                                    ValueRange{shapeSlice(rewriter, loc, matmul.getA(), 0, 1),
                                               createI64Vector(rewriter, loc, {kvHeads, *rep}),
                                               shapeSlice(rewriter, loc, matmul.getA(), 2, 4)},
                                    rewriter.getI64IntegerAttr(0));
    ArrayRef<int64_t> as = aType.getShape();
    auto a5Type =
        RankedTensorType::get({as[0], kvHeads, *rep, as[2], as[3]}, aType.getElementType());
    Value a5 = ReshapeOp::create(rewriter, loc, a5Type, matmul.getA(), aShape);
    // X [b, kv_heads, 1, n, d], transposed for K^T; broadcast over rep.
    Value b5 = unsqueeze.getResult();
    ArrayRef<int64_t> us = cast<RankedTensorType>(b5.getType()).getShape();
    if (transpose)
      b5 = TransposeOp::create(
          rewriter, loc,
          RankedTensorType::get({us[0], us[1], us[2], us[4], us[3]}, xType.getElementType()), b5,
          rewriter.getDenseI64ArrayAttr({0, 1, 2, 4, 3}));
    ArrayRef<int64_t> rs = resultType.getShape();
    auto product5Type =
        RankedTensorType::get({rs[0], kvHeads, *rep, rs[2], rs[3]}, resultType.getElementType());
    Value product5 = MatMulOp::create(rewriter, loc, product5Type, a5, b5);
    // [b, kv_heads, rep, m, n] -> [b, h, m, n].
    Value productShape =
        ConcatOp::create(rewriter, loc, vectorType(4),
                         ValueRange{shapeSlice(rewriter, loc, product5, 0, 1),
                                    createI64Vector(rewriter, loc, {kvHeads * *rep}),
                                    shapeSlice(rewriter, loc, product5, 3, 5)},
                         rewriter.getI64IntegerAttr(0));
    rewriter.replaceOpWithNewOp<ReshapeOp>(matmul, resultType, product5, productShape);
    if (transpose)
      rewriter.eraseOp(transpose);
    rewriter.eraseOp(reshape);
    rewriter.eraseOp(expand);
    return success();
  }
};

struct FoldRepeatKVPass : lowbit::onnx::impl::FoldRepeatKVPassBase<FoldRepeatKVPass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    patterns.add<FoldRepeatKV>(&getContext());
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      return signalPassFailure();
  }
};
} // namespace
