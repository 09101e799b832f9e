//===- Common.h - Helpers shared by the onnx-to-linalg patterns -*- C++ -*-===//

#ifndef LOWBIT_LIB_CONVERSION_ONNXTOLINALG_COMMON_H
#define LOWBIT_LIB_CONVERSION_ONNXTOLINALG_COMMON_H

#include "lowbit/Dialect/Onnx/IR/Onnx.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/PatternMatch.h"

namespace lowbit::detail {
using namespace mlir;

/// Result #`index` of `op` as a ranked tensor type, or a match failure that
/// names the op (lowering needs ranks).
FailureOr<RankedTensorType> rankedResult(Operation *op, unsigned index,
                                         PatternRewriter &rewriter);

/// The sizes of a ranked tensor: attributes where static, tensor.dim else.
SmallVector<OpFoldResult> sizesOf(OpBuilder &b, Location loc, Value tensor);

/// tensor.empty of `type`, taking dynamic sizes from `sizes`.
Value emptyTensor(OpBuilder &b, Location loc, RankedTensorType type,
                  ArrayRef<OpFoldResult> sizes);

/// `type` filled with `value` (an element-typed scalar).
Value filledTensor(OpBuilder &b, Location loc, RankedTensorType type,
                   ArrayRef<OpFoldResult> sizes, Value value);

/// Sizes of the broadcast of `operands` into `resultType` (ONNX rules; a
/// dynamic operand dimension is taken to be the result's).
SmallVector<OpFoldResult> broadcastSizes(OpBuilder &b, Location loc, ValueRange operands,
                                         RankedTensorType resultType);

/// The indexing map of an operand of `shape` broadcast into `resultRank`
/// loops: trailing alignment, static-1 dimensions read index 0.
AffineMap broadcastMap(MLIRContext *context, ArrayRef<int64_t> shape,
                       ArrayRef<int64_t> resultShape);

/// linalg.generic computing `body(operand elements...)` elementwise over the
/// broadcast of `operands` into `resultType`. The result's sizes are
/// `sizes` when given, else broadcastSizes of the operands.
Value elementwise(OpBuilder &b, Location loc, RankedTensorType resultType, ValueRange operands,
                  function_ref<Value(OpBuilder &, Location, ValueRange)> body,
                  ArrayRef<OpFoldResult> sizes = {});

/// A scalar constant of `type` (float or integer).
Value scalarConstant(OpBuilder &b, Location loc, Type type, double value);

/// Element `i` of a 1-D integer tensor, as an index.
Value extractIndex(OpBuilder &b, Location loc, Value tensor, int64_t i);

/// An index value (constant where possible) for an OpFoldResult.
Value toIndexValue(OpBuilder &b, Location loc, OpFoldResult size);

/// Converts a scalar between element types with ONNX Cast semantics.
Value convertScalar(OpBuilder &b, Location loc, Value value, Type to);

/// Reduces `input` along `axes` (sorted, distinct) with keepdims, using
/// `combine(acc, x)` from `init`; the result has size 1 on each axis.
Value reduceKeepDims(OpBuilder &b, Location loc, Value input, ArrayRef<int64_t> axes, Value init,
                     function_ref<Value(OpBuilder &, Location, Value, Value)> combine);

/// The number of elements along `axes` of `input`, as a scalar of `type`.
Value countAlong(OpBuilder &b, Location loc, Value input, ArrayRef<int64_t> axes, Type type);

/// Reshapes `source` to `resultType` with the given sizes (index values).
Value reshapeTo(OpBuilder &b, Location loc, Value source, RankedTensorType resultType,
                ArrayRef<OpFoldResult> sizes);

bool isFloat(Type t);

/// The signless integer of an unsigned (or signed) one's width, which arith
/// takes; other types as they are.
Type signless(Type t);

/// select(v < 0, v + size, v) on index values: ONNX's negative positions
/// count from the back.
Value wrapNegative(OpBuilder &b, Location loc, Value v, Value size);

/// `v` as its signless type (the same bits, through an unrealized cast that
/// LLVM, which has no signedness, drops), and back to `to`.
Value toSignless(OpBuilder &b, Location loc, Value v);
Value fromSignless(OpBuilder &b, Location loc, Value v, Type to);

/// `v` (the signless bits of an integer of `type`) widened to the integer
/// `to`, or converted to the float `to`, as `type`'s signedness says.
Value widen(OpBuilder &b, Location loc, Value v, Type type, Type to);

/// C[batch..., m, n] = sum_k lhs[batch..., m, k] * rhs[batch..., k, n] (either
/// operand transposed in its last two dimensions) as one linalg.generic
/// marked `lowbit.contraction`; batch dimensions broadcast as numpy's. An
/// integer `rhs` is converted to float in the body. With `nibbleDim` (one of
/// rhs's last two dimensions, not transposed), rhs holds int4 levels two per
/// byte along that dimension (lowbit.unpack_nibbles's layout) and the body
/// takes each level out of its byte.
Value contraction(OpBuilder &b, Location loc, Value lhs, Value rhs, RankedTensorType resultType,
                  bool transposeLhs, bool transposeRhs, std::optional<int64_t> nibbleDim = {});

/// The i8 level held in nibble `index % 2` of `byte` (low nibble first, as
/// level + 8): ((byte >> 4 * (index & 1)) & 15) - 8. lowbit-lower-to-ukernels
/// recognizes exactly this sequence.
Value nibbleLevel(OpBuilder &b, Location loc, Value byte, Value index);

/// float8 (E4M3FN, E4M3FNUZ, E5M2, E5M2FNUZ, E8M0FNU), float4 E2M1FN and 2-
/// and 4-bit integers: one element per byte in memory, converted through f32
/// (NarrowTypes.cpp).
bool isNarrowElement(Type t);

/// Converts between a narrow element type and f32 inside a body. Built
/// before the body (a narrow float's tables are constants outside it);
/// for integers it holds nothing.
class NarrowCodec {
public:
  NarrowCodec(OpBuilder &b, Location loc, Type element);
  /// The value of `v` (the narrow type, integers as their signless bits).
  Value toF32(OpBuilder &b, Location loc, Value v) const;
  /// f32 `x` in the narrow type (integers as signless bits): floats rounded
  /// to nearest even, `saturate` clamping what overflows to the largest
  /// finite value (E8M0: rounded as `roundMode` says); integers truncated
  /// toward zero and wrapped, as ONNX Cast does.
  Value fromF32(OpBuilder &b, Location loc, Value x, bool saturate,
                StringRef roundMode = "up") const;

private:
  Value encodeSignMagnitude(OpBuilder &b, Location loc, Value x, bool saturate) const;
  Value encodeE8M0(OpBuilder &b, Location loc, Value x, bool saturate, StringRef roundMode) const;

  Type element;
  unsigned width = 0;
  Value valueTable, boundTable, midpointTable; // floats only
  int64_t maxFinite = 0, nanCode = 0, overflowCode = 0;
  bool signedNaN = false, signedZero = true;
};

/// Reports each op of `dialect` left under `root` ("cannot lower ... to
/// linalg"); true if there was any.
bool reportOpsLeft(Operation *root, Dialect *dialect);

void populateElementwisePatterns(RewritePatternSet &patterns);
void populateTensorPatterns(RewritePatternSet &patterns);
void populateReductionPatterns(RewritePatternSet &patterns);
void populateNarrowTypePatterns(RewritePatternSet &patterns);
} // namespace lowbit::detail

#endif // LOWBIT_LIB_CONVERSION_ONNXTOLINALG_COMMON_H
