//===- Passes.td - Quantization passes ---------------------*- tablegen -*-===//

#ifndef LOWBIT_DIALECT_LOWBIT_TRANSFORMS_PASSES_TD
#define LOWBIT_DIALECT_LOWBIT_TRANSFORMS_PASSES_TD

include "mlir/Pass/PassBase.td"

def RTNPass : Pass<"lowbit-rtn", "::mlir::func::FuncOp"> {
  let summary = "Round-to-nearest weight quantization of linear layers";
  let description = [{
    Every linear layer — an `onnx.MatMul` whose second operand is a 2-D f32
    constant `[K, N]` — not excluded becomes a `lowbit.quantized_matmul`
    whose weight is rounded to the nearest level of a `bits`-bit grid fitted
    to each group of `group-size` inputs of each output channel (the last
    group of a channel may be shorter: K = 172 in groups of 32 leaves 12).

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
    ListOption<"exclude", "exclude", "std::string",
               "Layers left in floating point: those whose ONNX node name or weight "
               "name contains one of these strings (e.g. lm_head)">,
  ];
  let statistics = [
    Statistic<"numQuantized", "quantized-layers", "Number of linear layers quantized">,
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
    builds such a model; `lowbit_calibration_stats` reads them). Not built
    yet: the driver's calibration run that writes them back into the taps.
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
