//===- LowbitDialect.td - The lowbit (quantization) dialect -*- tablegen -*-===//
//
// What the quantization passes produce: quantized linear layers, activation
// quantization, and calibration taps.
//
//===----------------------------------------------------------------------===//

#ifndef LOWBIT_DIALECT_LOWBIT_IR_LOWBITDIALECT_TD
#define LOWBIT_DIALECT_LOWBIT_IR_LOWBITDIALECT_TD

include "mlir/IR/OpBase.td"

def Lowbit_Dialect : Dialect {
  let name = "lowbit";
  let cppNamespace = "::lowbit";
  let summary = "Quantized linear layers, activation quantization and calibration taps";
  let description = [{
    The `lowbit` dialect holds what lowbit's quantization passes write into
    an `onnx` graph: linear layers whose weights are stored as low-bit
    integer levels with group-wise scales (`lowbit.quantized_matmul`),
    activation quantization (`lowbit.dynamic_quantize`, `lowbit.dequantize`)
    and the calibration taps through which the driver gathers activation
    statistics (`lowbit.calibration_tap`). Targets lower these ops to their
    fused micro-kernels.

    **Integer levels.** Quantized values are stored as signed levels in
    `i8` whatever the bit width b (2, 3, 4 or 8): q in [-2^(b-1), 2^(b-1) - 1],
    dequantized as (q - z) * s. Symmetric quantization has z = 0 (the zero
    points are omitted); asymmetric schemes written with unsigned levels
    u in [0, 2^b - 1] and zero point z_u (GPTQ, AWQ) are the same numbers
    shifted by 2^(b-1). Packing into b-bit fields is a property of a
    kernel's layout, done when lowering to that kernel, not of the IR.

    **Why not `!quant.uniform`.** Upstream quantized types carry their scales
    in the type; for a layer of 11008 channels in groups of 32 that is a
    type of hundreds of thousands of numbers, rewritten whenever a pass
    touches a scale. Here scales are ordinary tensor operands (usually
    constants, in a resource).
  }];
}

class Lowbit_Op<string mnemonic, list<Trait> traits = []> :
    Op<Lowbit_Dialect, mnemonic, traits>;

#endif // LOWBIT_DIALECT_LOWBIT_IR_LOWBITDIALECT_TD
