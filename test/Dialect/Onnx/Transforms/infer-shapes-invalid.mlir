// RUN: lowbit-opt %s -split-input-file -verify-diagnostics -pass-pipeline='builtin.module(func.func(lowbit-infer-shapes))' -o /dev/null

// The pass refines types; it never overwrites one that contradicts the
// inferred type. Such IR is rejected by the verifier before the pass runs.
func.func @contradiction(%x: tensor<2x3xf32>) -> tensor<2x4xf32> {
  // expected-error @+1 {{result #0 has type 'tensor<2x4xf32>', which contradicts the inferred type 'tensor<2x3xf32>'}}
  %y = onnx.Relu %x : (tensor<2x3xf32>) -> tensor<2x4xf32>
  return %y : tensor<2x4xf32>
}

// -----

// Operands that cannot broadcast fail inference: the op names the shapes.
func.func @not_broadcastable(%x: tensor<2x3xf32>, %y: tensor<2x4xf32>) -> tensor<*xf32> {
  // expected-error @+1 {{operands are not broadcast-compatible: [2, 3] vs [2, 4]}}
  %z = onnx.Mul %x, %y : (tensor<2x3xf32>, tensor<2x4xf32>) -> tensor<*xf32>
  return %z : tensor<*xf32>
}
