//===- Passes.td - Quantization passes ---------------------*- tablegen -*-===//

#ifndef LOWBIT_DIALECT_LOWBIT_TRANSFORMS_PASSES_TD
#define LOWBIT_DIALECT_LOWBIT_TRANSFORMS_PASSES_TD

include "mlir/Pass/PassBase.td"

def RTNPass : Pass<"lowbit-rtn", "::mlir::func::FuncOp"> {
  let summary = "Round-to-nearest weight quantization of linear layers";
  let description = [{
    Every linear layer — an `onnx.MatMul` whose second operand is a 2-D f32
    constant `[K, N]`, or the transpose of a constant `[N, K]` (a head tied
    to the embedding) — not excluded becomes a `lowbit.quantized_matmul`
    whose weight is rounded to the nearest level of a `bits`-bit grid fitted
    to each group of `group-size` inputs of each output channel (the last
    group of a channel may be shorter: K = 172 in groups of 32 leaves 12).
    With `activation-bits=8` the layers quantize their input to int8, each
    row on its own scale, or with `static-activations` all rows on one
    scale per layer from calibration (the tap's max |x| / 127; through a
    multiply by a constant vector, such as a split layer's mask, the
    channels' ranges scale with it).

    The grid follows GPTQ's convention, so that the passes agree:
    symmetric, s = 2 max|w| / (2^bits - 1) and levels in [-2^(bits-1),
    2^(bits-1) - 1] (no zero points); asymmetric, the range [min(w, 0),
    max(w, 0)] split into 2^bits - 1 steps with the zero point on a level. A
    group of zeros gets the scale 1.

    ```mlir
    %w = onnx.Constant dense_resource<w> : tensor<172x64xf32>
    %y = onnx.MatMul %x, %w : (tensor<?x172xf32>, tensor<172x64xf32>) -> tensor<?x64xf32>
    // becomes, with bits=4 group-size=32
    %q = onnx.Constant dense_resource<w.q4> : tensor<64x172xi8>
    %s = onnx.Constant dense_resource<w.scales> : tensor<64x6xf32>
    %y = lowbit.quantized_matmul %x, %q, %s {bits = 4 : i64, group_size = 32 : i64} : ...
    ```
  }];
  let dependentDialects = ["::lowbit::LowbitDialect", "::lowbit::onnx::OnnxDialect"];
  let options = [
    Option<"bits", "bits", "int64_t", /*default=*/"4", "Bits per weight: 2, 3, 4 or 8">,
    Option<"groupSize", "group-size", "int64_t", /*default=*/"128",
           "Inputs per scale along K; 0 for one scale per output channel">,
    Option<"symmetric", "symmetric", "bool", /*default=*/"true",
           "Symmetric grid (no zero points) or asymmetric (a zero point per group)">,
    Option<"activationBits", "activation-bits", "int64_t", /*default=*/"0",
           "8: the layers quantize their input to int8 per row (activation_bits = 8), "
           "so that kernels multiply integers; 0: fp32 activations">,
    Option<"staticActivations", "static-activations", "bool", /*default=*/"false",
           "With activation-bits=8: one scale per layer for every row, max|x| / 127 from "
           "the calibration tap's abs_max (static, per tensor), instead of each row's own">,
    ListOption<"layers", "layers", "std::string",
               "Only these layers: those whose ONNX node name or weight name contains one of "
               "these strings (default: every linear layer)">,
    ListOption<"exclude", "exclude", "std::string",
               "Layers left in floating point: those whose ONNX node name or weight "
               "name contains one of these strings (e.g. lm_head)">,
  ];
  let statistics = [
    Statistic<"numQuantized", "quantized-layers", "Number of linear layers quantized">,
  ];
}

def GPTQPass : Pass<"lowbit-gptq", "::mlir::func::FuncOp"> {
  let summary = "GPTQ weight quantization of linear layers from calibration Hessians";
  let description = [{
    Quantizes every linear layer (as `lowbit-rtn` defines and names them)
    with GPTQ (Frantar et al. 2022): the input channels are rounded one at a
    time, and each rounding error is spread over the channels not yet
    rounded in proportion to the inverse Hessian of the layer's input, so
    that the layer's output, not its weight, stays close. The Hessian is the
    `hessian` (sum of x^T x) of the `lowbit.calibration_tap` on the layer's
    input, which calibration fills in (`lowbitc --calib=FILE`); a layer
    without one is an error.

    As in the reference implementation: inputs never seen (zero diagonal)
    get zero weights; the Hessian is damped by `damp-percent` of its mean
    diagonal; the upper Cholesky factor of its inverse drives the updates
    (Eigen's LLT, in double precision); updates beyond the current block of
    `block-size` channels are applied once per block (lazy batch updates).
    A group's grid (same grid as `lowbit-rtn`) is fitted when its first
    channel is reached, from the weights as updated so far, or with
    `static-groups` from the original weights up front; with `clip` the
    grid spans the group's range shrunk by the factor (1 down to 0.21) that
    rounds the group's weights with the least error in the 2.4-norm, as the
    reference quantizer's `mse` option does. `act-order` rounds
    channels in order of decreasing Hessian diagonal; with groups that needs
    `static-groups`, since quantized_matmul's groups are contiguous inputs.

    ```mlir
    %t = lowbit.calibration_tap %x {name = "fc", hessian = dense<...> : tensor<64x64xf32>, ...}
    %y = onnx.MatMul %t, %w : (tensor<?x64xf32>, tensor<64x32xf32>) -> tensor<?x32xf32>
    // becomes, with bits=4 group-size=32
    %y = lowbit.quantized_matmul %t, %q, %s {bits = 4 : i64, group_size = 32 : i64} : ...
    ```
  }];
  let dependentDialects = ["::lowbit::LowbitDialect", "::lowbit::onnx::OnnxDialect"];
  let options = [
    Option<"bits", "bits", "int64_t", /*default=*/"4", "Bits per weight: 2, 3, 4 or 8">,
    Option<"groupSize", "group-size", "int64_t", /*default=*/"128",
           "Inputs per scale along K; 0 for one scale per output channel">,
    Option<"symmetric", "symmetric", "bool", /*default=*/"true",
           "Symmetric grid (no zero points) or asymmetric (a zero point per group)">,
    Option<"activationBits", "activation-bits", "int64_t", /*default=*/"0",
           "8: the layers quantize their input to int8 per row (activation_bits = 8), "
           "so that kernels multiply integers; 0: fp32 activations">,
    Option<"actOrder", "act-order", "bool", /*default=*/"false",
           "Round input channels in order of decreasing Hessian diagonal">,
    Option<"staticGroups", "static-groups", "bool", /*default=*/"false",
           "Fit every group's grid from the original weights before any update">,
    Option<"clip", "clip", "bool", /*default=*/"false",
           "Fit each group's grid to its range shrunk by the factor in 1, 0.99, ..., 0.21 "
           "whose rounding error sum |w - w^|^2.4 is least (the reference quantizer's mse "
           "search), instead of to the full range">,
    Option<"dampPercent", "damp-percent", "double", /*default=*/"0.01",
           "Damping added to the Hessian's diagonal, as a fraction of its mean">,
    Option<"blockSize", "block-size", "int64_t", /*default=*/"128",
           "Input channels per lazy batch update">,
    ListOption<"layers", "layers", "std::string",
               "Only these layers: those whose ONNX node name or weight name contains one of "
               "these strings (default: every linear layer)">,
    ListOption<"exclude", "exclude", "std::string",
               "Layers left as they are: those whose ONNX node name or weight name "
               "contains one of these strings">,
  ];
  let statistics = [
    Statistic<"numQuantized", "quantized-layers", "Number of linear layers quantized">,
  ];
}

def AWQPass : Pass<"lowbit-awq", "::mlir::func::FuncOp"> {
  let summary = "Activation-aware scaling (and clipping) of linear layers before rounding";
  let description = [{
    AWQ (Lin et al. 2023): weights that meet large activations matter more,
    so each input channel j of a layer is scaled up by s_j before rounding
    and its activation down by the same factor, x W = (x / s)(s W). The
    layers whose calibration taps read the same activation (q, k and v after
    a norm; gate and up) share one s. For each α of a grid {0, 1/grid, ...,
    (grid-1)/grid}, s = mean|x|^α (normalized so that sqrt(max s * min s) =
    1) is tried: the weights are scaled, rounded to nearest (`lowbit-rtn`'s
    grid), scaled back, and the output error tr(ΔWᵀ H ΔW) through the tap's
    Hessian H is summed over the layers; the least error wins (α = 0 is
    plain rounding, so the search never does worse by that measure). With
    `duo-scaling`, s = mean|x|^α / mean|ŵ|^(1-α) is tried as well, ŵ each
    weight relative to the largest |w| of its group, averaged over output
    channels (AutoAWQ's default).

    1/s is folded into what produces the activation where every reader of
    it is one of these layers: the scale (and bias) of an RMSNormalization
    or LayerNormalization, the output columns of a MatMul by a constant
    (possibly through an added bias, or as one factor of an elementwise
    product, as up_proj in `silu(gate) * up` before down_proj). Otherwise an
    `onnx.Mul` by 1/s is put before the layers. The taps' statistics are
    rescaled to describe x / s, so later passes see the scaled layer.

    With `clip`, each group of each output channel is then clipped to the
    fraction of its range, from 1 down to 0.55 in steps of 0.05, whose
    rounding error through the group's block of the Hessian is least; with
    an asymmetric grid the lower and upper ends shrink independently.

    With `quantize` (the default) the layers are then rounded to nearest;
    with `quantize=false` they stay in floating point, scaled and clipped,
    for a later pass: `lowbitc --quantize=awq,... --quantize=gptq,...` does
    that. Each layer's tap needs `mean_abs` and `hessian` (`lowbitc
    --calib=FILE`).
  }];
  let dependentDialects = ["::lowbit::LowbitDialect", "::lowbit::onnx::OnnxDialect"];
  let options = [
    Option<"bits", "bits", "int64_t", /*default=*/"4", "Bits per weight: 2, 3, 4 or 8">,
    Option<"groupSize", "group-size", "int64_t", /*default=*/"128",
           "Inputs per scale along K; 0 for one scale per output channel">,
    Option<"symmetric", "symmetric", "bool", /*default=*/"true",
           "Symmetric grid (no zero points) or asymmetric (a zero point per group)">,
    Option<"activationBits", "activation-bits", "int64_t", /*default=*/"0",
           "8: the layers quantize their input to int8 per row (activation_bits = 8), "
           "so that kernels multiply integers; 0: fp32 activations">,
    Option<"grid", "grid", "int64_t", /*default=*/"20",
           "Points of the α grid in [0, 1)">,
    Option<"duoScaling", "duo-scaling", "bool", /*default=*/"true",
           "Also try s = mean|x|^α / mean|ŵ|^(1-α), ŵ the weights relative to their "
           "group's largest (AutoAWQ's duo scaling)">,
    Option<"clip", "clip", "bool", /*default=*/"true",
           "Search a clipping range per group after scaling">,
    Option<"quantize", "quantize", "bool", /*default=*/"true",
           "Round the scaled layers to nearest (false: leave them in floating point for a "
           "later pass)">,
    ListOption<"layers", "layers", "std::string",
               "Only these layers: those whose ONNX node name or weight name contains one of "
               "these strings (default: every linear layer)">,
    ListOption<"exclude", "exclude", "std::string",
               "Layers left as they are: those whose ONNX node name or weight name "
               "contains one of these strings">,
  ];
  let statistics = [
    Statistic<"numQuantized", "quantized-layers", "Number of linear layers quantized">,
    Statistic<"numFolded", "folded-scales",
              "Scale vectors folded into a norm or a preceding linear op">,
  ];
}

def SmoothQuantPass : Pass<"lowbit-smoothquant", "::mlir::func::FuncOp"> {
  let summary = "Move activation outliers into the weights before W8A8 quantization";
  let description = [{
    SmoothQuant (Xiao et al. 2022): int8 activations quantized per token
    lose the small channels of a row when a few channels are far larger (as
    in LLMs past a few billion parameters); weights quantize easily. For the
    layers whose calibration taps read one activation, each input channel j
    is divided by s_j = max|X_j|^α / max|W_j|^(1-α) (max|X_j| the tap's
    `abs_max`, max|W_j| over row j of every layer of the group) and the
    weights' rows multiplied by it: x W = (x / s)(s W), exact before
    quantization. 1/s is folded into the norm (or preceding linear) that
    produces x where every reader of x is one of these layers, else applied
    by an `onnx.Mul` (as `lowbit-awq` does); the taps' statistics are
    rescaled. The layers stay in floating point: a quantization step follows
    (`lowbitc --quantize=smoothquant,alpha=0.5 --quantize=w8a8`).

    With `search-alpha`, α is chosen per group from {0.05, ..., 0.95} by an
    estimate of the W8A8 output error: the int8 per-channel rounding error of
    s W through the tap's Hessian, plus per-token int8 activation noise of
    step max_j(max|X_j| / s_j) / 127 on every channel.

    ```mlir
    %n = onnx.RMSNormalization %x, %g              // g: tensor<64xf32>
    %t = lowbit.calibration_tap %n {abs_max = dense<[...]> : tensor<64xf32>, ...}
    %y = onnx.MatMul %t, %w
    // becomes
    %n = onnx.RMSNormalization %x, %g_over_s       // dense_resource<...smooth>
    %t = lowbit.calibration_tap %n {abs_max = dense<[... / s]> ...}
    %y = onnx.MatMul %t, %s_times_w
    ```
  }];
  let dependentDialects = ["::lowbit::LowbitDialect", "::lowbit::onnx::OnnxDialect"];
  let options = [
    Option<"alpha", "alpha", "double", /*default=*/"0.5",
           "Migration strength: 0 leaves the activations, 1 moves their whole range into "
           "the weights">,
    Option<"searchAlpha", "search-alpha", "bool", /*default=*/"false",
           "Choose alpha per group of layers by the estimated W8A8 error (needs the taps' "
           "Hessians)">,
    ListOption<"layers", "layers", "std::string",
               "Only these layers: those whose ONNX node name or weight name contains one of "
               "these strings (default: every linear layer)">,
    ListOption<"exclude", "exclude", "std::string",
               "Layers left as they are: those whose ONNX node name or weight name "
               "contains one of these strings">,
  ];
  let statistics = [
    Statistic<"numSmoothed", "smoothed-layers", "Number of linear layers rescaled">,
    Statistic<"numFolded", "folded-scales",
              "Scale vectors folded into a norm or a preceding linear op">,
  ];
}

def SplitOutliersPass : Pass<"lowbit-split-outliers", "::mlir::func::FuncOp"> {
  let summary = "Take activation outlier channels out of a layer's int8 path";
  let description = [{
    LLM.int8() (Dettmers et al. 2022): the input channels whose calibration
    max |x| (the tap's `abs_max`) exceeds `threshold` are multiplied in
    floating point, the rest by the quantized layer:

      x W = (x * normal) W' + x[..., O] W[O, :]

    `normal` is 1 except at the outlier channels O, W' is W with the rows of
    O zeroed (they would otherwise widen its grid) and stays a linear layer
    for the next step (`lowbitc --quantize=split-outliers,threshold=6
    --quantize=w8a8`), while the product over O, a gather of those channels
    times a small constant, is marked `lowbit.keep_float` and left out of
    every quantization pass. Per-token int8 quantization of `x * normal`
    then no longer spends its range on the outliers. Layers without outlier
    channels are left as they are.

    Once W' is quantized, `lowbit-fuse-outlier-split` folds the two
    products and their sum into one `lowbit.quantized_matmul` with
    `outliers`, which lowers to one kernel call.
  }];
  let dependentDialects = ["::lowbit::LowbitDialect", "::lowbit::onnx::OnnxDialect"];
  let options = [
    Option<"threshold", "threshold", "double", /*default=*/"6.0",
           "An input channel whose calibration max |x| exceeds this is an outlier">,
    ListOption<"layers", "layers", "std::string",
               "Only these layers: those whose ONNX node name or weight name contains one of "
               "these strings (default: every linear layer)">,
    ListOption<"exclude", "exclude", "std::string",
               "Layers left as they are: those whose ONNX node name or weight name "
               "contains one of these strings">,
  ];
  let statistics = [
    Statistic<"numSplit", "split-layers", "Number of linear layers split">,
    Statistic<"numOutlierChannels", "outlier-channels",
              "Input channels moved to the floating-point path, over all layers">,
  ];
}

def ConvertMatMulNBitsPass
    : Pass<"lowbit-convert-matmul-nbits", "::mlir::func::FuncOp"> {
  let summary = "ONNX Runtime's MatMulNBits (pre-quantized weights) as lowbit.quantized_matmul";
  let description = [{
    A model quantized by ONNX Runtime's tools (`MatMulNBitsQuantizer`, or
    exported so by onnxruntime-genai, Olive and others) multiplies by
    `com.microsoft.MatMulNBits` nodes: weights of 2, 4 or 8 bits in blocks
    along K, packed several to a byte, with a scale and optionally a zero
    point per block. This pass unpacks each node's constant weight into
    `lowbit.quantized_matmul`'s levels (the unsigned level less
    2^(bits-1), the zero point likewise, so that `(level - zero) * scale` is
    the same number), with `group_size` = `block_size`, and adds the bias
    if there is one. Zero points that are all the default become the
    symmetric form. The lowbitc pipeline runs it before lowering, so a
    pre-quantized model runs on lowbit's fused kernels as it was quantized.

    `accuracy_level` = 4 is ONNX Runtime's int8 compute (its CPU kernel
    quantizes `A` to int8 and multiplies integers): by default
    (`activations=as-model`) such a node becomes a product with
    `activation_bits = 8`, whose row-wise int8 input runs lowbit's int8
    kernels, and every other level (0 unset, 1-3 f32/f16/bf16, all f32 on a
    CPU) keeps f32 activations. `activations=f32` or `activations=int8`
    overrides the model for every node. ONNX Runtime scales each block of
    `block_size` inputs of a row on its own, lowbit the whole row on one
    scale, so the int8 results agree with ONNX Runtime's to within the two
    roundings, not bit for bit.

    Refused, with the node named: non-f32 `A` or scales, non-constant
    weights or scales, float zero points, and an act-order `g_idx` that is
    not the plain block order.

    ```mlir
    %y = onnx.MatMulNBits %a, %b, %s zero_points %z {K = 64 : i64, N = 8 : i64, bits = 4 : i64, block_size = 32 : i64}
       : (tensor<?x64xf32>, tensor<8x2x16xui8>, tensor<16xf32>, tensor<8xui8>) -> tensor<?x8xf32>
    // becomes
    %y = lowbit.quantized_matmul %a, %q, %s2 zero_points %z2 {bits = 4 : i64, group_size = 32 : i64}
       : (tensor<?x64xf32>, tensor<8x64xi8>, tensor<8x2xf32>, tensor<8x2xi8>) -> tensor<?x8xf32>
    ```
  }];
  let options = [
    Option<"activations", "activations", "std::string", /*default=*/"\"as-model\"",
           "The products' activations: as-model (int8 where accuracy_level = 4, "
           "f32 otherwise), f32 (every node) or int8 (every node, quantized per row)">,
  ];
  let statistics = [
    Statistic<"numConverted", "converted", "MatMulNBits nodes converted">,
    Statistic<"numInt8", "int8-activations", "Converted nodes given int8 activations">,
  ];
  let dependentDialects = ["::lowbit::LowbitDialect", "::lowbit::onnx::OnnxDialect"];
}

def FoldQDQWeightsPass : Pass<"lowbit-fold-qdq-weights", "::mlir::func::FuncOp"> {
  let summary = "MatMuls by dequantized 8- or 4-bit constants (QDQ weights) as lowbit.quantized_matmul";
  let description = [{
    A model in ONNX's QDQ form stores a quantized weight as an integer
    constant and multiplies by `DequantizeLinear(weight, scale,
    zero_point)`: `int8`/`uint8` from `quantize_static` and other tools,
    `int4`/`uint4` in blocks from ONNX Runtime's MatMulNBitsQuantizer with
    `quant_format=QDQ`. Lowered as written, that runs an fp32 product by the
    dequantized weight. This pass turns each `onnx.MatMul` whose B is such
    a `DequantizeLinear` of a constant 2-D weight `[K, N]` into
    `lowbit.quantized_matmul` of the weight's bit width over the same
    levels: a scale per tensor or per column of W (`axis` 1) becomes one
    group of K per output channel, a scale per block of rows (`axis` 0 with
    `block_size`) groups of `block_size`; unsigned levels and zero points
    less 2^(bits-1) become lowbit's signed ones; all-zero zero points the
    symmetric form. `(level - zero) * scale` is the same number, so the
    product is the one the model defines, on the low-bit kernels.

    Left as they are: a scale per row of W (`axis` 0 without blocks: no
    group-wise form), non-constant operands, other element types, and
    MatMuls whose A is not f32 (an activation that is itself quantized
    stays a QDQ pair before it; the product still folds). The lowbitc
    pipeline runs it before lowering.

    ```mlir
    %w = onnx.DequantizeLinear %q, %s zero_point %z : (tensor<64x8xi8>, tensor<8xf32>, tensor<8xi8>) -> tensor<64x8xf32>
    %y = onnx.MatMul %x, %w : (tensor<?x64xf32>, tensor<64x8xf32>) -> tensor<?x8xf32>
    // becomes
    %y = lowbit.quantized_matmul %x, %levels, %scales zero_points %zeros {bits = 8 : i64, group_size = 64 : i64}
       : (tensor<?x64xf32>, tensor<8x64xi8>, tensor<8x1xf32>, tensor<8x1xi8>) -> tensor<?x8xf32>
    ```
  }];
  let statistics = [Statistic<"numFolded", "folded", "MatMuls by QDQ weights folded">];
  let dependentDialects = ["::lowbit::LowbitDialect", "::lowbit::onnx::OnnxDialect"];
}

def FuseOutlierSplitPass : Pass<"lowbit-fuse-outlier-split", "::mlir::func::FuncOp"> {
  let summary = "Fold a split layer's int8 and floating-point halves into one quantized_matmul";
  let description = [{
    `lowbit-split-outliers` writes a layer as two products summed: the
    quantized layer on the input with the outlier channels zeroed (a
    multiply by a constant mask) and a floating-point product of the
    gathered outlier channels (`lowbit.keep_float`). Once the first is a
    `lowbit.quantized_matmul`, this pass folds the three into one op with
    `outliers(channels, weights)`, which the CPU lowering turns into one
    kernel call (the int8 tiles, then the outlier columns added to the same
    output). The folding needs the mask to be 0 on exactly the
    gathered channels and 1 elsewhere; anything else is left as it is. The
    lowbitc pipeline runs it before lowering.

    ```mlir
    %xn = onnx.Mul %x, %mask                  // mask: 0 on channels %idx
    %yi = lowbit.quantized_matmul %xn, %q, %s {activation_bits = 8 : i64, ...}
    %xo = onnx.Gather %x, %idx {axis = 1 : i64}
    %yo = onnx.MatMul %xo, %wo {lowbit.keep_float}
    %y = onnx.Add %yi, %yo
    // becomes
    %y = lowbit.quantized_matmul %x, %q, %s outliers(%idx, %wo) {activation_bits = 8 : i64, ...}
    ```
  }];
  let dependentDialects = ["::lowbit::LowbitDialect", "::lowbit::onnx::OnnxDialect"];
}

def FoldDequantizeIntoMatmulPass
    : Pass<"lowbit-fold-dequantize-into-matmul", "::mlir::func::FuncOp"> {
  let summary = "MatMuls read integer levels: a per-row dequantize's scales taken out of the sum";
  let description = [{
    A quantized KV cache reaches attention as `lowbit.dequantize(levels,
    scales)` with one scale per token, then layout ops (the exporter's GQA
    `Unsqueeze`/`Expand`/`Reshape`, the keys' `Transpose`) and a MatMul
    (QK^T or PV). Lowered as written, every step writes the whole cache
    dequantized to f32, and the layout ops copy it again. This pass moves
    the dequantize down to the MatMul, applying each layout op to the int8
    levels and to the scales instead, and folds it there:

    - scales constant along B's rows (the keys' one scale per column of K^T):
      `MatMul(A, deq(q, s)) = mixed_matmul(A, q) * s`;
    - scales constant along B's columns (the values' one scale per row of
      V): `MatMul(A, deq(q, s)) = mixed_matmul(A * s^T, q)`.

    `lowbit.mixed_matmul` reads the levels as they are (the CPU kernel
    converts them as it packs B), and the scale multiply joins the
    elementwise chain around it (the attention scale and mask, or the
    softmax). Shape reads of the dequantized cache read the levels.

    A cache with a window of f32 tokens reaches attention as
    `Concat(dequantize(levels, scales), window)` along the tokens: the
    Unsqueeze and Transpose that read it apply to each part, its Shape reads
    add the parts' lengths, and the MatMul splits into one product per part
    (side by side for K^T, whose columns are the tokens; for V, whose rows
    are, summed over the matching columns of A, cut where the levels end),
    the levels' product then folding as above.

    Levels unpacked from nibbles (an int4 cache) move as their bytes, the
    `lowbit.unpack_nibbles` following each Transpose and Unsqueeze along
    the moved axis; the product then reads the bytes (convert-lowbit-to-
    linalg fuses an unpacking along B's rows or columns into it).

    KIVI keys (scales per channel and group of G tokens) are per row only
    in the grouped form `[.., groups, G, d]`, which a Reshape merges into
    tokens; that Reshape moves below the Unsqueeze and Transpose that read
    it (when its shape proves the merge: `Concat(Shape(x)[:a], [-1, ..])`
    of its own input x), and at K^T's MatMul the product runs per group:
    `Q` unsqueezed before its rows, times each group's `[d, G]` slice,
    batched over the groups, whose columns then merge back. Each group's
    dequantize is then per row of its B (a scale per channel) and folds as
    above: `(Q * s_g) L_g^T`.

    Only per-row dequantizes move: no zero points, scales of the levels'
    shape with 1 on one axis (a dynamic dimension is taken to match the
    levels', as lowbit.dynamic_quantize's scales do). A Reshape must keep
    that axis last and its size; an Expand must keep its size. Anything
    else keeps its dequantize where it is. The lowbitc pipeline runs it
    before lowering, after lowbit-fold-repeat-kv has removed GQA's Expand
    and Reshape.

    ```mlir
    %k = lowbit.dequantize %q, %s : (tensor<?x4x?x8xi8>, tensor<?x4x?x1xf32>) -> tensor<?x4x?x8xf32>
    %kt = onnx.Transpose %k {perm = array<i64: 0, 1, 3, 2>} : ...
    %scores = onnx.MatMul %query, %kt : ...
    // becomes
    %qt = onnx.Transpose %q {perm = array<i64: 0, 1, 3, 2>} : (...xi8) -> tensor<?x4x8x?xi8>
    %st = onnx.Transpose %s {perm = array<i64: 0, 1, 3, 2>} : (...xf32) -> tensor<?x4x1x?xf32>
    %p = lowbit.mixed_matmul %query, %qt : (tensor<?x4x?x8xf32>, tensor<?x4x8x?xi8>) -> tensor<?x4x?x?xf32>
    %scores = onnx.Mul %p, %st : ...
    ```
  }];
  let dependentDialects = ["::lowbit::LowbitDialect", "::lowbit::onnx::OnnxDialect"];
}

def QuantizeKVCachePass : Pass<"lowbit-quantize-kv-cache", "::mlir::func::FuncOp"> {
  let summary = "Store the KV cache as integer levels with a scale per token and head";
  let description = [{
    Each KV-cache input `past.*` (an f32 `[batch, heads, past_seq, head_dim]`
    concatenated with the new keys or values along the sequence axis and
    returned as `present.*`, as exporters write it) becomes integer storage:

    - input `past.X` is now `i8` levels, and a new input `past.X.scales`
      `[batch, heads, past_seq, 1]` (f32) follows it;
    - the new entries are quantized per token and head
      (`lowbit.dynamic_quantize`: symmetric, scale max|x| / (2^(bits-1) - 1))
      and appended to both;
    - outputs `present.X` (levels) and `present.X.scales` replace the f32
      present; the attention reads `lowbit.dequantize` of them.

    Names keep the pattern present.X -> past.X, so a caller that feeds the
    presents back as the next step's pasts by name (lowbit-run --generate,
    --perplexity --chunk, the Python runtime) runs the quantized cache
    without knowing its layout. With `bits = 4` the levels are in [-7, 7]
    and stored two per byte along head_dim (`lowbit.pack_nibbles`: level 2j
    in the low nibble of byte j, each as level + 8; head_dim static and
    even, else one byte each): `past.X` and `present.X` are `[batch, heads,
    seq, head_dim / 2]`, new levels are packed before they are appended, the
    attention reads them through `lowbit.unpack_nibbles` (which
    lowbit-fold-dequantize-into-matmul moves next to the products, so that
    they read the bytes), and Shape reads of the cache see head_dim again.

    With `window = W`, the W most recent tokens stay in f32: a third input
    `past.X.window` `[batch, heads, <= W, head_dim]` and output
    `present.X.window`. Each step concatenates the window with the new
    entries; what exceeds W tokens (the oldest) is quantized and appended to
    the levels, the rest is the next window, and the attention reads the
    dequantized levels followed by the window. Shape reads of the cache (the
    exporter's past length) count both.

    With `key-scales=channel` (and `window = G`), the keys (caches whose name
    ends in `.key`) are quantized as KIVI does: per channel, in groups of G
    tokens. The window fills up to G - 1 tokens; each time whole groups are
    complete they move to the levels, and `past.X.scales` is `[batch, heads,
    groups, head_dim]`, one scale per channel of each group. Values stay per
    token. lowbit-fold-dequantize-into-matmul takes the dequantizations
    (per token or per channel, with or without a window) into the
    attention's products.

    ```mlir
    %present = onnx.Concat %past, %k {axis = 2 : i64}       // %past: tensor<?x4x?x8xf32>
    // becomes, %past: tensor<?x4x?x8xi8>, %past_scales: tensor<?x4x?x1xf32>
    %q, %s = lowbit.dynamic_quantize %k {bits = 8 : i64}
    %levels = onnx.Concat %past, %q {axis = 2 : i64}
    %scales = onnx.Concat %past_scales, %s {axis = 2 : i64}
    %present = lowbit.dequantize %levels, %scales           // read by the attention
    ```
  }];
  let dependentDialects = ["::lowbit::LowbitDialect", "::lowbit::onnx::OnnxDialect"];
  let options = [
    Option<"bits", "bits", "int64_t", /*default=*/"8", "Bits per cached value: 8 or 4">,
    Option<"window", "window", "int64_t", /*default=*/"0",
           "The most recent tokens kept in f32 (0: none): input and output past.X.window / "
           "present.X.window; older tokens move to integer storage as new ones arrive">,
    Option<"keyScales", "key-scales", "std::string", /*default=*/"\"token\"",
           "Scales of the keys (caches named *.key): token (one per token and head) or "
           "channel (one per channel of each group of `window` tokens, KIVI's layout; the "
           "window then holds the newest tokens of an unfinished group)">,
  ];
  let statistics = [
    Statistic<"numCaches", "quantized-caches", "Number of past/present pairs quantized">,
  ];
}

def InstrumentCalibrationPass : Pass<"lowbit-instrument-calibration", "::mlir::func::FuncOp"> {
  let summary = "Put a calibration tap on the input of every linear layer";
  let description = [{
    The first step of calibration: each linear layer (an `onnx.MatMul` by a
    constant 2-D weight, as the quantization passes define it) that is not
    excluded reads its input through a `lowbit.calibration_tap` named after
    the layer (its ONNX node name, else its weight's), so that running the
    model can gather the input's per-channel statistics into the tap.
    Layers that share an input get one tap each. A layer whose input is
    already tapped is left as it is, so the pass can run twice.

    ```mlir
    %y = onnx.MatMul %x, %w loc("layers.0.attn.q_proj")
    // becomes
    %t = lowbit.calibration_tap %x {name = "layers.0.attn.q_proj"}
    %y = onnx.MatMul %t, %w
    ```

    convert-lowbit-to-linalg lowers each tap to a call that folds the rows
    into the runtime's per-tap statistics (`lowbitc --instrument-calibration`
    builds such a model; `lowbit_calibration_stats` reads them). `lowbitc
    --calib=FILE` runs this pass, runs the data through a compiled copy and
    writes the statistics back into the taps.
  }];
  let dependentDialects = ["::lowbit::LowbitDialect", "::lowbit::onnx::OnnxDialect"];
  let options = [
    ListOption<"exclude", "exclude", "std::string",
               "Layers not tapped: those whose ONNX node name or weight name contains one of "
               "these strings">,
  ];
  let statistics = [
    Statistic<"numTaps", "taps", "Number of calibration taps inserted">,
  ];
}

#endif // LOWBIT_DIALECT_LOWBIT_TRANSFORMS_PASSES_TD
