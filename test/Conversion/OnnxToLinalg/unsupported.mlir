// RUN: lowbit-opt %s -split-input-file -verify-diagnostics -pass-pipeline='builtin.module(func.func(convert-onnx-to-linalg))' -o /dev/null

// E8M0 is a type of scales, not of quantized levels: QuantizeLinear to it
// is named, not guessed at.
func.func @quantize_to_e8m0(%x: tensor<4xf32>, %s: tensor<f32>) -> tensor<4xf8E8M0FNU> {
  // expected-error @+1 {{cannot lower onnx.QuantizeLinear to linalg}}
  %y = onnx.QuantizeLinear %x, %s {output_dtype = f8E8M0FNU} : (tensor<4xf32>, tensor<f32>) -> tensor<4xf8E8M0FNU>
  return %y : tensor<4xf8E8M0FNU>
}

// -----

// A result of unknown rank cannot be lowered: lowbit-infer-shapes first.
func.func @unranked(%x: tensor<*xf32>) -> tensor<*xf32> {
  // expected-error @+1 {{cannot lower onnx.Relu to linalg}}
  %y = onnx.Relu %x : (tensor<*xf32>) -> tensor<*xf32>
  return %y : tensor<*xf32>
}

// -----

// Reduction axes given at run time over a dynamic input: the candidate
// axis sets cannot be enumerated from the shapes.
func.func @runtime_axes_dynamic(%x: tensor<?x2xf32>, %axes: tensor<1xi64>) -> tensor<?xf32> {
  // expected-error @+1 {{cannot lower onnx.ReduceSum to linalg}}
  %0 = onnx.ReduceSum %x axes %axes {keepdims = 0 : i64} : (tensor<?x2xf32>, tensor<1xi64>) -> tensor<?xf32>
  return %0 : tensor<?xf32>
}
