//===- OnnxOps.td - Operations of the onnx dialect ---------*- tablegen -*-===//
//
// One op per ONNX operator. Each description states the operator's semantics
// as far as they constrain types, and every rule the verifier checks; the ONNX
// operator documentation is the reference for the numerics.
//
//===----------------------------------------------------------------------===//

#ifndef LOWBIT_DIALECT_ONNX_IR_ONNXOPS_TD
#define LOWBIT_DIALECT_ONNX_IR_ONNXOPS_TD

include "lowbit/Dialect/Onnx/IR/OnnxDialect.td"
include "lowbit/Dialect/Onnx/IR/OnnxInterfaces.td"
include "mlir/IR/BuiltinAttributeInterfaces.td"
include "mlir/IR/CommonAttrConstraints.td"
include "mlir/Interfaces/SideEffectInterfaces.td"

//===----------------------------------------------------------------------===//
// Type constraints
//===----------------------------------------------------------------------===//

def Onnx_Tensor : AnyTypeOf<[AnyTensor]>;
def Onnx_I64Tensor : TensorOf<[I64]>;
def Onnx_IndexTensor : TensorOf<[I32, I64]>;
def Onnx_BoolTensor : TensorOf<[I1]>;

/// ONNX `int` attributes: signless i64, read as a signed int64_t (axes are
/// often negative).
def Onnx_IntAttr : TypedSignlessIntegerAttrBase<I64, "int64_t",
                                                "64-bit integer attribute"> {
  let convertFromStorage = "$_self.getValue().getSExtValue()";
}

//===----------------------------------------------------------------------===//
// Base classes
//===----------------------------------------------------------------------===//

/// Every onnx op is free of side effects and infers its result types. Result
/// types are checked by the inference (InferResultTypesOpInterface), not by
/// ODS constraints, so that an op can be verified while its result types are
/// still placeholders (see DeferResultTypeVerification).
class Onnx_Op<string mnemonic, list<Trait> traits = []>
    : Op<Onnx_Dialect, mnemonic,
         !listconcat(traits, [Pure, DeclareOpInterfaceMethods<
                                        Onnx_InferResultTypesOpInterface>])> {
  let assemblyFormat =
      "operands attr-dict `:` functional-type(operands, results)";
}

/// An op whose single result has the type of its first operand.
class Onnx_SameTypeOp<string mnemonic, list<Trait> traits = []>
    : Onnx_Op<mnemonic, traits> {
  let extraClassDefinition = [{
    ::llvm::LogicalResult
    $cppClass::inferResultTypes(::llvm::SmallVectorImpl<::mlir::Type> &inferred) {
      inferred.push_back(getOperation()->getOperand(0).getType());
      return ::mlir::success();
    }
  }];
}

/// Elementwise unary math: `Y = f(X)`, same shape and element type.
class Onnx_UnaryOp<string mnemonic, string summaryText, list<Trait> traits = []>
    : Onnx_SameTypeOp<mnemonic, traits> {
  let summary = summaryText;
  let description = [{
    Elementwise `}] # summaryText # [{`. The result has the type of `X`.

    ```mlir
    %y = onnx.}] # mnemonic # [{ %x : (tensor<?x64xf32>) -> tensor<?x64xf32>
    ```
  }];
  let arguments = (ins Onnx_Tensor:$X);
  let results = (outs Onnx_Tensor:$Y);
}

/// Elementwise binary op with ONNX multidirectional (numpy) broadcasting.
/// `resultElement` is "" for the element type of `A`, or a builder of i1.
class Onnx_BroadcastOp<string mnemonic, string summaryText, bit boolResult = 0,
                       bit sameElementType = 1, list<Trait> traits = []>
    : Onnx_Op<mnemonic, traits> {
  let summary = summaryText;
  let description = [{
    Elementwise `}] # summaryText # [{` with multidirectional broadcasting:
    shapes are aligned at their trailing dimension, and each pair of sizes
    must be equal or one of them 1. A dynamic size broadcast against a static
    size `n > 1` gives `n`; against 1 or another dynamic size it stays
    dynamic.
  }] # !if(sameElementType, [{
    `A` and `B` must have the same element type.}], [{
    `A` and `B` may have different element types.}]) # !if(boolResult, [{
    The result is a tensor of `i1`.}], [{
    The result has the element type of `A`.}]) # [{

    ```mlir
    %c = onnx.}] # mnemonic # [{ %a, %b : (tensor<?x8xf32>, tensor<8xf32>) -> tensor<?x8x}] #
      !if(boolResult, "i1", "f32") # [{>
    ```
  }];
  let arguments = (ins Onnx_Tensor:$A, Onnx_Tensor:$B);
  let results = (outs Onnx_Tensor:$C);
  let extraClassDefinition = [{
    ::llvm::LogicalResult
    $cppClass::inferResultTypes(::llvm::SmallVectorImpl<::mlir::Type> &inferred) {
      return inferBroadcastResult(getOperation(), }] #
        !if(sameElementType, "true", "false") # [{, }] #
        !if(boolResult, "true", "false") # [{, inferred);
    }
  }];
  let hasFolder = 1;
}

/// Variadic elementwise op with broadcasting (Min, Max).
class Onnx_VariadicBroadcastOp<string mnemonic, string summaryText>
    : Onnx_Op<mnemonic> {
  let summary = summaryText;
  let description = [{
    Elementwise `}] # summaryText # [{` of one or more tensors with
    multidirectional broadcasting. All operands must have the same element
    type, which is the result's.
  }];
  let arguments = (ins Variadic<Onnx_Tensor>:$data_0);
  let results = (outs Onnx_Tensor:$output);
  let extraClassDefinition = [{
    ::llvm::LogicalResult
    $cppClass::inferResultTypes(::llvm::SmallVectorImpl<::mlir::Type> &inferred) {
      return inferBroadcastResult(getOperation(), true, false, inferred);
    }
  }];
}

/// Reductions over `axes` (an optional operand, as in opset 18).
class Onnx_ReduceOp<string mnemonic, string summaryText> : Onnx_Op<mnemonic> {
  let summary = summaryText;
  let description = [{
    `}] # summaryText # [{` of `data` over the dimensions listed in `axes`
    (negative values count from the back; each must lie in `[-r, r-1]` and
    appear once). When `axes` is absent or empty, all dimensions are reduced,
    unless `noop_with_empty_axes` is 1, in which case the op is the identity.
    With `keepdims = 1` each reduced dimension stays with size 1, otherwise it
    is removed.

    Older opsets' `axes` attribute is imported as a constant `axes` operand.

    ```mlir
    %m = onnx.}] # mnemonic # [{ %x axes %axes {keepdims = 1 : i64}
        : (tensor<?x?x64xf32>, tensor<1xi64>) -> tensor<?x?x1xf32>
    ```
  }];
  let arguments = (ins Onnx_Tensor:$data, Optional<Onnx_I64Tensor>:$axes,
                   DefaultValuedAttr<Onnx_IntAttr, "1">:$keepdims,
                   DefaultValuedAttr<Onnx_IntAttr, "0">:$noop_with_empty_axes);
  let results = (outs Onnx_Tensor:$reduced);
  let assemblyFormat = [{
    $data (`axes` $axes^)? attr-dict `:` functional-type(operands, results)
  }];
  let extraClassDefinition = [{
    ::llvm::LogicalResult
    $cppClass::inferResultTypes(::llvm::SmallVectorImpl<::mlir::Type> &inferred) {
      return inferReduceResult(getOperation(), getAxes(), getKeepdims(),
                               getNoopWithEmptyAxes(), inferred);
    }
  }];
}

//===----------------------------------------------------------------------===//
// Constants and shapes
//===----------------------------------------------------------------------===//

def Onnx_ConstantOp : Op<Onnx_Dialect, "Constant",
    [ConstantLike, Pure,
     DeclareOpInterfaceMethods<Onnx_InferResultTypesOpInterface>]> {
  let summary = "a constant tensor";
  let description = [{
    A constant tensor. `value` is any elements attribute: model initializers
    above the importer's inline limit are `dense_resource` blobs, small ones
    and constants produced by folding are `dense`. The result type is the
    value's type. ONNX's `value_float`, `value_ints`, ... forms are imported
    as `value`; sparse and string constants are not supported.

    ```mlir
    %w = onnx.Constant dense_resource<blocks.0.wq> : tensor<64x64xf32>
    %s = onnx.Constant dense<[0, -1, 8]> : tensor<3xi64>
    ```
  }];
  let arguments = (ins ElementsAttr:$value);
  let results = (outs Onnx_Tensor:$output);
  let hasCustomAssemblyFormat = 1;
  let hasFolder = 1;
  let builders = [OpBuilder<(ins "::mlir::ElementsAttr":$value), [{
    build($_builder, $_state, value.getType(), value);
  }]>];
}

def Onnx_ConstantOfShapeOp : Onnx_Op<"ConstantOfShape"> {
  let summary = "a tensor of the given shape filled with one value";
  let description = [{
    A tensor whose shape is the value of the 1-D `i64` operand `input` and
    whose elements all equal `value`, a one-element tensor (default: `f32`
    zero). The result's element type is `value`'s. The result's rank is the
    length of `input`; its sizes are known when `input` is a constant.
  }];
  let arguments = (ins Onnx_I64Tensor:$input, OptionalAttr<ElementsAttr>:$value);
  let results = (outs Onnx_Tensor:$output);
  let hasFolder = 1;
}

def Onnx_ShapeOp : Onnx_Op<"Shape"> {
  let summary = "the shape of a tensor as a 1-D i64 tensor";
  let description = [{
    The sizes of `data`'s dimensions `[start, end)` as a 1-D `i64` tensor
    (negative bounds count from the back, and both are clamped to `[0, r]`).
    Folds to a constant when those sizes are static.
  }];
  let arguments = (ins Onnx_Tensor:$data, DefaultValuedAttr<Onnx_IntAttr, "0">:$start,
                   OptionalAttr<Onnx_IntAttr>:$end);
  let results = (outs Onnx_Tensor:$shape);
  let hasFolder = 1;
  let extraClassDeclaration = [{
    /// The dimensions [start, end) of a rank-`rank` input that the op
    /// returns, after wrapping negative bounds and clamping to [0, rank].
    std::pair<int64_t, int64_t> getDimRange(int64_t rank);
  }];
}

def Onnx_IdentityOp : Onnx_SameTypeOp<"Identity"> {
  let summary = "the input, unchanged";
  let description = [{ Returns `input`. Folds away. }];
  let arguments = (ins Onnx_Tensor:$input);
  let results = (outs Onnx_Tensor:$output);
  let hasFolder = 1;
}

def Onnx_CastOp : Onnx_Op<"Cast"> {
  let summary = "elementwise conversion to another element type";
  let description = [{
    Converts each element of `input` to the element type `to`. `saturate`
    (opset 19) only matters for float8 targets; `round_mode` (opset 25:
    "up", "down" or "nearest") only for `f8E8M0FNU` targets.

    ```mlir
    %f = onnx.Cast %i {to = f32} : (tensor<?xi64>) -> tensor<?xf32>
    ```
  }];
  let arguments = (ins Onnx_Tensor:$input, TypeAttr:$to,
                   DefaultValuedAttr<Onnx_IntAttr, "1">:$saturate,
                   DefaultValuedStrAttr<StrAttr, "up">:$round_mode);
  let results = (outs Onnx_Tensor:$output);
  let hasFolder = 1;
}

def Onnx_RangeOp : Onnx_Op<"Range"> {
  let summary = "a 1-D sequence start, start + delta, ... up to limit";
  let description = [{
    `start`, `limit` and `delta` are scalars (rank 0) of one element type,
    the result's. The length is `max(ceil((limit - start) / delta), 0)`,
    known when all three are constants.
  }];
  let arguments = (ins Onnx_Tensor:$start, Onnx_Tensor:$limit, Onnx_Tensor:$delta);
  let results = (outs Onnx_Tensor:$output);
  let hasFolder = 1;
}

//===----------------------------------------------------------------------===//
// Elementwise
//===----------------------------------------------------------------------===//

def Onnx_AddOp : Onnx_BroadcastOp<"Add", "A + B", 0, 1, [Commutative]>;
def Onnx_SubOp : Onnx_BroadcastOp<"Sub", "A - B">;
def Onnx_MulOp : Onnx_BroadcastOp<"Mul", "A * B", 0, 1, [Commutative]>;
def Onnx_DivOp : Onnx_BroadcastOp<"Div", "A / B">;
def Onnx_PowOp : Onnx_BroadcastOp<"Pow", "A ^ B", 0, 0>;
def Onnx_EqualOp : Onnx_BroadcastOp<"Equal", "A == B", 1, 1, [Commutative]>;
def Onnx_LessOp : Onnx_BroadcastOp<"Less", "A < B", 1>;
def Onnx_GreaterOp : Onnx_BroadcastOp<"Greater", "A > B", 1>;
def Onnx_AndOp : Onnx_BroadcastOp<"And", "A and B", 1, 1, [Commutative]>;

def Onnx_MinOp : Onnx_VariadicBroadcastOp<"Min", "minimum">;
def Onnx_MaxOp : Onnx_VariadicBroadcastOp<"Max", "maximum">;

def Onnx_WhereOp : Onnx_Op<"Where"> {
  let summary = "select X where condition holds, else Y";
  let description = [{
    Elementwise `condition ? X : Y`, the three broadcast together.
    `condition` is `i1`; `X` and `Y` have one element type, the result's.
  }];
  let arguments = (ins Onnx_BoolTensor:$condition, Onnx_Tensor:$X, Onnx_Tensor:$Y);
  let results = (outs Onnx_Tensor:$output);
  let hasFolder = 1;
}

def Onnx_AbsOp : Onnx_UnaryOp<"Abs", "|X|">;
def Onnx_NegOp : Onnx_UnaryOp<"Neg", "-X">;
def Onnx_SqrtOp : Onnx_UnaryOp<"Sqrt", "sqrt(X)">;
def Onnx_ReciprocalOp : Onnx_UnaryOp<"Reciprocal", "1 / X">;
def Onnx_ExpOp : Onnx_UnaryOp<"Exp", "exp(X)">;
def Onnx_LogOp : Onnx_UnaryOp<"Log", "log(X)">;
def Onnx_ErfOp : Onnx_UnaryOp<"Erf", "erf(X)">;
def Onnx_TanhOp : Onnx_UnaryOp<"Tanh", "tanh(X)">;
def Onnx_SigmoidOp : Onnx_UnaryOp<"Sigmoid", "1 / (1 + exp(-X))">;
def Onnx_ReluOp : Onnx_UnaryOp<"Relu", "max(X, 0)">;
def Onnx_NotOp : Onnx_SameTypeOp<"Not"> {
  let summary = "logical not";
  let description = [{ Elementwise logical negation of an `i1` tensor. }];
  let arguments = (ins Onnx_BoolTensor:$X);
  let results = (outs Onnx_Tensor:$Y);
}

def Onnx_GeluOp : Onnx_SameTypeOp<"Gelu"> {
  let summary = "Gaussian error linear unit";
  let description = [{
    `X * Phi(X)` with the exact normal CDF (`approximate = "none"`), or the
    tanh approximation (`approximate = "tanh"`); any other value is an error.
  }];
  let arguments = (ins Onnx_Tensor:$X,
                   DefaultValuedStrAttr<StrAttr, "none">:$approximate);
  let results = (outs Onnx_Tensor:$Y);
  let hasVerifier = 1;
}

def Onnx_ClipOp : Onnx_SameTypeOp<"Clip", [AttrSizedOperandSegments]> {
  let summary = "clamp into [min, max]";
  let description = [{
    Elementwise `min(max(input, min), max)`; `min` and `max` are optional
    scalars of the input's element type (opset 11 and later).

    ```mlir
    %y = onnx.Clip %x min %lo max %hi
        : (tensor<4xf32>, tensor<f32>, tensor<f32>) -> tensor<4xf32>
    ```
  }];
  let arguments = (ins Onnx_Tensor:$input, Optional<Onnx_Tensor>:$min,
                   Optional<Onnx_Tensor>:$max);
  let results = (outs Onnx_Tensor:$output);
  let assemblyFormat = [{
    $input (`min` $min^)? (`max` $max^)? attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Normalization and activation over an axis
//===----------------------------------------------------------------------===//

class Onnx_SoftmaxLikeOp<string mnemonic, string summaryText>
    : Onnx_SameTypeOp<mnemonic> {
  let summary = summaryText;
  let description = [{
    `}] # summaryText # [{` along `axis` (opset 13 semantics: one axis, not
    the opset-11 flattening to 2-D). `axis` must lie in `[-r, r-1]`.
  }];
  let arguments = (ins Onnx_Tensor:$input, DefaultValuedAttr<Onnx_IntAttr, "-1">:$axis);
  let results = (outs Onnx_Tensor:$output);
  let hasVerifier = 1;
}
def Onnx_SoftmaxOp : Onnx_SoftmaxLikeOp<"Softmax", "softmax">;
def Onnx_LogSoftmaxOp : Onnx_SoftmaxLikeOp<"LogSoftmax", "log of softmax">;

def Onnx_LayerNormalizationOp : Onnx_Op<"LayerNormalization"> {
  let summary = "layer normalization over the trailing dimensions";
  let description = [{
    Normalizes `X` over the dimensions `[axis, r)` to zero mean and unit
    variance (with `epsilon` added to the variance), then multiplies by
    `Scale` and adds the optional `B`; both broadcast to those dimensions.
    Results: `Y` (type of `X`) and optionally `Mean` and `InvStdDev`, with
    `X`'s leading sizes and 1 for each normalized dimension, and element type
    `f32` (`stash_type = 1`).

    ```mlir
    %y = onnx.LayerNormalization %x, %scale bias %b {axis = -1 : i64, epsilon = 1.0e-05 : f32}
        : (tensor<?x?x64xf32>, tensor<64xf32>, tensor<64xf32>) -> tensor<?x?x64xf32>
    ```
  }];
  let arguments = (ins Onnx_Tensor:$X, Onnx_Tensor:$Scale, Optional<Onnx_Tensor>:$B,
                   DefaultValuedAttr<Onnx_IntAttr, "-1">:$axis,
                   DefaultValuedAttr<F32Attr, "1.0e-5">:$epsilon,
                   DefaultValuedAttr<Onnx_IntAttr, "1">:$stash_type);
  let results = (outs Variadic<Onnx_Tensor>:$outputs);
  let assemblyFormat = [{
    $X `,` $Scale (`bias` $B^)? attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def Onnx_RMSNormalizationOp : Onnx_SameTypeOp<"RMSNormalization"> {
  let summary = "root-mean-square normalization over the trailing dimensions";
  let description = [{
    `X / sqrt(mean(X^2 over [axis, r)) + epsilon) * scale` (ONNX opset 23;
    ONNX Runtime's `SimplifiedLayerNormalization` is imported as this op).
    `scale` broadcasts to the normalized dimensions. The result has `X`'s type.
  }];
  let arguments = (ins Onnx_Tensor:$X, Onnx_Tensor:$scale,
                   DefaultValuedAttr<Onnx_IntAttr, "-1">:$axis,
                   DefaultValuedAttr<F32Attr, "1.0e-5">:$epsilon,
                   DefaultValuedAttr<Onnx_IntAttr, "1">:$stash_type);
  let results = (outs Onnx_Tensor:$Y);
  let hasVerifier = 1;
}

def Onnx_ReduceMeanOp : Onnx_ReduceOp<"ReduceMean", "mean">;
def Onnx_ReduceSumOp : Onnx_ReduceOp<"ReduceSum", "sum">;
def Onnx_ReduceMaxOp : Onnx_ReduceOp<"ReduceMax", "maximum">;

//===----------------------------------------------------------------------===//
// Linear algebra
//===----------------------------------------------------------------------===//

def Onnx_MatMulOp : Onnx_Op<"MatMul"> {
  let summary = "matrix product with numpy.matmul semantics";
  let description = [{
    Matrix product of the trailing two dimensions; a 1-D operand is promoted
    (a leading or trailing 1) and the promoted dimension removed from the
    result; leading (batch) dimensions broadcast. The contracted sizes must
    agree where static. `A` and `B` have one element type, the result's.

    ```mlir
    %y = onnx.MatMul %x, %w : (tensor<?x?x64xf32>, tensor<64x172xf32>) -> tensor<?x?x172xf32>
    ```
  }];
  let arguments = (ins Onnx_Tensor:$A, Onnx_Tensor:$B);
  let results = (outs Onnx_Tensor:$Y);
}

def Onnx_GemmOp : Onnx_Op<"Gemm"> {
  let summary = "alpha * op(A) * op(B) + beta * C";
  let description = [{
    `A` and `B` are 2-D (transposed first when `transA` / `transB` is 1);
    the optional `C` broadcasts (unidirectionally) to the `M x N` result.
  }];
  let arguments = (ins Onnx_Tensor:$A, Onnx_Tensor:$B, Optional<Onnx_Tensor>:$C,
                   DefaultValuedAttr<F32Attr, "1.0">:$alpha,
                   DefaultValuedAttr<F32Attr, "1.0">:$beta,
                   DefaultValuedAttr<Onnx_IntAttr, "0">:$transA,
                   DefaultValuedAttr<Onnx_IntAttr, "0">:$transB);
  let results = (outs Onnx_Tensor:$Y);
  let assemblyFormat = [{
    $A `,` $B (`bias` $C^)? attr-dict `:` functional-type(operands, results)
  }];
}

def Onnx_MatMulIntegerOp : Onnx_Op<"MatMulInteger", [AttrSizedOperandSegments]> {
  let summary = "integer matrix product accumulated in i32";
  let description = [{
    `(A - a_zero_point) x (B - b_zero_point)` with numpy.matmul shapes; `A`
    and `B` are 8-bit (`i8` or `ui8`); the result is `i32`. A zero point is a
    scalar or per-row (A) / per-column (B) vector of its operand's type.
  }];
  let arguments = (ins Onnx_Tensor:$A, Onnx_Tensor:$B,
                   Optional<Onnx_Tensor>:$a_zero_point,
                   Optional<Onnx_Tensor>:$b_zero_point);
  let results = (outs Onnx_Tensor:$Y);
  let assemblyFormat = [{
    $A `,` $B (`a_zero_point` $a_zero_point^)? (`b_zero_point` $b_zero_point^)?
    attr-dict `:` functional-type(operands, results)
  }];
}

def Onnx_MatMulNBitsOp : Onnx_Op<"MatMulNBits", [AttrSizedOperandSegments]> {
  let summary = "ONNX Runtime's weight-only quantized matrix product (com.microsoft)";
  let description = [{
    `Y = A x W + bias` with `W` `[K, N]` stored quantized, block by block
    along K, as ONNX Runtime's quantizers write it: `B` (`ui8`)
    `[N, ceil(K / block_size), block_size * bits / 8]` holds the unsigned
    `bits`-bit levels of each output channel, packed little-end first within
    a byte; `scales` one per channel and block (`N * ceil(K / block_size)`
    elements); `zero_points` (optional) the blocks' unsigned zero points
    packed the same way, each channel's row padded to a whole byte, and
    2^(bits-1) when absent:

    ```
    W[k, n] = (level(n, k) - zero_point(n, k / block_size)) * scale(n, k / block_size)
    ```

    `g_idx` (a block index per row of W, for act-order) and `bias` (`[N]`)
    are optional; `accuracy_level` is ONNX Runtime's hint for its own
    kernels. lowbit-convert-matmul-nbits turns this op into
    `lowbit.quantized_matmul`.

    ```mlir
    %y = onnx.MatMulNBits %a, %b, %s {K = 128 : i64, N = 64 : i64, bits = 4 : i64, block_size = 32 : i64}
       : (tensor<?x128xf32>, tensor<64x4x16xui8>, tensor<256xf32>) -> tensor<?x64xf32>
    ```
  }];
  let arguments = (ins Onnx_Tensor:$A, Onnx_Tensor:$B, Onnx_Tensor:$scales,
                   Optional<Onnx_Tensor>:$zero_points, Optional<Onnx_Tensor>:$g_idx,
                   Optional<Onnx_Tensor>:$bias, Onnx_IntAttr:$K, Onnx_IntAttr:$N,
                   Onnx_IntAttr:$bits, Onnx_IntAttr:$block_size,
                   DefaultValuedAttr<Onnx_IntAttr, "0">:$accuracy_level);
  let results = (outs Onnx_Tensor:$Y);
  let assemblyFormat = [{
    $A `,` $B `,` $scales (`zero_points` $zero_points^)? (`g_idx` $g_idx^)? (`bias` $bias^)?
    attr-dict `:` functional-type(operands, results)
  }];
}

//===----------------------------------------------------------------------===//
// Data movement
//===----------------------------------------------------------------------===//

def Onnx_GatherOp : Onnx_Op<"Gather"> {
  let summary = "gather slices along an axis";
  let description = [{
    Picks entries of `data` along `axis` at `indices` (`i32` or `i64`,
    negative counts from the back). The result's shape is
    `data[:axis] + indices + data[axis+1:]`.
  }];
  let arguments = (ins Onnx_Tensor:$data, Onnx_IndexTensor:$indices,
                   DefaultValuedAttr<Onnx_IntAttr, "0">:$axis);
  let results = (outs Onnx_Tensor:$output);
  let hasFolder = 1;
}

def Onnx_TransposeOp : Onnx_Op<"Transpose"> {
  let summary = "permute dimensions";
  let description = [{
    Result dimension `i` is input dimension `perm[i]`; `perm` must be a
    permutation of `[0, r)` and defaults to reversing the dimensions.
  }];
  let arguments = (ins Onnx_Tensor:$data, OptionalAttr<DenseI64ArrayAttr>:$perm);
  let results = (outs Onnx_Tensor:$transposed);
  let hasFolder = 1;
}

def Onnx_ReshapeOp : Onnx_Op<"Reshape"> {
  let summary = "reshape to the sizes given by a 1-D i64 tensor";
  let description = [{
    The result's rank is the length of `shape`. Each entry is a size, `-1`
    (at most one: inferred from the element count) or `0` (copy the input's
    size at that position, unless `allowzero = 1`, when 0 is a real size).
    When `shape` is constant and the input's element count is known, the
    verifier checks that the counts agree.
  }];
  let arguments = (ins Onnx_Tensor:$data, Onnx_I64Tensor:$shape,
                   DefaultValuedAttr<Onnx_IntAttr, "0">:$allowzero);
  let results = (outs Onnx_Tensor:$reshaped);
  let hasFolder = 1;
  let hasCanonicalizer = 1;
}

def Onnx_FlattenOp : Onnx_Op<"Flatten"> {
  let summary = "flatten to 2-D at an axis";
  let description = [{
    The result is 2-D: the product of the sizes before `axis` by the product
    of the sizes from `axis` on. `axis` lies in `[-r, r]`.
  }];
  let arguments = (ins Onnx_Tensor:$input, DefaultValuedAttr<Onnx_IntAttr, "1">:$axis);
  let results = (outs Onnx_Tensor:$output);
}

def Onnx_SqueezeOp : Onnx_Op<"Squeeze"> {
  let summary = "remove dimensions of size 1";
  let description = [{
    Removes the dimensions listed in the optional `axes` operand (each must
    have size 1 where static), or every size-1 dimension when `axes` is
    absent. The opset-11 `axes` attribute is imported as the operand.
  }];
  let arguments = (ins Onnx_Tensor:$data, Optional<Onnx_I64Tensor>:$axes);
  let results = (outs Onnx_Tensor:$squeezed);
  let assemblyFormat = [{
    $data (`axes` $axes^)? attr-dict `:` functional-type(operands, results)
  }];
  let hasFolder = 1;
}

def Onnx_UnsqueezeOp : Onnx_Op<"Unsqueeze"> {
  let summary = "insert dimensions of size 1";
  let description = [{
    Inserts a size-1 dimension at each position of `axes` in the result
    (negative values count from the back of the result; no repeats). The
    result's rank is known only when `axes` is a constant.
  }];
  let arguments = (ins Onnx_Tensor:$data, Onnx_I64Tensor:$axes);
  let results = (outs Onnx_Tensor:$expanded);
  let hasFolder = 1;
}

def Onnx_ConcatOp : Onnx_Op<"Concat"> {
  let summary = "concatenate along an axis";
  let description = [{
    All inputs have one rank and element type and equal sizes except along
    `axis`, where the result's size is the sum.
  }];
  let arguments = (ins Variadic<Onnx_Tensor>:$inputs, Onnx_IntAttr:$axis);
  let results = (outs Onnx_Tensor:$concat_result);
  let hasFolder = 1;
}

def Onnx_SplitOp : Onnx_Op<"Split"> {
  let summary = "split along an axis";
  let description = [{
    Splits `input` along `axis` into one result per output, sized by the
    optional 1-D `split` operand (which must sum to the size of that axis),
    or else into equal parts (opset 18: the last part may be smaller when the
    size does not divide; `num_outputs`, when given, must equal the number of
    results).
  }];
  let arguments = (ins Onnx_Tensor:$input, Optional<Onnx_I64Tensor>:$split,
                   DefaultValuedAttr<Onnx_IntAttr, "0">:$axis,
                   OptionalAttr<Onnx_IntAttr>:$num_outputs);
  let results = (outs Variadic<Onnx_Tensor>:$outputs);
  let assemblyFormat = [{
    $input (`split` $split^)? attr-dict `:` functional-type(operands, results)
  }];
}

def Onnx_SliceOp : Onnx_Op<"Slice", [AttrSizedOperandSegments]> {
  let summary = "strided slice";
  let description = [{
    `data[starts:ends:steps]` along `axes` (default: the first
    `len(starts)` dimensions; steps default to 1 and must not be 0).
    `starts`, `ends`, `axes` and `steps` are 1-D of one length. Bounds are
    clamped as numpy does. Sizes are known where the bounds are constants
    and the sliced dimension is static (or the bounds need no clamping).

    ```mlir
    %y = onnx.Slice %x, %starts, %ends axes %axes
        : (tensor<512x4xf32>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>) -> tensor<?x4xf32>
    ```
  }];
  let arguments = (ins Onnx_Tensor:$data, Onnx_IndexTensor:$starts,
                   Onnx_IndexTensor:$ends, Optional<Onnx_IndexTensor>:$axes,
                   Optional<Onnx_IndexTensor>:$steps);
  let results = (outs Onnx_Tensor:$output);
  let assemblyFormat = [{
    $data `,` $starts `,` $ends (`axes` $axes^)? (`steps` $steps^)? attr-dict
    `:` functional-type(operands, results)
  }];
  let hasFolder = 1;
}

def Onnx_ExpandOp : Onnx_Op<"Expand"> {
  let summary = "broadcast to a shape";
  let description = [{
    Broadcasts `input` with the shape given by the 1-D `i64` operand `shape`
    (bidirectionally, as numpy's `input * ones(shape)`).
  }];
  let arguments = (ins Onnx_Tensor:$input, Onnx_I64Tensor:$shape);
  let results = (outs Onnx_Tensor:$output);
  let hasFolder = 1;
}

def Onnx_TileOp : Onnx_Op<"Tile"> {
  let summary = "repeat a tensor along each dimension";
  let description = [{
    Result size `i` is `input` size `i` times `repeats[i]`; `repeats` is a
    1-D `i64` tensor of length `r`.
  }];
  let arguments = (ins Onnx_Tensor:$input, Onnx_I64Tensor:$repeats);
  let results = (outs Onnx_Tensor:$output);
}

def Onnx_TriluOp : Onnx_SameTypeOp<"Trilu"> {
  let summary = "upper or lower triangle of the trailing two dimensions";
  let description = [{
    Keeps the upper (`upper = 1`) or lower triangle of each matrix in the
    trailing two dimensions, shifted by the optional scalar `k`; zeros the
    rest. The input has rank 2 or more.
  }];
  let arguments = (ins Onnx_Tensor:$input, Optional<Onnx_I64Tensor>:$k,
                   DefaultValuedAttr<Onnx_IntAttr, "1">:$upper);
  let results = (outs Onnx_Tensor:$output);
  let assemblyFormat = [{
    $input (`k` $k^)? attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Quantization
//===----------------------------------------------------------------------===//

def Onnx_QuantizeLinearOp : Onnx_Op<"QuantizeLinear"> {
  let summary = "quantize: saturate(round(x / y_scale) + y_zero_point)";
  let description = [{
    `y_scale` is a scalar (per tensor), a 1-D tensor along `axis` (per axis),
    or, with `block_size > 0`, `x`'s shape with `axis` divided into blocks.
    The result's element type is `y_zero_point`'s when present, else
    `output_dtype`, else `ui8`; its shape is `x`'s.
  }];
  let arguments = (ins Onnx_Tensor:$x, Onnx_Tensor:$y_scale,
                   Optional<Onnx_Tensor>:$y_zero_point,
                   DefaultValuedAttr<Onnx_IntAttr, "1">:$axis,
                   DefaultValuedAttr<Onnx_IntAttr, "1">:$saturate,
                   DefaultValuedAttr<Onnx_IntAttr, "0">:$block_size,
                   OptionalAttr<TypeAttr>:$output_dtype);
  let results = (outs Onnx_Tensor:$y);
  let assemblyFormat = [{
    $x `,` $y_scale (`zero_point` $y_zero_point^)? attr-dict `:` functional-type(operands, results)
  }];
}

def Onnx_DequantizeLinearOp : Onnx_Op<"DequantizeLinear"> {
  let summary = "dequantize: (x - x_zero_point) * x_scale";
  let description = [{
    The scale layouts are those of `QuantizeLinear`. The result has `x`'s
    shape and the element type of `x_scale` (or `output_dtype` when given).
  }];
  let arguments = (ins Onnx_Tensor:$x, Onnx_Tensor:$x_scale,
                   Optional<Onnx_Tensor>:$x_zero_point,
                   DefaultValuedAttr<Onnx_IntAttr, "1">:$axis,
                   DefaultValuedAttr<Onnx_IntAttr, "0">:$block_size,
                   OptionalAttr<TypeAttr>:$output_dtype);
  let results = (outs Onnx_Tensor:$y);
  let assemblyFormat = [{
    $x `,` $x_scale (`zero_point` $x_zero_point^)? attr-dict `:` functional-type(operands, results)
  }];
}

def Onnx_DynamicQuantizeLinearOp : Onnx_Op<"DynamicQuantizeLinear"> {
  let summary = "quantize an f32 tensor to ui8 with a computed scale and zero point";
  let description = [{
    Computes a per-tensor `ui8` quantization of `x` (`f32`) from its range
    (which always includes 0). Results: `y` (`ui8`, `x`'s shape), `y_scale`
    (`f32` scalar) and `y_zero_point` (`ui8` scalar).
  }];
  let arguments = (ins TensorOf<[F32]>:$x);
  let results = (outs Onnx_Tensor:$y, Onnx_Tensor:$y_scale, Onnx_Tensor:$y_zero_point);
}

#endif // LOWBIT_DIALECT_ONNX_IR_ONNXOPS_TD
