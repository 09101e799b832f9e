//===- Passes.td - lowbit's conversion passes --------------*- tablegen -*-===//

#ifndef LOWBIT_CONVERSION_PASSES_TD
#define LOWBIT_CONVERSION_PASSES_TD

include "mlir/Pass/PassBase.td"

def ConvertOnnxToLinalgPass : Pass<"convert-onnx-to-linalg", "::mlir::func::FuncOp"> {
  let summary = "Lower onnx dialect ops to linalg, tensor, arith and math on tensors";
  let description = [{
    Rewrites every onnx op into target-independent tensor code: elementwise
    ops (with ONNX broadcasting) and reductions into `linalg.generic`,
    MatMul/Gemm into `linalg.generic` contractions, data movement into
    `tensor` ops (`reshape`, `extract_slice`, `concat`) and `linalg.transpose`,
    constants into `arith.constant` (dense_resource weights stay resources).
    Dynamic dimensions are kept: sizes come from `tensor.dim` and, for shape
    operands (Reshape, Expand, Slice, ConstantOfShape, Range), from the
    operand values at run time.

    Every result must be ranked (run `lowbit-infer-shapes` first). Broadcast
    semantics assume that a *dynamic* dimension is not 1 at run time where it
    meets a larger size (exporters' batch/sequence dimensions): a dimension
    that broadcasts must be statically 1. Ops or forms not lowered yet are
    reported as errors naming the op.

    Supported: Constant, Identity, Shape, Cast, the elementwise ops (Add, Sub,
    Mul, Div, Pow, Equal, Less, Greater, And, Not, Where, Max, Min, Abs, Neg,
    Sqrt, Reciprocal, Exp, Log, Erf, Tanh, Sigmoid, Relu, Gelu, Clip),
    ReduceMean/Sum/Max with constant axes (or axes given at run time with
    keepdims and static shapes: the dimensions the result makes 1), Softmax,
    LogSoftmax,
    RMSNormalization, LayerNormalization (Mean and InvStdDev in X's element
    type), MatMul (rank >= 2), Gemm,
    Transpose, Reshape, Flatten, Squeeze, Unsqueeze (axes given at run time
    when the result shape is static), Concat, Split, Tile (constant repeats,
    or repeats given at run time with static shapes), Slice
    (constant positive steps), Expand, ConstantOfShape, Range, Trilu, Gather.
    QuantizeLinear, DequantizeLinear, DynamicQuantizeLinear, MatMulInteger.
    Floating-point and integer element types (unsigned ones as signless bits
    inside the bodies); float8, float4 and 2-/4-bit integers, one element per
    byte, in data movement and through Cast, QuantizeLinear and
    DequantizeLinear, which convert them through f32 (round to nearest even,
    ONNX's saturate and round_mode).
  }];
  let dependentDialects = [
    "::mlir::arith::ArithDialect", "::mlir::bufferization::BufferizationDialect",
    "::mlir::func::FuncDialect", "::mlir::linalg::LinalgDialect", "::mlir::math::MathDialect",
    "::mlir::memref::MemRefDialect", "::mlir::tensor::TensorDialect"
  ];
}

def ConvertLowbitToLinalgPass : Pass<"convert-lowbit-to-linalg", "::mlir::ModuleOp"> {
  let summary = "Lower lowbit dialect ops to linalg on tensors";
  let description = [{
    `lowbit.quantized_matmul` becomes one `linalg.generic` contraction that
    dequantizes as it multiplies, marked `lowbit.quantized_contraction`:
    loops (batch..., k, m, n) as for fp32 contractions, the weight levels
    read at (n, k), the scales and zero points at (n, k floordiv group_size),
    and the body

    ```
    out + x * ((sitofp(q) - sitofp(z)) * s)
    ```

    With `activation_bits = 8`, the input first goes through a row-wise
    int8 quantize-and-restore (a max|x| reduction and an elementwise
    generic) and the contraction is also marked `lowbit.activation_bits = 8`:
    a kernel may then redo the (idempotent) quantization and multiply
    integers.

    This is the reference semantics, and what runs when the op's operands do
    not suit a micro-kernel; lowbit-lower-to-ukernels turns the marked op
    into a call of the fused kernel after bufferization. Inputs of rank >= 2;
    f32 (or f16/bf16, computed in that type) activations.

    Each `lowbit.calibration_tap` without statistics (an instrumented model:
    `lowbitc --instrument-calibration`) becomes a call

    ```mlir
    func.call @lowbit_calibration_record(%id, %address, %offset, %rows, %channels, %row_stride)
    ```

    on its input's buffer (`bufferization.to_buffer`, read only), the tap id
    being its position in the module; the runtime folds the rows into the
    tap's statistics (lib/Runtime/CPU/Calibration.c). A tap holding
    statistics is calibration already done and lowers to its input. f32
    inputs only.

    `lowbit.dynamic_quantize` and `lowbit.dequantize` are not lowered yet
    and are reported as errors, like anything left over.
  }];
  let dependentDialects = [
    "::mlir::arith::ArithDialect", "::mlir::bufferization::BufferizationDialect",
    "::mlir::func::FuncDialect", "::mlir::linalg::LinalgDialect", "::mlir::math::MathDialect",
    "::mlir::memref::MemRefDialect", "::mlir::tensor::TensorDialect"
  ];
}

#endif // LOWBIT_CONVERSION_PASSES_TD
