// RUN: lowbit-opt %s -split-input-file -verify-diagnostics -pass-pipeline='builtin.module(func.func(convert-onnx-to-linalg))' -o /dev/null

// Casts to or from unsigned integers are not lowered yet (the body would
// need to know which side is unsigned): named, not miscompiled.
func.func @cast_unsigned(%x: tensor<4xf32>) -> tensor<4xui16> {
  // expected-error @+1 {{cannot lower onnx.Cast to linalg}}
  %y = onnx.Cast %x {to = ui16} : (tensor<4xf32>) -> tensor<4xui16>
  return %y : tensor<4xui16>
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
