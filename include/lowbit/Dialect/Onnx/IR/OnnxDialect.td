//===- OnnxDialect.td - The onnx dialect -------------------*- tablegen -*-===//
//
// The import target of lowbit: one op per ONNX operator, with ONNX semantics.
//
//===----------------------------------------------------------------------===//

#ifndef LOWBIT_DIALECT_ONNX_IR_ONNXDIALECT_TD
#define LOWBIT_DIALECT_ONNX_IR_ONNXDIALECT_TD

include "mlir/IR/OpBase.td"

def Onnx_Dialect : Dialect {
  let name = "onnx";
  let cppNamespace = "::lowbit::onnx";
  let summary = "ONNX operators, one op per operator, as imported";
  let description = [{
    The `onnx` dialect is what `lowbitc` imports an ONNX model into. Each op
    mirrors one ONNX operator of the default domain and keeps its semantics
    (multidirectional broadcasting, negative axes, opset-dependent forms),
    so a graph can be printed, verified and rewritten before any lowering.

    One canonical form per operator: the importer rewrites older opset forms
    into the newest one (for example the `axes` attribute of `ReduceMean-13`
    becomes the `axes` operand of `ReduceMean-18`, and the `split` attribute of
    `Split-11` becomes the `split` operand of `Split-13`). The op names keep
    ONNX's spelling (`onnx.MatMul`), so an op is found by its ONNX name.

    Every op infers its result types from its operands and attributes,
    including the values of constant shape operands. The inferred types are
    the authority: a result may be more static than inferred (refined from
    the model's own shape information) but may never contradict it, and the
    verifier checks exactly that.

    Tensor element types: ONNX `float`, `double`, `float16` and `bfloat16`
    map to `f32`, `f64`, `f16`, `bf16`; the float8 and float4 types to
    MLIR's (`f8E4M3FN`, `f8E4M3FNUZ`, `f8E5M2`, `f8E5M2FNUZ`, `f8E8M0FNU`,
    `f4E2M1FN`); signed integers (2 to 64 bits) to signless `iN`; unsigned
    integers to `uiN`; `bool` to `i1`. Strings are not supported.
  }];
  let useDefaultAttributePrinterParser = 0;
  let useDefaultTypePrinterParser = 0;
  let hasConstantMaterializer = 1;
}

#endif // LOWBIT_DIALECT_ONNX_IR_ONNXDIALECT_TD
