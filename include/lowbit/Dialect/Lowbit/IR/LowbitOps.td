//===- LowbitOps.td - The lowbit dialect's ops -------------*- tablegen -*-===//

#ifndef LOWBIT_DIALECT_LOWBIT_IR_LOWBITOPS_TD
#define LOWBIT_DIALECT_LOWBIT_IR_LOWBITOPS_TD

include "lowbit/Dialect/Lowbit/IR/LowbitDialect.td"
include "mlir/IR/CommonAttrConstraints.td"
include "mlir/IR/CommonTypeConstraints.td"
include "mlir/Interfaces/SideEffectInterfaces.td"

def Lowbit_FloatTensor : RankedTensorOf<[F32, F16, BF16]>;
def Lowbit_LevelTensor : RankedTensorOf<[I8]>;
def Lowbit_ScaleTensor : RankedTensorOf<[F32, F16]>;

def Lowbit_QuantizedMatMulOp : Lowbit_Op<"quantized_matmul", [Pure, AttrSizedOperandSegments]> {
  let summary = "Matrix product by a weight quantized to 2-8 bits, group-wise";
  let description = [{
    The product of `input` (`[..., K]`) by a weight held as integer levels
    `weights` (`[N, K]`, one row per output channel) with one scale (and,
    when asymmetric, one zero point) per `group_size` consecutive inputs of
    each output channel:

    ```
    result[..., n] = sum_k input[..., k] * W[k, n]
    W[k, n]        = (weights[n, k] - zero_points[n, k / group_size]) * scales[n, k / group_size]
    ```

    `scales` and `zero_points` are `[N, G]` with G = ceil(K / group_size): a
    last group shorter than the others (K = 172, groups of 32) is allowed.
    `group_size` = K means one scale per output channel. The levels of
    `weights` and `zero_points` lie in [-2^(bits-1), 2^(bits-1) - 1] (see
    the dialect description); without `zero_points` the quantization is
    symmetric. It replaces an `onnx.MatMul` by a constant `[K, N]` weight;
    the result has the input's leading dimensions and N.

    With `activation_bits = 8`, the input is quantized first, each row on
    its own symmetric grid (as `lowbit.dynamic_quantize` defines it: scale
    max|x| / 127, levels round-half-even and clamped to [-127, 127]), and
    the product is taken with those values, so that a kernel may multiply
    integers (int8 x int8 -> int32, as ONNX Runtime's MatMulNBits does at
    accuracy level 4). With `activation_scale` as well, every row shares
    that one scale (static, per tensor, from calibration): levels
    clamp(roundeven(x / activation_scale), -127, 127).

    With `outliers` (LLM.int8's decomposition, `lowbit-fuse-outlier-split`),
    the input channels listed in `outlier_channels` (`[C]`, i64) are taken
    out of the quantized product, which sees them as zeros (also when its
    rows are quantized to int8), and multiplied in floating point by the
    rows of `outlier_weights` (`[C, N]`):

    ```
    result[..., n] = sum_{k not an outlier} input'[..., k] * W[k, n]
                   + sum_c input[..., outlier_channels[c]] * outlier_weights[c, n]
    ```

    ```mlir
    %y = lowbit.quantized_matmul %x, %q, %s {bits = 4 : i64, group_size = 32 : i64}
       : (tensor<?x?x172xf32>, tensor<64x172xi8>, tensor<64x6xf32>) -> tensor<?x?x64xf32>
    ```
  }];
  let arguments = (ins Lowbit_FloatTensor:$input, Lowbit_LevelTensor:$weights,
                       Lowbit_ScaleTensor:$scales, Optional<Lowbit_LevelTensor>:$zero_points,
                       Optional<RankedTensorOf<[I64]>>:$outlier_channels,
                       Optional<Lowbit_FloatTensor>:$outlier_weights,
                       ConfinedAttr<I64Attr, [IntPositive]>:$bits,
                       ConfinedAttr<I64Attr, [IntPositive]>:$group_size,
                       OptionalAttr<ConfinedAttr<I64Attr, [IntPositive]>>:$activation_bits,
                       OptionalAttr<F32Attr>:$activation_scale);
  let results = (outs Lowbit_FloatTensor:$result);
  let assemblyFormat = [{
    $input `,` $weights `,` $scales (`zero_points` $zero_points^)?
    (`outliers` `(` $outlier_channels^ `,` $outlier_weights `)`)? attr-dict `:`
    functional-type(operands, results)
  }];
  let hasVerifier = 1;
  let hasCanonicalizer = 1;
}

def Lowbit_DynamicQuantizeOp : Lowbit_Op<"dynamic_quantize", [Pure]> {
  let summary = "Symmetric per-row quantization of activations, scales computed at run time";
  let description = [{
    Quantizes each row (the last dimension) of `input` to signed `bits`-bit
    levels with its own scale, as W8A8 linear layers do per token:

    ```
    scales[..., 0]    = max_k |input[..., k]| / (2^(bits-1) - 1)   (1 for a row of zeros)
    quantized[..., k] = clamp(round_half_even(input[..., k] / scales[..., 0]),
                              -(2^(bits-1) - 1), 2^(bits-1) - 1)
    ```

    The levels are symmetric (the most negative level is unused), so that
    a product of two quantized values never overflows its accumulator.

    ```mlir
    %q, %s = lowbit.dynamic_quantize %x {bits = 8 : i64}
           : (tensor<?x?x4096xf32>) -> (tensor<?x?x4096xi8>, tensor<?x?x1xf32>)
    ```
  }];
  let arguments = (ins Lowbit_FloatTensor:$input, ConfinedAttr<I64Attr, [IntPositive]>:$bits);
  let results = (outs Lowbit_LevelTensor:$quantized, RankedTensorOf<[F32]>:$scales);
  let assemblyFormat = "$input attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

def Lowbit_PackNibblesOp : Lowbit_Op<"pack_nibbles", [Pure]> {
  let summary = "Two 4-bit levels per byte along the last dimension";
  let description = [{
    Levels in [-8, 7] (one per i8), two per byte of the result: byte j of a
    row holds level 2j in its low nibble and level 2j + 1 in its high one,
    each as level + 8 (the layout lowbit.quantized_matmul's packed weights
    use). The last dimension is static and even; the result's is half.

    ```mlir
    %p = lowbit.pack_nibbles %q : tensor<?x4x?x64xi8> -> tensor<?x4x?x32xi8>
    ```
  }];
  let arguments = (ins Lowbit_LevelTensor:$levels);
  let results = (outs Lowbit_LevelTensor:$packed);
  let assemblyFormat = "$levels attr-dict `:` type($levels) `->` type($packed)";
  let hasVerifier = 1;
}

def Lowbit_UnpackNibblesOp : Lowbit_Op<"unpack_nibbles", [Pure]> {
  let summary = "Bytes of two 4-bit levels back to one level per i8";
  let description = [{
    The inverse of `lowbit.pack_nibbles` along dimension `axis` (negative:
    counted from the end; the default is the last): that dimension doubles,
    level k of it being nibble k % 2 of byte k / 2, less 8. An axis other
    than the last arises when the packed bytes are transposed before they
    are read (`lowbit-fold-dequantize-into-matmul` moves the unpacking
    below the layout ops, so that `lowbit.mixed_matmul` reads the bytes).

    ```mlir
    %q = lowbit.unpack_nibbles %p : tensor<?x4x?x32xi8> -> tensor<?x4x?x64xi8>
    %t = lowbit.unpack_nibbles %pt {axis = 2 : i64} : tensor<?x4x32x?xi8> -> tensor<?x4x64x?xi8>
    ```
  }];
  let arguments = (ins Lowbit_LevelTensor:$packed, DefaultValuedAttr<I64Attr, "-1">:$axis);
  let results = (outs Lowbit_LevelTensor:$levels);
  let assemblyFormat = "$packed attr-dict `:` type($packed) `->` type($levels)";
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    /// `axis` in [0, rank).
    int64_t getPackedAxis() {
      int64_t rank = getLevels().getType().getRank();
      int64_t axis = static_cast<int64_t>(getAxis()); // I64Attr reads as uint64_t
      return axis < 0 ? axis + rank : axis;
    }
  }];
}

def Lowbit_DequantizeOp : Lowbit_Op<"dequantize", [Pure]> {
  let summary = "Integer levels back to floating point";
  let description = [{
    `result = (quantized - zero_points) * scales`, with `scales` and
    `zero_points` broadcast to the shape of `quantized` (numpy rules, so a
    `[..., 1]` scale is per row and a `[K]` scale per column). Without
    `zero_points`, z = 0.

    ```mlir
    %x = lowbit.dequantize %q, %s : (tensor<?x?x4096xi8>, tensor<?x?x1xf32>) -> tensor<?x?x4096xf32>
    ```
  }];
  let arguments = (ins Lowbit_LevelTensor:$quantized, Lowbit_ScaleTensor:$scales,
                       Optional<Lowbit_LevelTensor>:$zero_points);
  let results = (outs Lowbit_FloatTensor:$result);
  let assemblyFormat = [{
    $quantized `,` $scales (`zero_points` $zero_points^)? attr-dict `:`
    functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def Lowbit_MixedMatMulOp : Lowbit_Op<"mixed_matmul", [Pure]> {
  let summary = "MatMul of floating-point rows by integer levels";
  let description = [{
    `result = lhs @ levels` with numpy (onnx.MatMul) semantics for the batch
    dimensions, each level converted exactly to floating point: what is left
    of a product by `lowbit.dequantize(levels, scales)` once the scales, being
    constant along the reduction, are taken out of it
    (`lowbit-fold-dequantize-into-matmul`). The contraction reads the int8
    levels directly; no dequantized copy is written.

    ```mlir
    %s = lowbit.mixed_matmul %q, %kt : (tensor<?x8x1x64xf32>, tensor<?x8x64x?xi8>) -> tensor<?x8x1x?xf32>
    ```
  }];
  let arguments = (ins Lowbit_FloatTensor:$lhs, Lowbit_LevelTensor:$levels);
  let results = (outs Lowbit_FloatTensor:$result);
  let assemblyFormat = [{
    $lhs `,` $levels attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def Lowbit_CalibrationTapOp : Lowbit_Op<"calibration_tap", [AllTypesMatch<["input", "result"]>]> {
  let summary = "Marks an activation whose statistics calibration gathers, and holds them";
  let description = [{
    Returns `input` unchanged. `lowbit-instrument-calibration` puts one on the
    input of each linear layer, named after it; the driver runs calibration
    data through the instrumented model and writes what it saw back into the
    tap's attributes, per input channel (the last dimension, K):

    - `abs_max` (`[K]`): max |x| over all tokens;
    - `mean_abs` (`[K]`): mean |x| over all tokens;
    - `hessian` (`[K, K]`): the sum over tokens of x^T x (GPTQ's H = 2 X^T X up
      to the factor), usually a resource;
    - `tokens`: how many rows were seen.

    Quantization passes read them (`lowbit-gptq` the Hessian, `lowbit-awq`
    mean |x| and the Hessian, which it rescales when it rescales the
    activation); a tap with statistics stays in the IR for later passes and
    lowers to nothing. A tap has no side effects in the IR sense but is not
    `Pure` either: it must survive dead-code elimination until calibration
    is done.

    ```mlir
    %y = lowbit.calibration_tap %x {name = "layers.0.attn.q_proj", tokens = 4096 : i64,
                                    abs_max = dense<...> : tensor<64xf32>} : tensor<?x?x64xf32>
    ```
  }];
  let arguments = (ins Lowbit_FloatTensor:$input, StrAttr:$name,
                       OptionalAttr<ElementsAttr>:$abs_max,
                       OptionalAttr<ElementsAttr>:$mean_abs,
                       OptionalAttr<ElementsAttr>:$hessian,
                       OptionalAttr<ConfinedAttr<I64Attr, [IntNonNegative]>>:$tokens);
  let results = (outs Lowbit_FloatTensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($input)";
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    /// Whether calibration has filled in any statistics (a tap without them
    /// records when the model runs).
    bool hasStatistics() { return getTokens() || getAbsMax() || getMeanAbs() || getHessian(); }
  }];
}

#endif // LOWBIT_DIALECT_LOWBIT_IR_LOWBITOPS_TD
